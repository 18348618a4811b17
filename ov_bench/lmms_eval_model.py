"""ov-bench's reference model as an lmms-eval model: ``lmms-eval --model ov_bench_reference``.

Registration: pyproject.toml declares the entry point ``ov_bench_reference`` in the group
``lmms_eval.models``, pointing at :func:`manifest`. lmms-eval 0.7.3 (``ModelRegistryV2.
load_entrypoint_manifests``) loads every entry point of that group and accepts a ``ModelManifest``, an
iterable of them or a callable returning one; a model *class* would be called with no arguments, so
the entry point names this function, and the manifest names :class:`OvBenchReference`.

model_args (``--model_args key=value,...``; unknown keys are a ValueError):

- ``pretrained``: a preset (``tiny``, ``0.5b``, ``7b``, ``72b``, ``arch:0.5b?layers=2``) or a checkpoint
  directory in the HF or the original lmms-lab layout. Required.
- ``max_grid_tokens``: the AnyRes threshold tau (default 6561 = anyres_max_9); ``none`` = no cap.
- ``frames``: frames sampled from each video (default 32), uniformly as lmms-eval does.
- ``dtype``: auto (default: float16 on CUDA as the original loader, float32 on CPU) | float32 | bfloat16 |
  float16. ``device``: auto (default) | cpu | cuda | cuda:N.
- ``device_map``: auto | balanced | sequential | a JSON file (split the model with accelerate; under
  several processes each takes its own group of GPUs), with ``max_memory`` (``0=70GiB;1=70GiB``: ``;``
  separates devices, since lmms-eval splits model_args on commas) and ``offload_folder``.
- ``unpad_rounding``: original (default) | hf.

What lmms-eval hands the model and what it gets back:

- ``generate_until``: Instance.args = (context, gen_kwargs, doc_to_visual, doc_id, task, split).
  ``doc_to_visual(doc)`` gives PIL images (one image, or several: multi-image mode), or a list holding
  a video path (decoded here with ``tasks.video.sample_frames``; image paths are opened as images).
  The prompt follows lmms-eval's LLaVA-OneVision rule (``processor.build_prompt``). Decoding is greedy:
  ``do_sample=True`` or ``temperature > 0`` is refused with a ValueError rather than silently run
  greedy. ``max_new_tokens`` is honoured (default 1024, as lmms-eval's llava_onevision). As lmms-eval's
  llava_onevision model (which produced the published numbers) does, ``until`` is ignored (generation
  stops at <|im_end|>) and the response is stripped of surrounding whitespace.
- ``loglikelihood``: args = (context, doc_to_target or continuation string, doc_to_visual, doc_id,
  task, split). Returns (sum of the continuation tokens' log-probabilities, whether greedy decoding
  would produce exactly those tokens); the continuation is tokenized on its own after the prompt.
- ``generate_until_multi_round`` is not supported (NotImplementedError with one line).

Per request the model reports, where lmms-eval 0.7.3 has a place for it:

- each response is a ``GenerationResult`` whose ``token_counts`` (:class:`OvBenchTokenCounts`, a
  ``TokenCounts``) holds input_tokens (the prefilled sequence: text + visual tokens), output_tokens
  (tokens generated), plus visual_tokens and latency_ms; the evaluator writes them into every logged
  sample (``token_counts``) and sums input/output tokens in ``results["efficiency"]``;
- each ``generate_until`` call logs one ``gen_metrics.log_metrics`` line (total latency, generated
  tokens, tokens/s, request count, mean visual/input tokens, mean time to first token), which lmms-eval
  summarises into ``results["throughput"]``;
- every request is also logged at DEBUG level and kept in ``model.request_stats``
  (:class:`RequestStats`: visual tokens, input/output tokens, latency per stage in ms).

A doc whose media cannot be decoded (``tasks.MediaError``: missing, truncated or corrupt video or image)
is logged as an error, answered with an empty string and recorded in ``request_stats`` with its error,
so one bad file does not end a long evaluation (the same policy as ``ov-bench run``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmms_eval.api.instance import GenerationResult, Instance, TokenCounts
from lmms_eval.api.model import lmms
from loguru import logger as eval_logger

if TYPE_CHECKING:
    from lmms_eval.models.registry_v2 import ModelManifest

MODEL_NAME = "ov_bench_reference"
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
_DEFAULT_MAX_NEW_TOKENS = 1024  # lmms-eval's llava_onevision default when a task sets none


def manifest() -> ModelManifest:
    """The lmms-eval model manifest the ``lmms_eval.models`` entry point resolves to."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return ModelManifest(model_id=MODEL_NAME, simple_class_path=f"{__name__}.OvBenchReference")


@dataclass
class OvBenchTokenCounts(TokenCounts):
    """lmms-eval's per-request TokenCounts plus the visual-token count and the request's latency."""

    visual_tokens: int | None = None
    latency_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = super().to_dict()
        if self.visual_tokens is not None:
            out["visual_tokens"] = self.visual_tokens
        if self.latency_ms is not None:
            out["latency_ms"] = self.latency_ms
        return out


@dataclass
class RequestStats:
    """What one request cost: kept on the model (``request_stats``) and logged at DEBUG level."""

    request_type: str
    task: str
    doc_id: Any
    num_images: int = 0
    num_frames: int = 0
    visual_tokens: int = 0  # measured: positions the model filled with visual features
    input_tokens: int = 0  # prefilled sequence length (text + visual)
    output_tokens: int = 0  # generated tokens (0 for loglikelihood)
    latency_ms: dict[str, float] = field(default_factory=dict)  # per stage, plus end_to_end and ttft
    error: str | None = None


@dataclass
class _Inputs:
    """One request's media and prompt, ready for the model."""

    prompt: str
    batch: dict
    num_images: int
    num_frames: int


def _parse_max_grid_tokens(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "")):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value <= 0:
        raise ValueError(f"{MODEL_NAME}: max_grid_tokens must be a positive integer or 'none', got {value!r}")
    return int(value)


def _parse_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < 1:
        raise ValueError(f"{MODEL_NAME}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _check_batch_size(value: Any) -> None:
    """lmms-eval's --batch_size (int, "N", "auto" or "auto:N"). Any valid value is accepted: requests
    run one at a time (the reference model's generate takes one prompt)."""
    text = str(value).strip().lower()
    if value is None or text.startswith("auto"):
        return
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{MODEL_NAME}: batch_size must be a positive integer or auto, got {value!r}")


def _resolve_device(device: Any) -> str:
    import torch

    name = "auto" if device in (None, "") else str(device)
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"{MODEL_NAME}: device must be auto, cpu, cuda or cuda:N, got {name!r}") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{MODEL_NAME}: device {name!r} requested but CUDA is not available")
    return name


class OvBenchReference(lmms):
    """The reference LLaVA-OneVision model (``reference_model.LlavaOneVision``) for lmms-eval."""

    is_simple = True

    def __init__(
        self,
        pretrained: str | None = None,
        max_grid_tokens: Any = 6561,
        frames: Any = 32,
        dtype: str = "auto",
        device: str | None = None,
        unpad_rounding: str = "original",
        device_map: str | None = None,
        max_memory: str | None = None,
        offload_folder: str | None = None,
        batch_size: Any = 1,
        max_batch_size: Any = None,
        **unknown: Any,
    ) -> None:
        super().__init__()
        if unknown:
            known = ("pretrained, max_grid_tokens, frames, dtype, device, unpad_rounding, batch_size, max_batch_size, "
                     "device_map, max_memory, offload_folder")
            raise ValueError(f"{MODEL_NAME}: unknown model_args {', '.join(sorted(unknown))}; known: {known}")
        if pretrained is None or str(pretrained).strip() == "":
            raise ValueError(f"{MODEL_NAME}: model_args needs pretrained=PRESET_OR_PATH (tiny, 0.5b, 7b, 72b, "
                             "arch:0.5b?layers=2 or a checkpoint directory)")
        _check_batch_size(batch_size)
        tau = _parse_max_grid_tokens(max_grid_tokens)
        self.frames = _parse_positive_int("frames", frames)
        device_name = _resolve_device(device)
        self._init_distributed(device_name)

        from reference_model import LlavaOneVision

        try:
            self.model = LlavaOneVision.from_pretrained(
                str(pretrained), max_grid_tokens=tau, unpad_rounding=str(unpad_rounding), dtype=str(dtype),
                device=self.device_name, device_map=device_map, offload_folder=offload_folder,
                max_memory=None if max_memory is None else str(max_memory).replace(";", ","),
            )
        except (FileNotFoundError, ValueError) as e:  # already one line; name the model in it
            kind = FileNotFoundError if isinstance(e, FileNotFoundError) else ValueError
            raise kind(f"{MODEL_NAME}: {(str(e).splitlines() or [type(e).__name__])[0]}") from None
        if self.model.processor is None:
            raise ValueError(f"{MODEL_NAME}: {pretrained}: the checkpoint has no tokenizer, so prompts cannot be built")
        self.model.eval()
        self.pretrained = str(pretrained)
        from reference_model.checkpoints import dtype_name

        self.dtype_name = dtype_name(self.model.dtype)  # auto resolved
        plan = getattr(self.model, "_ov_device_plan", None)
        if plan is not None:
            self.device_name = plan.main_device
        # lmms-eval runs one request at a time through this model; batch_size is accepted for the CLI.
        self.batch_size_per_gpu = 1
        self.request_stats: list[RequestStats] = []

    # ------------------------------------------------------------------ lmms-eval plumbing
    def _init_distributed(self, device_name: str) -> None:
        """Under ``accelerate launch`` / torchrun each process takes the GPU of its LOCAL_RANK; the
        evaluator itself shards the requests and sets rank and world size (and its Accelerator)."""
        import os

        local_rank = int(os.environ.get("LOCAL_RANK", "0") or 0)
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        if world > 1 and device_name == "cuda":
            device_name = f"cuda:{local_rank}"
        self.device_name = device_name

    @property
    def batch_size(self) -> int:
        return self.batch_size_per_gpu

    @property
    def device(self) -> str:
        return self.device_name

    @property
    def tokenizer(self):
        return self.model.tokenizer

    @property
    def config(self):
        return self.model.config

    # ------------------------------------------------------------------ inputs
    def _doc(self, task: str, split: str, doc_id: Any) -> dict:
        return self.task_dict[task][split][doc_id]

    def _media(self, visuals: Any) -> tuple[list, Any]:
        """lmms-eval's visual list -> (RGB PIL images, a VideoClip or None)."""
        from PIL import Image

        if visuals is None:
            return [], None
        if not isinstance(visuals, (list, tuple)):
            visuals = [visuals]
        images, videos = [], []
        for v in visuals:
            if v is None:
                continue
            if isinstance(v, Image.Image):
                images.append(v if v.mode == "RGB" else v.convert("RGB"))
            elif isinstance(v, (str, Path)):
                if Path(v).suffix.lower() in _IMAGE_SUFFIXES:
                    images.append(self._open_image(Path(v)))
                else:
                    videos.append(str(v))
            else:
                raise ValueError(f"{MODEL_NAME}: unsupported visual of type {type(v).__name__} "
                                 "(expected PIL images, an image path or a video path)")
        if len(videos) > 1:
            raise ValueError(f"{MODEL_NAME}: {len(videos)} videos in one request; one video per request is supported")
        if videos and images:
            raise ValueError(f"{MODEL_NAME}: a request mixing images and a video is not supported")
        if not videos:
            return images, None
        from tasks.video import sample_frames

        return [], sample_frames(videos[0], self.frames)

    @staticmethod
    def _open_image(path: Path):
        from PIL import Image

        from tasks import MediaError

        try:
            with Image.open(path) as im:
                return im.convert("RGB")
        except (OSError, ValueError) as e:
            raise MediaError(f"{path}: cannot decode image ({e.__class__.__name__})") from None

    def _prepare(self, context: str, visuals: Any, timer) -> _Inputs:
        with timer("media_decode"):
            images, clip = self._media(visuals)
        processor = self.model.processor
        with timer("preprocess"):
            prompt = processor.build_prompt(context, num_images=len(images), video=clip is not None)
            videos = [clip.frames] if clip is not None else None
            batch = processor(text=prompt, images=images or None, videos=videos)
        num_frames = len(clip.frames) if clip is not None else 0
        return _Inputs(prompt, batch, len(images), num_frames)

    def _timer(self):
        from ov_bench.profiling import StageTimer

        return StageTimer(cuda=self.device_name.startswith("cuda"))

    # ------------------------------------------------------------------ generate_until
    @staticmethod
    def _max_new_tokens(gen_kwargs: dict) -> int:
        if gen_kwargs.get("do_sample") or float(gen_kwargs.get("temperature") or 0) > 0:
            raise ValueError(f"{MODEL_NAME}: only greedy decoding is supported; got do_sample="
                             f"{gen_kwargs.get('do_sample')!r}, temperature={gen_kwargs.get('temperature')!r}")
        if int(gen_kwargs.get("num_beams") or 1) != 1:
            raise ValueError(f"{MODEL_NAME}: beam search is not supported (num_beams={gen_kwargs['num_beams']})")
        value = gen_kwargs.get("max_new_tokens")
        if value is None:
            value = gen_kwargs.get("max_gen_toks") or _DEFAULT_MAX_NEW_TOKENS
        return _parse_positive_int("max_new_tokens", value)

    def generate_until(self, requests: list[Instance]) -> list[GenerationResult]:
        from tqdm import tqdm

        from tasks import MediaError

        results: list[GenerationResult] = []
        batch_stats: list[RequestStats] = []
        for req in tqdm(requests, disable=self.rank != 0, desc="Model Responding"):
            context, gen_kwargs, doc_to_visual, doc_id, task, split = req.args
            gen_kwargs = dict(gen_kwargs or {})
            max_new = self._max_new_tokens(gen_kwargs)
            stats = RequestStats("generate_until", task, doc_id)
            timer = self._timer()
            start = timer.mark()
            try:
                inputs = self._prepare(context, doc_to_visual(self._doc(task, split, doc_id)), timer)
            except MediaError as e:
                stats.error = str(e).splitlines()[0]
                eval_logger.error(f"{MODEL_NAME}: {task} doc {doc_id}: {stats.error}; answering with an empty string")
                self.request_stats.append(stats)
                results.append(GenerationResult(text="", token_counts=None))
                continue
            batch = self.model.to_device(inputs.batch)
            out = self.model.generate(**batch, max_new_tokens=max_new, min_new_tokens=0, stage_timer=timer)
            stop = timer.mark()
            timer.add_span("end_to_end", start, stop)
            first = timer.first_stop("prefill")
            if first is not None:
                timer.add_span("ttft", start, first)
            stats.num_images, stats.num_frames = inputs.num_images, inputs.num_frames
            stats.visual_tokens = int(out.num_visual_positions)
            stats.input_tokens = int(out.num_prompt_tokens)
            stats.output_tokens = int(out.sequences.shape[-1])
            stats.latency_ms = timer.results_ms()
            text = out.text.strip()
            self._record(stats)
            batch_stats.append(stats)
            results.append(GenerationResult(text=text, token_counts=OvBenchTokenCounts(
                input_tokens=stats.input_tokens, output_tokens=stats.output_tokens,
                visual_tokens=stats.visual_tokens, latency_ms=round(stats.latency_ms.get("end_to_end", 0.0), 3),
            )))
            self.cache_hook.add_partial("generate_until", (context, gen_kwargs), text)
        self._log_throughput(batch_stats)
        return results

    def _record(self, stats: RequestStats) -> None:
        self.request_stats.append(stats)
        lat = stats.latency_ms
        eval_logger.debug(
            f"{MODEL_NAME} {stats.task} doc {stats.doc_id}: visual_tokens={stats.visual_tokens} "
            f"input_tokens={stats.input_tokens} output_tokens={stats.output_tokens} "
            f"latency={lat.get('end_to_end', 0.0):.1f}ms ttft={lat.get('ttft', 0.0):.1f}ms"
        )

    @staticmethod
    def _log_throughput(batch: list[RequestStats]) -> None:
        """One lmms-eval throughput line per generate_until call (its results["throughput"] block)."""
        if not batch:
            return
        from lmms_eval.models.model_utils.gen_metrics import calculate_token_throughput, log_metrics

        n = len(batch)
        elapsed = sum(s.latency_ms.get("end_to_end", 0.0) for s in batch) / 1000.0
        generated = sum(s.output_tokens for s in batch)
        log_metrics(
            total_elapsed_time=elapsed,
            total_gen_tokens=generated,
            avg_speed=calculate_token_throughput(generated, elapsed),
            additional_metrics={
                "total_requests": n,
                "visual_tokens": sum(s.visual_tokens for s in batch) / n,
                "input_tokens": sum(s.input_tokens for s in batch) / n,
                "ttft_s": sum(s.latency_ms.get("ttft", 0.0) for s in batch) / n / 1000.0,
            },
        )

    # ------------------------------------------------------------------ loglikelihood
    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        import torch
        from tqdm import tqdm

        results: list[tuple[float, bool]] = []
        for req in tqdm(requests, disable=self.rank != 0, desc="Model Responding"):
            context, target, doc_to_visual, doc_id, task, split = req.args
            doc = self._doc(task, split, doc_id)
            continuation = target if isinstance(target, str) else target(doc)
            if isinstance(continuation, (list, tuple)):  # some doc_to_target return [answer]
                continuation = continuation[0]
            continuation = str(continuation)
            stats = RequestStats("loglikelihood", task, doc_id)
            timer = self._timer()
            start = timer.mark()
            inputs = self._prepare(context, doc_to_visual(doc), timer)
            cont_ids = self.model.tokenizer(continuation, add_special_tokens=False).input_ids
            batch = dict(inputs.batch)
            prompt_len = int(batch["input_ids"].shape[1])
            if not cont_ids:
                results.append((0.0, True))
                continue
            batch["input_ids"] = torch.cat([batch["input_ids"], torch.tensor([cont_ids], dtype=torch.long)], dim=1)
            batch["attention_mask"] = torch.ones_like(batch["input_ids"])
            batch = self.model.to_device(batch)
            with torch.inference_mode(), timer("forward"):
                logits = self.model(**batch).logits[0, prompt_len - 1 : -1].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            target_ids = torch.tensor(cont_ids, device=logprobs.device)
            total = float(logprobs.gather(1, target_ids[:, None]).sum())
            greedy = bool((logprobs.argmax(-1) == target_ids).all())
            timer.add_span("end_to_end", start, timer.mark())
            stats.num_images, stats.num_frames = inputs.num_images, inputs.num_frames
            stats.visual_tokens = int(inputs.batch.get("num_visual_tokens", 0))
            stats.input_tokens = int(batch["input_ids"].shape[1])
            stats.latency_ms = timer.results_ms()
            self._record(stats)
            results.append((total, greedy))
            self.cache_hook.add_partial("loglikelihood", (context, continuation), (total, greedy))
        return results

    def generate_until_multi_round(self, requests: list[Instance]) -> list[str]:
        raise NotImplementedError(f"{MODEL_NAME}: multi-round generation is not supported; use generate_until tasks")

    def stats_dicts(self) -> list[dict[str, Any]]:
        """request_stats as plain dicts (JSON-serialisable)."""
        return [asdict(s) for s in self.request_stats]
