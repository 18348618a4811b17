"""One sample through the model: the one path `ov-bench run`, `ov-bench sweep` and the lmms-eval plugin share.

    Sample --prepare()--> Sample.prepared --run_model()--> SampleRow (scored when the sample has a task)

- :class:`Sample`: one doc of one task with what its preparation produced (or the error that stopped it).
- :func:`prepare`: media decode + preprocess (prefetch worker threads), each timed.
- :func:`run_model`: the model call(s) and the stage bookkeeping: ttft, decode_per_token, end_to_end,
  peak memory, a batch that fails as a whole run again one sample at a time, then scoring into the row.
  With ``encoded`` (an adapter's encode-once capability, used by the sweep) the visual features come from
  an earlier :meth:`EncodeOnce.encode` and the shared encoder stages are attributed to the row, so a
  sweep's row is what a plain run's row is, by construction.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from ov_bench.adapters.base import EncodeOnce, Generation, ModelAdapter, Prepared
from ov_bench.judge.scoring import score_sample
from ov_bench.outputs.store import SampleRow
from ov_bench.profiling import (
    NullTimer,
    StageTimer,
    attach_per_device_peaks,
    memory_tracker_for,
    stage_timer_for,
)
from ov_media.video import UNIFORM
from reference_model.families import time_instruction
from tasks.judging import JudgeError

log = logging.getLogger(__name__)

# Stages the encode-once capability measures once per sample and every setting's row shares.
ENCODER_STAGES = ("vision_encoder", "projector_packing")


def one_line(exc: BaseException) -> str:
    """An exception as ``Type: first line of its message`` (error rows, warnings)."""
    text = str(exc).strip().splitlines()
    msg = text[0] if text else ""
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


@dataclass
class Sample:
    """One doc on its way through the model."""

    task_name: str
    task: Any  # a tasks.Task (scores the response); None when the caller scores (lmms-eval)
    doc: dict
    doc_id: str
    seq: int  # position of the doc in the task's doc list
    frames: int | None  # video frames to decode (None: not a video task)
    max_new_tokens: int
    prepared: Prepared | None = None
    media_decode_ms: float | None = None
    preprocess_ms: float | None = None
    frame_indices: list[int] | None = None  # video: the decoded frame indices (the adapter's frame sampling)
    frame_times: list[float] | None = (
        None  # video: their times in seconds (as LLaVA-Video's path computes them)
    )
    error: str | None = None  # "<stage>: <reason>" when preparation failed
    media_warning: str | None = None  # media decoded, but not cleanly (a truncated image, as lmms-eval)
    extra: dict[str, Any] = field(default_factory=dict)  # the caller's own bookkeeping


@dataclass
class RowIdentity:
    """What every row of one run (or one sweep setting) is stored under."""

    model_key: str
    threshold: str  # outputs.store.threshold_key(tau)
    data_source: str
    rank: int = 0


@dataclass
class Measure:
    """How model calls are measured: stage timers and peak memory, or only end-to-end time. A model
    split over several GPUs (``devices``) is timed with every device synchronised and its peak memory
    summed over them (per device in the row's record)."""

    profile: bool
    memory: Any  # MemoryTracker, or MultiDeviceMemoryTracker for a split model
    cuda: bool = False
    devices: list[str] | None = None

    @classmethod
    def for_adapter(cls, profile: bool, adapter: ModelAdapter, device: str) -> Measure:
        devices = getattr(adapter, "devices", None)
        return cls(profile, memory_tracker_for(device, devices), device.startswith("cuda"), devices)

    def timer(self) -> StageTimer | NullTimer:
        return stage_timer_for(self.cuda, self.devices) if self.profile else NullTimer()

    def reset(self) -> None:
        if self.profile:
            self.memory.reset()

    def peak(self) -> int | None:
        return self.memory.peak_bytes() if self.profile else None


@dataclass
class Encoded:
    """Visual features encoded once (EncodeOnce.encode) and what encoding them cost."""

    features: Any
    stages_ms: dict[str, float]
    ms: float
    peak_bytes: int | None


def prepare(
    sample: Sample, adapter: ModelAdapter, decode_visuals: Any = None, strict_media: bool = False
) -> Sample:
    """Media decode + preprocess of one sample, timed, into the sample; errors become ``sample.error``.

    ``decode_visuals(sample) -> (question, images, video)`` overrides how media are read (the lmms-eval
    plugin reads lmms-eval's doc_to_visual); by default the task reads them (``load_visuals``).
    ``strict_media``: media that decoded only with a warning (a truncated image) are an error."""
    t0 = time.perf_counter_ns()
    try:
        if decode_visuals is not None:
            question, images, video = decode_visuals(sample)
        else:
            visuals = _load_visuals(sample, adapter)
            # the model's own task prompts (lmms-eval's llava_vid entry for LLaVA-Video checkpoints)
            question = sample.task.doc_to_text(sample.doc, adapter.prompt_model)
            images, video = list(visuals.images), visuals.video
            sample.media_warning = getattr(visuals, "media_warning", None)
    except Exception as exc:  # MediaError and anything a broken file triggers
        sample.error = f"media_decode: {one_line(exc)}"
        return sample
    t1 = time.perf_counter_ns()
    if sample.media_warning and strict_media:
        sample.error = f"media_decode: {sample.media_warning} (--strict-media)"
        return sample
    sample.media_decode_ms = (t1 - t0) / 1e6
    if video is not None:
        sample.frame_indices = list(video.indices)
        times = getattr(video, "times", None)
        sample.frame_times = None if times is None else [round(float(t), 6) for t in times]
    try:
        if video is not None and getattr(adapter, "time_instruction", False):
            question = with_time_instruction(question, video)
        sample.prepared = adapter.prepare(question, images, video)
    except Exception as exc:
        sample.error = f"preprocess: {one_line(exc)}"
        return sample
    sample.preprocess_ms = (time.perf_counter_ns() - t1) / 1e6
    return sample


def _load_visuals(sample: Sample, adapter: ModelAdapter) -> Any:
    """The task's visuals; a video task's frames chosen by the adapter's frame sampling (passed only when
    it is not plain uniform, so tasks that know uniform sampling only keep working)."""
    sampling = adapter.sampling() if hasattr(adapter, "sampling") else UNIFORM
    if sample.frames is not None and sampling != UNIFORM:
        return sample.task.load_visuals(sample.doc, frames=sample.frames, sampling=sampling)
    return sample.task.load_visuals(sample.doc, frames=sample.frames or 1)


def with_time_instruction(question: str, video: Any) -> str:
    """LLaVA-Video's time instruction on its own line before the question (lmms-eval's llava_vid:
    ``{time instruction}\n{question}``, after which the prompt puts the video placeholder first)."""
    if getattr(video, "times", None) is None or getattr(video, "duration", None) is None:
        raise ValueError(
            "the time instruction needs the video's frame rate, which its container does not declare"
        )
    return time_instruction(video.duration, video.times) + "\n" + question


def base_row(sample: Sample, identity: RowIdentity) -> SampleRow:
    """The row's identity and the sample's own (unbatched) stages; the error if it never got ready."""
    row = SampleRow(
        task=sample.task_name,
        doc_id=sample.doc_id,
        model_key=identity.model_key,
        threshold=identity.threshold,
        seq=sample.seq,
        data_source=identity.data_source,
        frames=sample.frames,
        max_new_tokens=sample.max_new_tokens,
        rank=identity.rank,
        frame_indices=None if sample.frame_indices is None else list(sample.frame_indices),
        frame_times=None if sample.frame_times is None else list(sample.frame_times),
    )
    if sample.media_decode_ms is not None:
        row.latency_ms["media_decode"] = sample.media_decode_ms
    if sample.preprocess_ms is not None:
        row.latency_ms["preprocess"] = sample.preprocess_ms
    row.error = sample.error
    return row


def score_into_row(row: SampleRow, task: Any, doc: dict, gen: Generation) -> SampleRow:
    """Response, token counts, the task's score and the analytic-vs-measured visual-token check."""
    # As lmms-eval's llava_onevision model, which produced the published numbers: the response is
    # stripped and the task's `until` strings are not applied (generation stops at <|im_end|>).
    row.response = gen.text.strip()
    row.new_tokens, row.prompt_tokens = gen.new_tokens, gen.prompt_tokens
    row.visual_tokens_measured = gen.visual_positions
    row.text_tokens = gen.prompt_tokens - gen.visual_positions
    if task is not None:
        try:  # inside a judge session when the run has a judge (its exchanges go on the row)
            record = score_sample(task, doc, row.response, row)
        except JudgeError as exc:  # the sample awaits the judge: rerunning judges it again
            row.error = (
                f"judge: {str(exc).strip().splitlines()[0] if str(exc).strip() else 'judge call failed'}"
            )
            return row
        except Exception as exc:
            row.error = f"score: {one_line(exc)}"
            return row
        row.record = record
        row.score = None if record.get("score") is None else float(record["score"])
        row.parsed = None if record.get("parsed") is None else str(record["parsed"])
        row.parse_failed = bool(record.get("parse_failed", False))
    counted = row.visual_tokens_counted
    if counted is not None and counted >= 0 and counted != row.visual_tokens_measured:
        row.error = f"visual_tokens: analytic count {counted} != measured {row.visual_tokens_measured}"
    return row


def _model_failed(row: SampleRow, exc: BaseException, cuda: bool) -> SampleRow:
    row.error = f"model: {one_line(exc)}"
    if cuda:
        import torch

        torch.cuda.empty_cache()
    return row


def _finish(
    row: SampleRow,
    sample: Sample,
    gen: Generation,
    model_ms: float,
    stages: dict[str, float] | None,
    peak: int | None,
    measure: Measure,
    decode_steps: int,
) -> SampleRow:
    """Model outputs, timings and the score into ``row``. ``stages`` and ``model_ms`` are the model call's:
    one sample's, or with batching the whole batch's."""
    latency = row.latency_ms
    if stages is not None:
        latency.update(stages)
        row.peak_memory_bytes = peak
        row.memory_kind = measure.memory.kind
        if "decode" in latency:
            latency["decode_per_token"] = latency["decode"] / max(decode_steps, 1)
    latency["end_to_end"] = latency.get("media_decode", 0.0) + latency.get("preprocess", 0.0) + model_ms
    row.visual_tokens_counted = sample.prepared.visual_tokens_counted
    row = score_into_row(row, sample.task, sample.doc, gen)
    _record_warnings(row, sample, gen)
    if row.record is not None:  # the text prompt the model got, for the reports' examples
        row.record["prompt"] = sample.prepared.prompt
    return attach_per_device_peaks(row, measure.memory)


def _record_warnings(row: SampleRow, sample: Sample, gen: Generation) -> None:
    """What decoded or ran only with a caveat, kept in the row's record: the media's warning (a truncated
    image decoded as lmms-eval decodes it) and the model's (placeholder / image count mismatches)."""
    if row.record is None:
        return
    if sample.media_warning:
        row.record["media_warning"] = sample.media_warning
    if gen.extra.get("warnings"):
        row.record["warnings"] = list(gen.extra["warnings"])


def _with_encoder(stages: dict[str, float], encoded: Encoded) -> dict[str, float]:
    """A generation's stages plus the shared encoder's, as one plain call would have measured them."""
    out = dict(stages)
    shared = 0.0
    for name in ENCODER_STAGES:
        value = encoded.stages_ms.get(name, 0.0)
        out[name] = out.get(name, 0.0) + value
        shared += value
    if "ttft" in out:
        out["ttft"] += shared  # the first token waited for the encoder too
    return out


def _run_one(
    adapter: ModelAdapter,
    sample: Sample,
    row: SampleRow,
    measure: Measure,
    encoded: Encoded | None,
    encoder: EncodeOnce | None,
) -> SampleRow:
    timer = measure.timer()
    measure.reset()
    t0 = time.perf_counter_ns()
    try:
        if encoded is not None:
            gen = encoder.generate_encoded(sample.prepared, encoded.features, sample.max_new_tokens, timer)
        else:
            gen = adapter.generate(sample.prepared, sample.max_new_tokens, timer)
    except Exception as exc:
        return _model_failed(row, exc, measure.cuda)
    model_ms = (time.perf_counter_ns() - t0) / 1e6
    stages = adapter.finish_stages(timer.results_ms()) if measure.profile else None
    peak = measure.peak()
    if encoded is not None:
        model_ms += encoded.ms
        if stages is not None:
            stages = _with_encoder(stages, encoded)
            peak = max(encoded.peak_bytes or 0, peak or 0)
    return _finish(row, sample, gen, model_ms, stages, peak, measure, gen.new_tokens - 1)


def run_model(
    adapter: ModelAdapter,
    samples: list[Sample],
    identity: RowIdentity,
    measure: Measure,
    encoded: Encoded | None = None,
) -> list[SampleRow]:
    """Rows for prepared samples of one task: one ``generate`` (one sample), one ``generate_batch`` (several;
    every row gets the batch's stage latencies and peak memory, ``batch_size`` says so; a batch that fails
    as a whole runs again one sample at a time, so only a sample that fails alone is an error), or, with
    ``encoded``, one generation from already encoded visuals (a single sample)."""
    rows = [base_row(s, identity) for s in samples]
    if any(r.error for r in rows):
        raise ValueError("run_model takes prepared samples only (error samples are final rows: base_row)")
    for row, sample in zip(rows, samples):
        row.visual_tokens_counted = sample.prepared.visual_tokens_counted
    if encoded is not None:
        if len(samples) != 1:
            raise ValueError("generation from encoded visuals takes one sample")
        return [_run_one(adapter, samples[0], rows[0], measure, encoded, adapter.encode_once())]
    if len(samples) == 1:
        return [_run_one(adapter, samples[0], rows[0], measure, None, None)]
    timer = measure.timer()
    measure.reset()
    t0 = time.perf_counter_ns()
    try:
        gens = adapter.generate_batch([s.prepared for s in samples], samples[0].max_new_tokens, timer)
        if len(gens) != len(samples):
            raise RuntimeError(f"generate_batch returned {len(gens)} results for {len(samples)} samples")
    except Exception as exc:
        log.warning(
            "a batch of %d %s samples failed (%s); running them one at a time",
            len(samples),
            samples[0].task_name,
            one_line(exc),
        )
        if measure.cuda:
            import torch

            torch.cuda.empty_cache()
        return [_run_one(adapter, s, r, measure, None, None) for s, r in zip(samples, rows)]
    model_ms = (time.perf_counter_ns() - t0) / 1e6
    stages = adapter.finish_stages(timer.results_ms()) if measure.profile else None
    peak = measure.peak()
    decode_steps = max(g.new_tokens for g in gens) - 1  # the batch decodes until its longest row stops
    out = []
    for sample, row, gen in zip(samples, rows, gens):
        row.batch_size = len(samples)
        out.append(
            _finish(
                row,
                sample,
                gen,
                model_ms,
                dict(stages) if stages is not None else None,
                peak,
                measure,
                decode_steps,
            )
        )
    return out


def encode(adapter: ModelAdapter, sample: Sample, measure: Measure) -> Encoded:
    """Encode a prepared sample's visuals once (the adapter's encode-once capability), timed."""
    encoder = adapter.encode_once()
    if encoder is None:
        raise TypeError(f"the {adapter.kind} adapter cannot encode visuals once")
    timer = measure.timer()
    measure.reset()
    t0 = time.perf_counter_ns()
    features = encoder.encode(sample.prepared, timer)
    ms = (time.perf_counter_ns() - t0) / 1e6
    return Encoded(features, timer.results_ms(), ms, measure.peak())
