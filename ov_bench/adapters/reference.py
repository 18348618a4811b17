"""The reference model (``reference_model.LlavaOneVision``) behind the adapter interface."""

from __future__ import annotations

from typing import Any

from .base import Generation, ModelAdapter, Prepared


class ReferenceAdapter(ModelAdapter):
    kind = "reference"
    max_batch_size = 1024  # no limit of its own (memory is the user's call)

    def __init__(self, spec: str, *, max_grid_tokens: int | None, dtype: str = "auto", device: str = "cpu",
                 unpad_rounding: str = "original", device_map: str | dict | None = None,
                 max_memory: str | dict | None = None, offload_folder: str | None = None) -> None:
        from reference_model import LlavaOneVision
        from reference_model.checkpoints import dtype_name

        self.model = LlavaOneVision.from_pretrained(
            spec, max_grid_tokens=max_grid_tokens, unpad_rounding=unpad_rounding, dtype=dtype, device=device,
            device_map=device_map, max_memory=max_memory, offload_folder=offload_folder,
        )
        if self.model.processor is None:
            raise ValueError(f"{spec}: the checkpoint has no tokenizer, so prompts cannot be built")
        self.model_id = model_id(spec)
        plan = getattr(self.model, "_ov_device_plan", None)
        # The dtype and device the model really got (``auto`` resolved; a split model's main device).
        self.dtype, self.unpad_rounding = dtype_name(self.model.dtype), unpad_rounding
        self.device = plan.main_device if plan is not None else str(self.model.device)
        self.devices = plan.devices if plan is not None else [self.device]
        self.device_map = dict(plan.device_map) if plan is not None else None

    @property
    def threshold(self) -> int | None:
        return self.model.config.anyres.max_grid_tokens

    def set_threshold(self, tau: int | None) -> None:
        self.model.set_max_grid_tokens(tau)

    def describe(self) -> dict[str, Any]:
        import dataclasses

        out = super().describe()
        out["config"] = dataclasses.asdict(self.model.config)
        if self.device_map is not None:
            out["device_map"] = {k: v for k, v in self.device_map.items()}
            out["devices"] = self.devices
        return out

    def prepare(self, question: str, images: list, video: Any | None) -> Prepared:
        from reference_model import count_prompt_visual_tokens

        processor = self.model.processor
        prompt = processor.build_prompt(question, num_images=len(images), video=video is not None)
        frames = video.frames if video is not None else None
        inputs = processor(text=prompt, images=images or None, videos=[frames] if frames is not None else None)
        inputs.pop("num_visual_tokens", None)
        n_frames = len(frames) if frames is not None else 0
        counted = count_prompt_visual_tokens(
            [im.size for im in images],
            [n_frames] if frames is not None else [],
            max_grid_tokens=self.threshold,
            unpad_rounding=self.unpad_rounding,
            pool_stride=self.model.config.video_pool_stride,
        )
        return Prepared(inputs, prompt, counted, num_images=len(images), num_frames=n_frames)

    def generate(self, prepared: Prepared, max_new_tokens: int, timer: Any) -> Generation:
        start = timer.mark()
        batch = self.model.to_device(prepared.inputs)
        result = self.model.generate(**batch, max_new_tokens=max_new_tokens, min_new_tokens=0,
                                     stage_timer=timer if timer.enabled else None)
        first = timer.first_stop("prefill")
        if start is not None and first is not None:
            timer.add_span("ttft", start, first)
        return Generation(
            text=result.text,
            new_tokens=int(result.sequences.shape[-1]),
            visual_positions=int(result.num_visual_positions),
            prompt_tokens=int(result.num_prompt_tokens),
        )


    def generate_batch(self, prepared: list[Prepared], max_new_tokens: int, timer: Any) -> list[Generation]:
        """One left-padded batch: the vision encoder runs once over every crop / frame of the batch."""
        start = timer.mark()
        batch = self.model.collate([p.inputs for p in prepared])
        results = self.model.generate_batch(batch, max_new_tokens=max_new_tokens, min_new_tokens=0,
                                            stage_timer=timer if timer.enabled else None)
        first = timer.first_stop("prefill")
        if start is not None and first is not None:
            timer.add_span("ttft", start, first)
        return [
            Generation(
                text=r.text,
                new_tokens=int(r.sequences.shape[-1]),
                visual_positions=int(r.num_visual_positions),
                prompt_tokens=int(r.num_prompt_tokens),
            )
            for r in results
        ]


def model_id(spec: str) -> str:
    """A stable id for the store: presets as written, directories as absolute paths."""
    from pathlib import Path

    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else spec
