"""transformers' LlavaOnevisionForConditionalGeneration (``--model hf:PATH``): the peer baseline.

Same prompt as the reference adapter (lmms-eval's rule, built by reference_model's Processor),
transformers' own processor and model. The threshold maps to ``vision_aspect_ratio =
anyres_max_N`` (tau = N * 729), the only thresholds transformers can express.

What is measured and how (nothing here is inferred):
- vision_encoder: forward pre/post hooks on ``model.model.vision_tower``;
- projector_packing: ``get_image_features`` / ``get_video_features`` (wrapped on the instance)
  minus the vision tower inside them: projector, unpad, interpolation, newlines, pooling;
- prefill: first ``language_model`` call (pre-hook) to the first generated token reaching the
  streamer; ttft: generate() call to that first token; decode: first token to the end;
- visual positions: rows of the features those two functions return (transformers itself raises
  if they differ from the placeholder count).
Batches (``--batch-size``): the prompts left-padded exactly as the processor pads them with
``padding_side="left"``, one transformers generate() call; stage times are the batch's.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from reference_model import count_prompt_visual_tokens

from ..errors import UsageError
from ..model_spec import ModelSpec
from .base import Generation, ModelAdapter, Prepared

TOKENS_PER_CROP = 729


def aspect_ratio_for(tau: int | None, max_crops: int) -> str:
    """``anyres_max_N`` for tau = N * 729. None (no cap) -> N = the largest grid's crop count,
    above which the interpolation never triggers."""
    if tau is None:
        return f"anyres_max_{max_crops}"
    if isinstance(tau, bool) or not isinstance(tau, int) or tau <= 0:
        raise UsageError(f"max_grid_tokens must be a positive integer or none, got {tau!r}")
    if tau % TOKENS_PER_CROP:
        lo = max(tau // TOKENS_PER_CROP, 1) * TOKENS_PER_CROP
        raise UsageError(
            f"the hf adapter needs a threshold that is a multiple of 729 (transformers' anyres_max_N is "
            f"N*729 grid tokens), got {tau}; try {lo} or {lo + TOKENS_PER_CROP}, or use the reference model"
        )
    return f"anyres_max_{tau // TOKENS_PER_CROP}"


def check_checkpoint_dir(path: str) -> Path:
    directory = Path(path).expanduser()
    if not directory.is_dir():
        import re

        if re.fullmatch(r"[\w.-]+/[\w.-]+", path) and not path.startswith("."):
            # hf: takes local directories only (documented); a hub id gets the command that fetches it.
            raise FileNotFoundError(
                f"hf:{path}: no such local directory; hf: takes local directories, not hub ids "
                f"(for a hub id: hf download {path} --local-dir DIR, then hf:DIR)"
            )
        raise FileNotFoundError(f"hf:{path}: no such checkpoint directory (the hub is not used by hf:)")
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(f"hf:{path}: no config.json (expected a save_pretrained directory)")
    if not any(directory.glob("*.safetensors")) and not any(directory.glob("pytorch_model*.bin")):
        raise FileNotFoundError(f"hf:{path}: no weights (*.safetensors or pytorch_model*.bin)")
    raw = json.loads((directory / "config.json").read_text())
    if raw.get("model_type") != "llava_onevision":
        raise ValueError(f"hf:{path}: model_type is {raw.get('model_type')!r}, expected 'llava_onevision'")
    return directory


def resize_backend_of(image_processor: Any) -> str:
    """``pil`` for transformers' PIL image processor, ``torchvision`` for its default one."""
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
        LlavaOnevisionImageProcessorPil,
    )

    return "pil" if isinstance(image_processor, LlavaOnevisionImageProcessorPil) else "torchvision"


def image_processor_for(image_processor: Any, backend: str | None) -> Any:
    """transformers' image processor with the given resize backend and otherwise the same settings:
    ``torchvision`` is ``LlavaOnevisionImageProcessor`` (what AutoProcessor builds from the hub's
    preprocessor_config.json), ``pil`` its PIL twin ``LlavaOnevisionImageProcessorPil`` (the
    original code's resize); None keeps the checkpoint's."""
    if backend is None or backend == resize_backend_of(image_processor):
        return image_processor
    if backend not in ("pil", "torchvision"):
        raise UsageError(f"--image-resize must be pil or torchvision, got {backend!r}")
    from transformers.models.llava_onevision.image_processing_llava_onevision import (
        LlavaOnevisionImageProcessor,
    )
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
        LlavaOnevisionImageProcessorPil,
    )

    target = LlavaOnevisionImageProcessorPil if backend == "pil" else LlavaOnevisionImageProcessor
    settings = {
        k: v
        for k, v in image_processor.to_dict().items()
        if k not in ("image_processor_type", "processor_class", "_processor_class")
    }
    return target(**settings)


# The modules of transformers' port that its own code reads directly next to the inputs.
_HF_ANCHORS = ("model.image_newline", "model.multi_modal_projector", "model.language_model.embed_tokens")


def check_hf_device_map(path: str, device_map, max_memory, offload_folder, dtype="auto"):
    """Validate a device map for ``hf:PATH`` on transformers' model built on the meta device."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, LlavaOnevisionForConditionalGeneration

    # local: these modules import torch (1-2 s); the adapter modules stay torch-free on import because
    # ov_bench.adapters is imported by the engine and by the commands' prechecks
    from reference_model.checkpoints import resolve_dtype
    from reference_model.device_map import cuda_hint, plan_device_map

    directory = check_checkpoint_dir(path)
    torch_dtype = resolve_dtype(dtype, cuda_hint(device_map, max_memory))
    config = AutoConfig.from_pretrained(str(directory))
    with init_empty_weights():
        model = LlavaOnevisionForConditionalGeneration._from_config(config, dtype=torch_dtype)
    return plan_device_map(
        model, device_map, max_memory, torch_dtype, offload_folder=offload_folder, anchors=_HF_ANCHORS
    )


class HFAdapter(ModelAdapter):
    kind = "hf"
    max_batch_size = 1024  # batches are left-padded as transformers' processor pads them
    unpad_rounding = "hf"  # transformers rounds the unpad with int(round(x, 7))

    def __init__(self, spec: ModelSpec) -> None:
        import torch
        from transformers import AutoProcessor, LlavaOnevisionForConditionalGeneration

        # local: torch-importing modules (see check_hf_device_map)
        from reference_model.checkpoints import dtype_name, resolve_dtype
        from reference_model.device_map import cuda_hint

        self.spec = spec
        device, device_map, max_memory, offload_folder = (
            spec.device,
            spec.device_map,
            spec.max_memory,
            spec.offload_folder,
        )
        directory = check_checkpoint_dir(spec.target)
        aspect_ratio_for(spec.max_grid_tokens, 1)  # refuse a tau transformers cannot express before loading
        self.model_id = str(directory.resolve())
        split = device_map is not None or max_memory is not None
        torch_dtype = resolve_dtype(spec.dtype, cuda_hint(device_map, max_memory) if split else device)
        self.processor = AutoProcessor.from_pretrained(str(directory))
        # None keeps the checkpoint's image processor (AutoProcessor: torchvision for the hub's configs).
        self.default_image_resize = resize_backend_of(self.processor.image_processor)
        self.processor.image_processor = image_processor_for(
            self.processor.image_processor, spec.image_resize
        )
        self.image_resize = resize_backend_of(self.processor.image_processor)
        if split:
            plan = check_hf_device_map(str(directory), device_map, max_memory, offload_folder, torch_dtype)
            # transformers takes the validated map; accelerate's hooks move activations between devices.
            self.model = LlavaOnevisionForConditionalGeneration.from_pretrained(
                str(directory),
                dtype=torch_dtype,
                device_map=plan.device_map,
                offload_folder=offload_folder,
            ).eval()
            self.device, self.devices, self.device_map = plan.main_device, plan.devices, dict(plan.device_map)
        else:
            self.model = (
                LlavaOnevisionForConditionalGeneration.from_pretrained(str(directory), dtype=torch_dtype)
                .to(device)
                .eval()
            )
            self.device, self.devices, self.device_map = device, [device], None
        self.dtype = dtype_name(torch_dtype)
        self._torch = torch
        pinpoints = self.model.config.image_grid_pinpoints
        crop = self.model.config.vision_config.image_size
        self._max_crops = max(h * w for h, w in pinpoints) // (crop * crop)
        vision = self.model.config.vision_config
        self._patches = (vision.image_size // vision.patch_size) ** 2
        self._tau: int | None = None
        self.set_threshold(spec.max_grid_tokens)
        self.apply_video_options()  # transformers' port: OV's defaults, the harness's sampling
        self._install_probes()

    # ----------------------------------------------------------------- threshold
    @property
    def threshold(self) -> int | None:
        return self._tau

    def set_threshold(self, tau: int | None) -> None:
        ratio = aspect_ratio_for(tau, self._max_crops)
        self.model.config.vision_aspect_ratio = ratio
        self.processor.vision_aspect_ratio = ratio
        self._tau = tau

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["vision_aspect_ratio"] = self.model.config.vision_aspect_ratio
        out["multi_image_layout"] = "train"  # transformers always gives each image of several its newline
        out["transformers_class"] = type(self.model).__name__
        out["config"] = self.model.config.to_diff_dict()
        if self.device_map is not None:
            out["device_map"] = dict(self.device_map)
            out["devices"] = self.devices
        return out

    # ----------------------------------------------------------------- inputs
    def prepare(self, question: str, images: list, video: Any | None) -> Prepared:
        # local: the processor imports torch (see check_hf_device_map)
        from reference_model.processor import build_prompt

        prompt = build_prompt(question, num_images=len(images), video=video is not None)
        kwargs: dict[str, Any] = {"text": [prompt], "return_tensors": "pt"}
        if images:
            # transformers only takes the multi-image path when one sample's images come nested.
            kwargs["images"] = [list(images)] if len(images) > 1 else list(images)
        n_frames = 0
        if video is not None:
            kwargs["videos"] = [video.frames]
            n_frames = len(video.frames)
        inputs = dict(self.processor(**kwargs))
        counted = count_prompt_visual_tokens(
            [im.size for im in images],
            [n_frames] if video is not None else [],
            max_grid_tokens=self._tau,
            unpad_rounding="hf",
            multi_image_layout="train",  # newline per image
        )
        if self._patches != TOKENS_PER_CROP:
            counted = -1  # the analytic count assumes the released 384/14 geometry
        return Prepared(inputs, prompt, counted, num_images=len(images), num_frames=n_frames)

    # ----------------------------------------------------------------- generation
    def _install_probes(self) -> None:
        inner = self.model.model
        self._timer: Any = None
        self._llm_calls = 0
        self._image_rows: list[int] = []  # visual positions of each image / video the last call encoded
        self._video_rows: list[int] = []
        self._first_token = None
        self._llm_start = None

        def vt_pre(_module, _args):
            if self._timer is not None:
                self._timer.begin("vision_encoder")

        def vt_post(_module, _args, _out):
            if self._timer is not None:
                self._timer.end("vision_encoder")

        def lm_pre(_module, _args):
            self._llm_calls += 1
            if self._llm_calls == 1 and self._timer is not None:
                self._llm_start = self._timer.mark()

        inner.vision_tower.register_forward_pre_hook(vt_pre)
        inner.vision_tower.register_forward_hook(vt_post)
        inner.language_model.register_forward_pre_hook(lm_pre)

        def wrap(fn, video: bool):
            # functools.wraps keeps the signature visible: generate() inspects it to route pixel inputs.
            @functools.wraps(fn)
            def wrapped(*args, **kwargs):
                if self._timer is not None:
                    self._timer.begin("_features")
                out = fn(*args, **kwargs)
                if self._timer is not None:
                    self._timer.end("_features")
                pooled = out.pooler_output
                if video:  # [videos, tokens, H]
                    self._video_rows += [int(pooled.shape[1])] * int(pooled.shape[0])
                else:  # one [tokens, H] per image
                    self._image_rows += [int(t.shape[0]) for t in pooled]
                return out

            return wrapped

        inner.get_image_features = wrap(inner.get_image_features, video=False)
        inner.get_video_features = wrap(inner.get_video_features, video=True)

    def generate(self, prepared: Prepared, max_new_tokens: int, timer: Any) -> Generation:
        return self._generate(prepared.inputs, [prepared], max_new_tokens, timer)[0]

    def generate_batch(self, prepared: list[Prepared], max_new_tokens: int, timer: Any) -> list[Generation]:
        """One left-padded batch through transformers' generate (as its processor pads with
        ``padding_side="left"``); each row is cut after its first EOS (later columns are padding)."""
        return self._generate(self.collate([p.inputs for p in prepared]), prepared, max_new_tokens, timer)

    def collate(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        """Single-prompt processor outputs -> what the processor gives for the prompts together with
        ``padding=True, padding_side="left"``: ids left-padded, pixel_values padded to the most crops,
        image_sizes / batch_num_images / pixel_values_videos concatenated in row order."""
        torch = self._torch
        pad_id = self.processor.tokenizer.pad_token_id
        if pad_id is None:
            raise ValueError("the checkpoint's tokenizer has no pad token, so prompts cannot be batched")
        width = max(int(s["input_ids"].shape[1]) for s in samples)
        ids = torch.full((len(samples), width), pad_id, dtype=samples[0]["input_ids"].dtype)
        mask = torch.zeros((len(samples), width), dtype=samples[0]["attention_mask"].dtype)
        for i, s in enumerate(samples):
            n = int(s["input_ids"].shape[1])
            ids[i, width - n :], mask[i, width - n :] = s["input_ids"][0], s["attention_mask"][0]
        batch: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        with_images = [s for s in samples if "pixel_values" in s]
        if with_images:
            crops = max(int(s["pixel_values"].shape[1]) for s in with_images)
            batch["pixel_values"] = torch.cat(
                [
                    torch.nn.functional.pad(
                        s["pixel_values"], (0, 0, 0, 0, 0, 0, 0, crops - s["pixel_values"].shape[1])
                    )
                    for s in with_images
                ]
            )
            batch["image_sizes"] = torch.cat([s["image_sizes"] for s in with_images])
            batch["batch_num_images"] = torch.cat([s["batch_num_images"] for s in with_images])
        with_videos = [s for s in samples if "pixel_values_videos" in s]
        if with_videos:
            if len({tuple(s["pixel_values_videos"].shape[1:]) for s in with_videos}) > 1:
                raise ValueError("videos with different frame counts cannot share a batch in transformers")
            batch["pixel_values_videos"] = torch.cat([s["pixel_values_videos"] for s in with_videos])
        unknown = {k for s in samples for k in s} - set(batch)
        if unknown:
            raise ValueError(f"cannot batch processor outputs {sorted(unknown)}")
        return batch

    def _generate(
        self, inputs: dict[str, Any], prepared: list[Prepared], max_new_tokens: int, timer: Any
    ) -> list[Generation]:
        from transformers.generation.streamers import BaseStreamer

        adapter = self

        class FirstToken(BaseStreamer):
            calls = 0

            def put(self, value):
                self.calls += 1
                if self.calls == 2:  # call 1 is the prompt, call 2 the first new token
                    adapter._first_token = timer.mark()

            def end(self):
                pass

        torch = self._torch
        self._timer = timer if timer.enabled else None
        self._llm_calls, self._image_rows, self._video_rows = 0, [], []
        self._first_token = self._llm_start = None
        try:
            start = timer.mark()
            inputs = {k: (v.to(self.device) if hasattr(v, "to") else v) for k, v in inputs.items()}
            for key in ("pixel_values", "pixel_values_videos"):
                if key in inputs:
                    inputs[key] = inputs[key].to(self.model.dtype)
            prompt_len = int(inputs["input_ids"].shape[1])
            with torch.inference_mode():
                out = self.model.generate(
                    **inputs,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    num_beams=1,
                    temperature=None,
                    top_p=None,
                    top_k=None,
                    streamer=FirstToken() if timer.enabled else None,
                )
            stop = timer.mark()
        finally:
            self._timer = None
        if timer.enabled and self._first_token is not None:
            if self._llm_start is not None:
                timer.add_span("prefill", self._llm_start, self._first_token)
            timer.add_span("ttft", start, self._first_token)
            timer.add_span("decode", self._first_token, stop)
        eos = self.model.generation_config.eos_token_id
        eos = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        images, videos = iter(self._image_rows), iter(self._video_rows)
        results = []
        for row, p in enumerate(prepared):
            new = out[row, prompt_len:].tolist()
            if len(prepared) > 1:  # a finished row is padded to the batch's length after its EOS
                end = next((i + 1 for i, t in enumerate(new) if t in eos), len(new))
                new = new[:end]
            # Features come out in row order; a shortfall shows up as the runner's analytic-vs-measured error.
            visual = sum(next(images, 0) for _ in range(p.num_images)) + (
                next(videos, 0) if p.num_frames else 0
            )
            results.append(
                Generation(
                    text=self.processor.tokenizer.decode(new, skip_special_tokens=True),
                    new_tokens=len(new),
                    visual_positions=visual,
                    prompt_tokens=int(inputs["attention_mask"][row].sum()),
                )
            )
        return results

    def finish_stages(self, stages: dict[str, float]) -> dict[str, float]:
        """projector_packing = feature extraction minus the vision tower inside it."""
        features = stages.pop("_features", None)
        if features is not None:
            stages["projector_packing"] = max(features - stages.get("vision_encoder", 0.0), 0.0)
        return stages
