"""ov-bench's reference model as an lmms-eval model: ``lmms-eval --model ov_bench_reference``.

Registration: pyproject.toml declares the entry point ``ov_bench_reference`` in the group
``lmms_eval.models``, pointing at :func:`manifest`. lmms-eval 0.7.3 (``ModelRegistryV2.
load_entrypoint_manifests``) loads every entry point of that group and accepts a ``ModelManifest``, an
iterable of them or a callable returning one; a model *class* would be called with no arguments, so
the entry point names this function, and the manifest names :class:`OvBenchReference`.

model_args (``--model_args key=value,...``; unknown keys are a ValueError):

- ``pretrained``: a preset (``tiny``, ``arch:0.5b``, ``arch:7b``, ``arch:72b``, ``arch:0.5b?layers=2``) or a checkpoint
  directory in the HF or the original lmms-lab layout. Required.
- ``max_grid_tokens``: the AnyRes threshold tau (default 6561 = anyres_max_9); ``none`` = no cap.
- ``frames``: frames sampled from each video, the cap with fps sampling (default: the checkpoint's: 32,
  LLaVA-Video 64).
- ``frame_sampling``: uniform (OV: F linspace frames) | fps (LLaVA-Video's llava_vid: 1 frame a second
  capped at F, uniform above the cap); ``force_sample`` (fps: always F uniform frames) and
  ``time_instruction`` (LLaVA-Video's "The video lasts for ..." line): true | false. Default: the
  checkpoint's (a LLaVA-Video checkpoint: fps, both off, as its official evaluation).
- Prompts: a LLaVA-Video checkpoint is evaluated with llava_vid's task prompts where the task's YAML has
  an entry for it (Video-MME: post-prompt "The best answer is:"). lmms-eval picks the entry by the
  ``--model`` name (here ov_bench_reference, which has none), so the context of such a task is rebuilt
  with the task's own doc_to_text and llava_vid's entry (the ov-bench task of the same lmms-eval name).
- ``dtype``: auto (default: float16 on CUDA as the original loader, float32 on CPU) | float32 | bfloat16 |
  float16. ``device``: auto (default) | cpu | cuda | cuda:N.
- ``device_map``: auto | balanced | sequential | a JSON file (split the model with accelerate; under
  several processes each takes its own group of GPUs), with ``max_memory`` (``0=70GiB;1=70GiB``: ``;``
  separates devices, since lmms-eval splits model_args on commas) and ``offload_folder``.
- ``unpad_rounding``: original (default) | hf.
- ``multi_image_layout``: eval (default: 729 tokens per image, the evaluated path) | train (730).
- ``video_layout`` (grid | frame | one_token | no_token), ``video_pool`` (average | bilinear | max),
  ``grid_pinpoints`` (ov | next | WxH,...): default the checkpoint's own.
- ``use_generation_config``: true (default; the checkpoint's generation_config.json eos ids and
  repetition_penalty) | false.

What lmms-eval hands the model and what it gets back:

- ``generate_until``: Instance.args = (context, gen_kwargs, doc_to_visual, doc_id, task, split).
  ``doc_to_visual(doc)`` gives PIL images (one image, or several: multi-image mode), or a list holding
  a video path (decoded here with ``ov_media.video.sample_frames``; image paths are opened as images).
  The prompt follows lmms-eval's LLaVA-OneVision rule (``processor.build_prompt``). Decoding is greedy:
  ``do_sample=True`` or ``temperature > 0`` is refused with a ValueError rather than silently run
  greedy. ``max_new_tokens`` is honoured (default 1024, as lmms-eval's llava_onevision). As lmms-eval's
  llava_onevision model (which produced the published numbers) does, ``until`` is ignored (generation
  stops at <|im_end|>) and the response is stripped of surrounding whitespace.
- ``loglikelihood``: args = (context, doc_to_target or continuation string, doc_to_visual, doc_id,
  task, split). Returns (sum of the continuation tokens' log-probabilities, whether greedy decoding
  would produce exactly those tokens); the continuation is tokenized on its own after the prompt.
- ``generate_until_multi_round`` is not supported (NotImplementedError with one line).

The model is ov-bench's reference adapter (``ov_bench.adapters.reference``) and every request goes
through the same per-sample path as ``ov-bench run`` (``ov_bench.engine.sample``: prepare, then
run_model's stage bookkeeping); this module keeps only lmms-eval's request plumbing. ``ttft`` spans the
model call (vision encoder, projector, prefill), as in ``ov-bench run``.

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

A doc whose media cannot be decoded (``ov_media.MediaError``: missing, truncated or corrupt video or image)
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

from ov_bench.adapters.reference import ReferenceAdapter
from ov_bench.engine.sample import Measure, RowIdentity, Sample, prepare, run_model
from ov_bench.model_spec import ModelSpec, parse_positive_int
from ov_bench.profiling import StageTimer
from ov_bench.threshold import threshold_key
from ov_media import MediaError
from ov_media.video import sample_frames
from tasks import get_task
from tasks.registry import task_for_lmms_eval_name

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


def _check_batch_size(value: Any) -> None:
    """lmms-eval's --batch_size (int, "N", "auto" or "auto:N"). Any valid value is accepted: requests
    run one at a time (the reference model's generate takes one prompt)."""
    text = str(value).strip().lower()
    if value is None or text.startswith("auto"):
        return
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{MODEL_NAME}: batch_size must be a positive integer or auto, got {value!r}")


def _task_for_lmms_name(lmms_name: str) -> Any:
    """The ov-bench task whose lmms-eval task is ``lmms_name`` (None: ov-bench has none)."""
    if lmms_name not in _LMMS_TASKS:
        ours = task_for_lmms_eval_name(lmms_name)  # exact lmms-eval names (its egoschema is not ours)
        _LMMS_TASKS[lmms_name] = get_task(ours) if ours else None
    return _LMMS_TASKS[lmms_name]


_LMMS_TASKS: dict[str, Any] = {}


class OvBenchReference(lmms):
    """The reference LLaVA-OneVision model (``reference_model.LlavaOneVision``) for lmms-eval."""

    is_simple = True

    def __init__(self, batch_size: Any = 1, max_batch_size: Any = None, **model_args: Any) -> None:
        """``model_args``: lmms-eval's key=value strings (see the module docstring), parsed into the
        same ModelSpec ``ov-bench run`` builds from its flags; batch sizes are lmms-eval's own."""
        import os

        super().__init__()
        _check_batch_size(batch_size)
        local_rank = int(os.environ.get("LOCAL_RANK", "0") or 0)  # under accelerate launch / torchrun
        try:
            spec = ModelSpec.from_model_args(model_args)
            spec = spec.replace(device=spec.resolve_device(local_rank))
        except ValueError as e:
            raise ValueError(f"{MODEL_NAME}: {e}") from None
        self.device_name = spec.device

        try:
            self.adapter = ReferenceAdapter(spec)
        except (FileNotFoundError, ValueError) as e:  # already one line; name the model in it
            kind = FileNotFoundError if isinstance(e, FileNotFoundError) else ValueError
            raise kind(f"{MODEL_NAME}: {(str(e).splitlines() or [type(e).__name__])[0]}") from None
        self.frames = spec.frames or self.adapter.default_frames
        self.model = self.adapter.model
        self.model.eval()
        self.device_name = self.adapter.device  # a split model's main device
        self.dtype_name = self.adapter.dtype  # auto resolved
        self._measure = Measure.for_adapter(True, self.adapter, self.device_name)
        self._identity = RowIdentity(self.adapter.key, threshold_key(spec.max_grid_tokens), "lmms-eval")
        self.pretrained = spec.model
        # lmms-eval runs one request at a time through this model; batch_size is accepted for the CLI.
        self.batch_size_per_gpu = 1
        self.request_stats: list[RequestStats] = []

    # ------------------------------------------------------------------ lmms-eval plumbing
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
                raise ValueError(
                    f"{MODEL_NAME}: unsupported visual of type {type(v).__name__} "
                    "(expected PIL images, an image path or a video path)"
                )
        if len(videos) > 1:
            raise ValueError(
                f"{MODEL_NAME}: {len(videos)} videos in one request; one video per request is supported"
            )
        if videos and images:
            raise ValueError(f"{MODEL_NAME}: a request mixing images and a video is not supported")
        if not videos:
            return images, None

        return [], sample_frames(videos[0], self.frames, self.adapter.sampling())

    @staticmethod
    def _open_image(path: Path):
        from PIL import Image

        try:
            with Image.open(path) as im:
                return im.convert("RGB")
        except (OSError, ValueError) as e:
            raise MediaError(f"{path}: cannot decode image ({e.__class__.__name__})") from None

    def _prepare(
        self,
        request_type: str,
        task: str,
        doc_id: Any,
        doc: dict,
        context: str,
        visuals: Any,
        max_new_tokens: int = 1,
    ):
        """One request through the shared prepare step; media errors come back in ``sample.error``."""
        sample = Sample(task, None, doc, str(doc_id), 0, self.frames, max_new_tokens)
        context = self._model_context(task, doc, context)
        prepare(sample, self.adapter, decode_visuals=lambda _s: (context, *self._media(visuals)))
        if sample.error and not sample.error.startswith("media_decode: MediaError"):
            raise ValueError(f"{MODEL_NAME}: {task} doc {doc_id}: {sample.error}")  # not a media problem
        return sample

    def _model_context(self, task: str, doc: dict, context: str) -> str:
        """The context lmms-eval would build for the checkpoint's own lmms-eval model (llava_vid for
        LLaVA-Video) where the task's YAML has an entry for it; else lmms-eval's context as given."""
        model_name = self.adapter.prompt_model
        if model_name is None:
            return context
        ours = _task_for_lmms_name(task)
        kwargs = (getattr(ours, "lmms_eval_config", None) or {}).get("lmms_eval_specific_kwargs") or {}
        if ours is None or model_name not in kwargs:
            return context
        return ours.doc_to_text(doc, model_name)

    def _timer(self):
        return StageTimer(cuda=self.device_name.startswith("cuda"))

    # ------------------------------------------------------------------ generate_until
    @staticmethod
    def _max_new_tokens(gen_kwargs: dict) -> int:
        if gen_kwargs.get("do_sample") or float(gen_kwargs.get("temperature") or 0) > 0:
            raise ValueError(
                f"{MODEL_NAME}: only greedy decoding is supported; got do_sample="
                f"{gen_kwargs.get('do_sample')!r}, temperature={gen_kwargs.get('temperature')!r}"
            )
        if int(gen_kwargs.get("num_beams") or 1) != 1:
            raise ValueError(
                f"{MODEL_NAME}: beam search is not supported (num_beams={gen_kwargs['num_beams']})"
            )
        value = gen_kwargs.get("max_new_tokens")
        if value is None:
            value = gen_kwargs.get("max_gen_toks") or _DEFAULT_MAX_NEW_TOKENS
        try:
            return parse_positive_int("max_new_tokens", value)
        except ValueError as e:
            raise ValueError(f"{MODEL_NAME}: {e}") from None

    def generate_until(self, requests: list[Instance]) -> list[GenerationResult]:
        from tqdm import tqdm

        results: list[GenerationResult] = []
        batch_stats: list[RequestStats] = []
        for req in tqdm(requests, disable=self.rank != 0, desc="Model Responding"):
            context, gen_kwargs, doc_to_visual, doc_id, task, split = req.args
            gen_kwargs = dict(gen_kwargs or {})
            max_new = self._max_new_tokens(gen_kwargs)
            stats = RequestStats("generate_until", task, doc_id)
            doc = self._doc(task, split, doc_id)
            sample = self._prepare("generate_until", task, doc_id, doc, context, doc_to_visual(doc), max_new)
            if sample.error:
                stats.error = sample.error.removeprefix("media_decode: MediaError: ")
                eval_logger.error(
                    f"{MODEL_NAME}: {task} doc {doc_id}: {stats.error}; answering with an empty string"
                )
                self.request_stats.append(stats)
                results.append(GenerationResult(text="", token_counts=None))
                continue
            (row,) = run_model(self.adapter, [sample], self._identity, self._measure)
            if row.error and row.error.startswith("model:"):
                raise RuntimeError(f"{MODEL_NAME}: {task} doc {doc_id}: {row.error}")
            stats.error = row.error
            stats.num_images, stats.num_frames = sample.prepared.num_images, sample.prepared.num_frames
            stats.visual_tokens = int(row.visual_tokens_measured)
            stats.input_tokens = int(row.prompt_tokens)
            stats.output_tokens = int(row.new_tokens)
            stats.latency_ms = dict(row.latency_ms)
            text = row.response
            self._record(stats)
            batch_stats.append(stats)
            results.append(
                GenerationResult(
                    text=text,
                    token_counts=OvBenchTokenCounts(
                        input_tokens=stats.input_tokens,
                        output_tokens=stats.output_tokens,
                        visual_tokens=stats.visual_tokens,
                        latency_ms=round(stats.latency_ms.get("end_to_end", 0.0), 3),
                    ),
                )
            )
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
            sample = self._prepare("loglikelihood", task, doc_id, doc, context, doc_to_visual(doc))
            if sample.error:
                raise MediaError(f"{MODEL_NAME}: {task} doc {doc_id}: {sample.error}")
            start = timer.mark()
            cont_ids = self.model.tokenizer(continuation, add_special_tokens=False).input_ids
            batch = dict(sample.prepared.inputs)
            prompt_len = int(batch["input_ids"].shape[1])
            if not cont_ids:
                results.append((0.0, True))
                continue
            batch["input_ids"] = torch.cat(
                [batch["input_ids"], torch.tensor([cont_ids], dtype=torch.long)], dim=1
            )
            batch["attention_mask"] = torch.ones_like(batch["input_ids"])
            batch = self.model.to_device(batch)
            with torch.inference_mode(), timer("forward"):
                logits = self.model(**batch).logits[0, prompt_len - 1 : -1].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            target_ids = torch.tensor(cont_ids, device=logprobs.device)
            total = float(logprobs.gather(1, target_ids[:, None]).sum())
            greedy = bool((logprobs.argmax(-1) == target_ids).all())
            timer.add_span("model", start, timer.mark())
            stats.num_images, stats.num_frames = sample.prepared.num_images, sample.prepared.num_frames
            stats.visual_tokens = sample.prepared.visual_tokens_counted
            stats.input_tokens = int(batch["input_ids"].shape[1])
            latency = {
                "media_decode": sample.media_decode_ms,
                "preprocess": sample.preprocess_ms,
                **timer.results_ms(),
            }
            latency["end_to_end"] = latency["media_decode"] + latency["preprocess"] + latency.pop("model")
            stats.latency_ms = latency
            self._record(stats)
            results.append((total, greedy))
            self.cache_hook.add_partial("loglikelihood", (context, continuation), (total, greedy))
        return results

    def generate_until_multi_round(self, requests: list[Instance]) -> list[str]:
        raise NotImplementedError(
            f"{MODEL_NAME}: multi-round generation is not supported; use generate_until tasks"
        )

    def stats_dicts(self) -> list[dict[str, Any]]:
        """request_stats as plain dicts (JSON-serialisable)."""
        return [asdict(s) for s in self.request_stats]
