"""The reference model (``reference_model.LlavaOneVision``) behind the adapter interface."""

from __future__ import annotations

from typing import Any

from ov_bench.model_spec import LAYOUT_SETTINGS, PACKING_SETTINGS, ModelSpec
from reference_model import image_grid_shape
from reference_model.anyres import count_for_config
from reference_model.config import grid_pinpoints_name

from .base import EncodeOnce, Generation, ModelAdapter, Prepared

_PIXEL_KEYS = ("pixel_values", "pixel_values_videos")
_LAYOUT_KEYS = ("image_sizes", "image_num_crops", "video_num_frames")


class ReferenceAdapter(ModelAdapter, EncodeOnce):
    kind = "reference"
    max_batch_size = 1024  # no limit of its own (memory is the user's call)

    def __init__(self, spec: ModelSpec) -> None:
        # local: these modules import torch (1-2 s); the adapter modules stay torch-free on import because
        # ov_bench.adapters is imported by the engine and by the commands' prechecks
        from reference_model import LlavaOneVision
        from reference_model.checkpoints import dtype_name

        self.model = LlavaOneVision.from_pretrained(
            spec.target,
            max_grid_tokens=spec.max_grid_tokens,
            unpad_rounding=spec.unpad_rounding,
            dtype=spec.dtype,
            device=spec.device,
            device_map=spec.device_map,
            max_memory=spec.max_memory,
            offload_folder=spec.offload_folder,
            multi_image_layout=spec.multi_image_layout,
            video_newline_position=spec.video_layout,
            video_pool_mode=spec.video_pool,
            grid_pinpoints=spec.grid_pinpoints,
            use_generation_config=spec.use_generation_config,
        )
        if self.model.processor is None:
            raise ValueError(f"{spec.target}: the checkpoint has no tokenizer, so prompts cannot be built")
        self.spec = spec
        self.model_id = model_id(spec.target)
        plan = getattr(self.model, "_ov_device_plan", None)
        # The dtype and device the model really got (``auto`` resolved; a split model's main device).
        self.dtype, self.unpad_rounding = dtype_name(self.model.dtype), spec.unpad_rounding
        self.device = plan.main_device if plan is not None else str(self.model.device)
        self.devices = plan.devices if plan is not None else [self.device]
        self.device_map = dict(plan.device_map) if plan is not None else None
        # the processor reads it per call; the original code resizes with PIL
        self.model.config.image_resize = self.image_resize = spec.image_resize or self.default_image_resize
        self.random_weights = self.model.config.preset is not None
        # The family's video defaults (families.py: LLaVA-Video's evaluated path), then the user's.
        config = self.model.config
        self.frame_sampling, self.force_sample = config.video_sampling, config.video_force_sample
        self.time_instruction, self.default_frames = config.video_time_instruction, config.video_frames
        self.prompt_model = None if config.eval_model_name == "llava_onevision" else config.eval_model_name
        self.apply_video_options()
        # what apply_setting starts every setting from: the packing-only layout (multi-image, video)
        self._loaded = (
            (config.multi_image_layout, config.video_newline_position, config.video_pool_mode),
            spec,
        )

    @property
    def threshold(self) -> int | None:
        return self.model.config.anyres.max_grid_tokens

    def set_threshold(self, tau: int | None) -> None:
        self.model.set_max_grid_tokens(tau)

    def describe(self) -> dict[str, Any]:
        import dataclasses

        config = self.model.config
        settings = self.model.generation_settings
        out = super().describe()
        out["config"] = dataclasses.asdict(config)
        out["family"] = config.family
        out["multi_image_layout"] = config.multi_image_layout
        out["video_layout"] = {
            "newline_position": config.video_newline_position,
            "pool_mode": config.video_pool_mode,
        }
        out["video"] = self.video_settings()
        if config.default_reasons:
            out["video"]["reasons"] = dict(config.default_reasons)
        out["grid_pinpoints"] = grid_pinpoints_name(config.anyres.grid_pinpoints)
        out["generation"] = {
            "source": settings.source
            if settings is not None
            else ("ignored (--no-generation-config)" if self.model.file_generation_settings else "none"),
            "eos_token_ids": sorted(self.model.decoding(1, 0).eos_ids),
            "repetition_penalty": settings.repetition_penalty if settings is not None else 1.0,
        }
        if self.device_map is not None:
            out["device_map"] = dict(self.device_map)
            out["devices"] = self.devices
        return out

    def _count(self, sizes: list[tuple[int, int]], video_frames: list[int]) -> int:
        """The analytic count under every layout setting of the model's config (tau in force)."""
        return count_for_config(self.model.config, sizes, video_frames)

    def prepare(self, question: str, images: list, video: Any | None) -> Prepared:
        processor = self.model.processor
        prompt = processor.build_prompt(question, num_images=len(images), video=video is not None)
        frames = video.frames if video is not None else None
        inputs = processor(
            text=prompt, images=images or None, videos=[frames] if frames is not None else None
        )
        inputs.pop("num_visual_tokens", None)
        n_frames = len(frames) if frames is not None else 0
        counted = self._count([im.size for im in images], [n_frames] if frames is not None else [])
        return Prepared(inputs, prompt, counted, num_images=len(images), num_frames=n_frames)

    # ---- encode once (the sweep): the vision work shared by every threshold -------------------
    def encode_once(self) -> EncodeOnce:
        return self

    @staticmethod
    def _sizes_and_frames(prepared: Prepared) -> tuple[list[tuple[int, int]], list[int]]:
        inputs = prepared.inputs
        sizes = [tuple(x) for x in inputs["image_sizes"].tolist()] if "image_sizes" in inputs else []
        frames = inputs["video_num_frames"].tolist() if "video_num_frames" in inputs else []
        return sizes, frames

    def encode(self, prepared: Prepared, timer: Any) -> Any:
        import torch

        inputs = prepared.inputs
        with torch.inference_mode():
            pixels = self.model.to_device({k: inputs[k] for k in _PIXEL_KEYS if k in inputs})
            return self.model.encode_visuals(
                pixels.get("pixel_values"), pixels.get("pixel_values_videos"), stage_timer=timer
            )

    def at_threshold(self, prepared: Prepared, threshold: int | None) -> Prepared:
        self.set_threshold(threshold)
        sizes, frames = self._sizes_and_frames(prepared)
        ids = self.model.processor.tokenize(prepared.prompt, sizes, frames)
        ids.pop("num_visual_tokens", None)
        inputs = {**ids, **{k: prepared.inputs[k] for k in _LAYOUT_KEYS if k in prepared.inputs}}
        return Prepared(
            inputs,
            prepared.prompt,
            self._count(sizes, frames),
            num_images=prepared.num_images,
            num_frames=prepared.num_frames,
        )

    def layout(self, prepared: Prepared, threshold: int | None) -> tuple:
        """Every setting the packed input depends on for this sample (features and prompt aside): one
        image: the grid set (it chose the crops) and the grid shape at tau; several images: their
        layout (729 / 730 each); videos: frame counts and the video layout (newline x pool)."""
        config = self.model.config
        sizes, frames = self._sizes_and_frames(prepared)
        if len(sizes) == 1 or (sizes and not config.multi_image_pad_to_square):
            pinpoints = config.anyres.grid_pinpoints
            images: tuple = (
                "anyres",
                grid_pinpoints_name(pinpoints),
                tuple(
                    image_grid_shape(
                        *size,
                        max_grid_tokens=threshold,
                        unpad_rounding=self.unpad_rounding,
                        grid_pinpoints=pinpoints,
                    )
                    for size in sizes
                ),
            )
        elif sizes:
            images = ("multi", len(sizes), config.multi_image_layout)
        else:
            images = ()
        video = (tuple(frames), config.video_newline_position, config.video_pool_mode) if frames else ()
        return images, video

    def pixels_depend_on_grid_set(self, prepared: Prepared) -> bool:
        """AnyRes crops follow the grid set; padded multi-image crops and video frames (384 each) do not."""
        sizes, _ = self._sizes_and_frames(prepared)
        return len(sizes) == 1 or (bool(sizes) and not self.model.config.multi_image_pad_to_square)

    def apply_setting(self, options: dict[str, Any]) -> None:
        unknown = set(options) - set(LAYOUT_SETTINGS)
        if unknown:
            raise ValueError(f"not a layout setting: {', '.join(sorted(unknown))}")
        model = self.model
        # Each setting starts from the model as loaded (a plain run with these options loads it so):
        # an axis the setting leaves out is the loaded one, not the previous setting's.
        config = model.config
        packing, loaded_spec = self._loaded
        config.multi_image_layout, config.video_newline_position, config.video_pool_mode = packing
        self.spec = self.spec.replace(**{name: getattr(loaded_spec, name) for name in PACKING_SETTINGS})
        if "multi_image_layout" in options:
            model.set_multi_image_layout(options["multi_image_layout"])
        if "video_layout" in options or "video_pool" in options:
            model.set_video_layout(options.get("video_layout"), options.get("video_pool"))
        if "grid_pinpoints" in options:
            model.set_grid_pinpoints(options["grid_pinpoints"])
        self.spec = self.spec.replace(**options)

    def layout_state(self) -> Any:
        config = self.model.config
        return (
            config.multi_image_layout,
            config.video_newline_position,
            config.video_pool_mode,
            list(config.anyres.grid_pinpoints),
            config.anyres.max_grid_tokens,
            self.spec,
        )

    def restore_layout(self, state: Any) -> None:
        config = self.model.config
        (
            config.multi_image_layout,
            config.video_newline_position,
            config.video_pool_mode,
            config.anyres.grid_pinpoints,
            config.anyres.max_grid_tokens,
            self.spec,
        ) = state

    def generate_encoded(
        self, prepared: Prepared, features: Any, max_new_tokens: int, timer: Any
    ) -> Generation:
        return self._generate(prepared, max_new_tokens, timer, encoded=features)

    def generate(self, prepared: Prepared, max_new_tokens: int, timer: Any) -> Generation:
        return self._generate(prepared, max_new_tokens, timer)

    def _generate(self, prepared: Prepared, max_new_tokens: int, timer: Any, **encoded: Any) -> Generation:
        start = timer.mark()
        batch = self.model.to_device(prepared.inputs)
        result = self.model.generate(
            **batch,
            **encoded,
            max_new_tokens=max_new_tokens,
            min_new_tokens=0,
            stage_timer=timer if timer.enabled else None,
        )
        first = timer.first_stop("prefill")
        if start is not None and first is not None:
            timer.add_span("ttft", start, first)
        return Generation(
            text=result.text,
            new_tokens=int(result.sequences.shape[-1]),
            visual_positions=int(result.num_visual_positions),
            prompt_tokens=int(result.num_prompt_tokens),
            extra={"warnings": result.warnings} if result.warnings else {},
        )

    def generate_batch(self, prepared: list[Prepared], max_new_tokens: int, timer: Any) -> list[Generation]:
        """One left-padded batch: the vision encoder runs once over every crop / frame of the batch."""
        start = timer.mark()
        batch = self.model.collate([p.inputs for p in prepared])
        results = self.model.generate_batch(
            batch,
            max_new_tokens=max_new_tokens,
            min_new_tokens=0,
            stage_timer=timer if timer.enabled else None,
        )
        first = timer.first_stop("prefill")
        if start is not None and first is not None:
            timer.add_span("ttft", start, first)
        return [
            Generation(
                text=r.text,
                new_tokens=int(r.sequences.shape[-1]),
                visual_positions=int(r.num_visual_positions),
                prompt_tokens=int(r.num_prompt_tokens),
                extra={"warnings": r.warnings} if r.warnings else {},
            )
            for r in results
        ]


def model_id(spec: str) -> str:
    """A stable id for the store: presets as written, directories as absolute paths."""
    from pathlib import Path

    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else spec
