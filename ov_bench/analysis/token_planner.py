"""Token budget planner: visual tokens per threshold from image sizes alone, and what they cost.

No model and no pixel decoding: image sizes come from headers (``task.image_sizes(doc)``, or
:func:`image_size_of_file` for files), counts from ``reference_model.count_prompt_visual_tokens``,
the same arithmetic the processor uses to expand placeholders (so the planner's counts are the
model's measured visual positions; tests hold them against the tiny model's ``generate``).

Cost formulas (matrix multiplies only; norms, activations, softmax and biases are ignored):

LLM prefill of ``s`` tokens (Qwen2, hidden ``h``, ``L`` layers, MLP ``m``, KV width
``kv = kv_heads * head_dim``, vocabulary ``V``)::

    P      = L * (2*h*h + 2*h*kv + 3*h*m)          # non-embedding weights: q, o, k, v, gate/up/down
    FLOPs  = 2 * P * s                              # every weight multiplies every prompt token once
           + 2 * L * s**2 * h                       # causal attention: QK^T and AV over s*s/2 pairs
           + 2 * h * V                              # lm_head on the last position only (greedy prefill)

Vision per 384x384 crop (SigLIP so400m: ``n = 729`` patches, width ``d = 1152``, MLP ``f = 4304``,
``Lv = 26`` layers; projector to the LLM width ``h``)::

    FLOPs  = 2*n*(3*14*14)*d                        # patch embedding
           + Lv * (2*n*(4*d*d + 2*d*f) + 4*n*n*d)   # projections + full (bidirectional) attention
           + 2*n*(d*h + h*h)                        # mlp2x_gelu projector

Crops per prompt: one image -> 1 base view + gh*gw grid crops (the AnyRes grid chosen for its size);
several images -> one crop each; a video -> one per frame.

Video frames: F with uniform sampling; with fps sampling (LLaVA-Video) the count the sampler gives the
doc's video (ov_media.video.frames_for: 1 fps capped at F), from N and the frame rate its container
header declares (ov_media.video.video_header: stream metadata, no frame decoded).

KV cache of ``s`` tokens: ``2 * L * kv_heads * head_dim * s * bytes_per_elem`` (K and V).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ov_bench.mdtable import BYTES, md_table
from ov_media.video import frames_for
from reference_model import count_prompt_visual_tokens, preset_config
from reference_model.anyres import CROP, select_best_resolution
from reference_model.config import default_grid_pinpoints
from reference_model.processor import IMAGE_PLACEHOLDER, VIDEO_PLACEHOLDER, build_prompt
from reference_model.qwen2_tokenizer import SPECIAL_TOKENS, load_qwen2_backend

ARCHS = ("0.5b", "7b", "72b")
MAX_ERRORS_LISTED = 5  # unreadable docs named per task in the plan (all are counted)
CHANNELS = 3


# --------------------------------------------------------------------------- counting
@lru_cache(maxsize=65536)
def _count(
    sizes: tuple[tuple[int, int], ...],
    frames: tuple[int, ...],
    tau: int | None,
    rounding: str,
    layout: tuple = (),
) -> int:
    return count_prompt_visual_tokens(
        list(sizes), list(frames), max_grid_tokens=tau, unpad_rounding=rounding, **dict(layout)
    )


def count_visual_tokens(
    image_sizes: Sequence[tuple[int, int]],
    video_frames: Sequence[int] = (),
    *,
    max_grid_tokens: int | None,
    unpad_rounding: str = "original",
    layout: tuple = (),
) -> int:
    """Visual tokens of one prompt (reference_model.count_prompt_visual_tokens, memoised by size).
    ``layout``: (name, value) pairs of its layout keywords (ModelSpec.planner_layout)."""
    sizes = tuple((int(w), int(h)) for w, h in image_sizes)
    return _count(sizes, tuple(int(f) for f in video_frames), max_grid_tokens, unpad_rounding, tuple(layout))


@lru_cache(maxsize=65536)
def _grid_crops(width: int, height: int, grid_pinpoints: tuple | None = None) -> int:
    best_w, best_h = select_best_resolution(width, height, grid_pinpoints or default_grid_pinpoints())
    return (best_w // CROP) * (best_h // CROP)


def count_crops(
    image_sizes: Sequence[tuple[int, int]],
    video_frames: Sequence[int] = (),
    grid_pinpoints: tuple | None = None,
) -> int:
    """384x384 inputs the vision encoder sees for one prompt (independent of tau)."""
    if len(image_sizes) == 1:
        w, h = image_sizes[0]
        images = 1 + _grid_crops(int(w), int(h), grid_pinpoints)
    else:
        images = len(image_sizes)
    return images + sum(int(f) for f in video_frames)


def image_size_of_file(path: str | Path) -> tuple[int, int]:
    """(width, height) from the file's header: PIL opens lazily and reads no pixel data."""
    from PIL import Image

    with Image.open(path) as img:
        return img.size


def plan_image_files(
    paths: Iterable[str | Path], thresholds: Sequence[int | None], unpad_rounding: str = "original"
) -> dict[int | None, list[int]]:
    """Visual tokens of each image file (one image per prompt) at each threshold, from headers only."""
    counts: dict[int | None, list[int]] = {t: [] for t in thresholds}
    for path in paths:
        size = (image_size_of_file(path),)
        for tau in thresholds:
            counts[tau].append(_count(size, (), tau, unpad_rounding))
    return counts


# --------------------------------------------------------------------------- costs
@dataclass(frozen=True)
class Architecture:
    """The shapes the cost formulas need (from reference_model.config presets)."""

    name: str
    hidden: int
    layers: int
    intermediate: int
    heads: int
    kv_heads: int
    vocab: int
    vision_hidden: int
    vision_layers: int
    vision_intermediate: int
    image_size: int
    patch_size: int

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def nonembedding_params(self) -> int:
        h, kv = self.hidden, self.kv_heads * self.head_dim
        return self.layers * (2 * h * h + 2 * h * kv + 3 * h * self.intermediate)

    @classmethod
    def from_preset(cls, spec: str) -> Architecture:
        cfg = preset_config(spec)
        t, v = cfg.text, cfg.vision
        return cls(
            spec.removeprefix("arch:"),
            t.hidden_size,
            t.num_hidden_layers,
            t.intermediate_size,
            t.num_attention_heads,
            t.num_key_value_heads,
            t.vocab_size,
            v.hidden_size,
            v.num_hidden_layers,
            v.intermediate_size,
            v.image_size,
            v.patch_size,
        )


def llm_prefill_flops(arch: Architecture, seq: int) -> float:
    """2*P*s + 2*L*s^2*h + 2*h*V (see the module docstring)."""
    s = float(seq)
    return (
        2.0 * arch.nonembedding_params * s
        + 2.0 * arch.layers * s * s * arch.hidden
        + 2.0 * arch.hidden * arch.vocab
    )


def vision_flops_per_crop(arch: Architecture) -> float:
    """SigLIP tower + projector FLOPs for one 384x384 crop (see the module docstring)."""
    n = (arch.image_size // arch.patch_size) ** 2
    d, f, h = arch.vision_hidden, arch.vision_intermediate, arch.hidden
    embed = 2.0 * n * CHANNELS * arch.patch_size**2 * d
    layer = 2.0 * n * (4 * d * d + 2 * d * f) + 4.0 * n * n * d
    projector = 2.0 * n * (d * h + h * h)
    return embed + arch.vision_layers * layer + projector


def kv_cache_bytes(arch: Architecture, seq: int, bytes_per_elem: int = 2) -> int:
    """2 (K and V) * layers * kv_heads * head_dim * seq * bytes per element."""
    return 2 * arch.layers * arch.kv_heads * arch.head_dim * int(seq) * int(bytes_per_elem)


# --------------------------------------------------------------------------- dataset plans
@dataclass
class Distribution:
    n: int
    mean: float | None
    p50: float | None
    p90: float | None
    max: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution:
        if not values:
            return cls(0, None, None, None, None)
        import numpy as np

        arr = np.asarray(values, dtype=np.float64)
        return cls(
            len(arr),
            float(arr.mean()),
            float(np.percentile(arr, 50)),
            float(np.percentile(arr, 90)),
            float(arr.max()),
        )


@dataclass
class ArchCost:
    arch: str
    prefill_flops_mean: float  # LLM, per prompt
    vision_flops_mean: float  # vision tower + projector, per prompt
    kv_cache_bytes_mean: float
    kv_cache_bytes_max: int


@dataclass
class PlanRow:
    """One task at one setting (a threshold for images, a frame count for video)."""

    task: str
    modality: str
    threshold: int | None
    frames: int | None  # video: F, the frame count (uniform) or cap (fps)
    n: int
    errors: int
    visual_tokens: Distribution
    text_tokens_mean: float | None
    crops_mean: float | None
    costs: list[ArchCost] = field(default_factory=list)
    # The first MAX_ERRORS_LISTED unreadable docs: {"doc_id", "error"}.
    error_docs: list[dict[str, str]] = field(default_factory=list)
    frame_sampling: str | None = None  # video: uniform | fps
    frames_mean: float | None = None  # video: frames per doc the sampling gives (F for uniform)

    @property
    def setting(self) -> str:
        tau = "none" if self.threshold is None else str(self.threshold)
        if self.frames is not None:
            return f"fps, F<={self.frames}" if self.frame_sampling == "fps" else f"F={self.frames}"
        return f"tau={tau}"


@dataclass
class DocShape:
    """What the planner needs of one doc."""

    doc_id: str
    image_sizes: list[tuple[int, int]]
    has_video: bool
    text_tokens: int
    error: str | None = None
    video_header: tuple[int, float] | None = None  # (N, fps) from the container header (fps sampling only)

    def frames(self, cap: int, sampling: Any = None) -> int:
        """Frames the sampling gives this doc's video at cap F (F without a header: uniform)."""
        if self.video_header is None or sampling is None or sampling.mode == "uniform":
            return cap

        return frames_for(self.video_header[0], self.video_header[1], cap, sampling)


_PIECE_COUNTS: dict[
    str, int
] = {}  # text between special tokens -> Qwen2 tokens (chat-template pieces repeat)


def count_text_tokens(prompts: Sequence[str]) -> list[int]:
    """Exact Qwen2 text tokens of each chat prompt (the tokenizer of the 0.5B, 7B and 72B
    architectures), as the processor tokenizes it; ``<image>`` / ``<video>`` placeholders count 0
    (they become visual tokens), the ChatML special tokens 1 each.

    The tokenizer splits its input at special tokens before normalising and pre-tokenizing, so the
    text between them is counted piece by piece; pieces that repeat (the system prompt, the role
    names) are counted once."""
    placeholders = {IMAGE_PLACEHOLDER, VIDEO_PLACEHOLDER}
    pattern = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")
    counts = [0] * len(prompts)
    pending: dict[str, list[int]] = {}  # new piece -> prompts holding it (with repeats)
    for i, prompt in enumerate(prompts):
        for piece in pattern.split(prompt):
            if not piece or piece in placeholders:
                continue
            if piece in SPECIAL_TOKENS:
                counts[i] += 1
            elif piece in _PIECE_COUNTS:
                counts[i] += _PIECE_COUNTS[piece]
            else:
                pending.setdefault(piece, []).append(i)
    if pending:
        pieces = list(pending)
        # One batched call: the per-call overhead of the Python tokenizer wrapper dominates otherwise.
        encodings = load_qwen2_backend().encode_batch(pieces, add_special_tokens=False)
        if len(_PIECE_COUNTS) > 100_000:
            _PIECE_COUNTS.clear()
        for piece, encoding in zip(pieces, encodings):
            n = len(encoding.ids)
            if len(pending[piece]) > 1:
                _PIECE_COUNTS[piece] = n
            for i in pending[piece]:
                counts[i] += n
    return counts


def doc_shapes(
    task: Any,
    docs: Sequence[dict],
    text_tokens: int | None = None,
    sampling: Any = None,
    prompt_model: str | None = None,
) -> list[DocShape]:
    """Image sizes (headers only) and the text tokens per doc; unreadable docs become errors.

    ``text_tokens``: a fixed count per prompt, or None to count the chat prompt's Qwen2 tokens (with the
    task prompts of ``prompt_model``, the checkpoint's lmms-eval model: see ``Task.doc_to_text``).
    ``sampling`` (an ov_media.video.FrameSampling): with ``fps``, each video's N and fps are read from
    its container header (no decoding) so its frame count is exact."""
    video = task.modality == "video"
    shapes, prompts = [], []
    for doc in docs:
        doc_id = str(task.doc_id(doc))
        try:
            sizes = [] if video else [tuple(s) for s in task.image_sizes(doc)]
            header = None
            # frame folders always take the linspace (F frames), as the sampler does
            frame_folder = getattr(task, "is_frame_folder", lambda d: False)(doc)
            if video and sampling is not None and sampling.mode != "uniform" and not frame_folder:
                h = task.video_header(doc)
                header = (h.total_frames, h.fps)
            prompt = (
                build_prompt(task.doc_to_text(doc, prompt_model), num_images=len(sizes), video=video)
                if text_tokens is None
                else ""
            )
        except Exception as exc:  # a corrupt header: skipped and counted, as a run would record an error
            shapes.append(DocShape(doc_id, [], video, 0, f"{type(exc).__name__}: {exc}"))
            continue
        shapes.append(
            DocShape(
                doc_id, sizes, video, 0 if text_tokens is None else int(text_tokens), video_header=header
            )
        )
        prompts.append(prompt)
    if text_tokens is None:
        ok = [s for s in shapes if s.error is None]
        for shape, n_text in zip(ok, count_text_tokens(prompts)):
            shape.text_tokens = n_text
    return shapes


def plan_shapes(
    task_name: str,
    modality: str,
    shapes: Sequence[DocShape],
    thresholds: Sequence[int | None],
    frames: Sequence[int],
    archs: Sequence[Architecture],
    unpad_rounding: str = "original",
    kv_bytes_per_elem: int = 2,
    layout: tuple = (),
    sampling: Any = None,
) -> list[PlanRow]:
    """Rows per setting: thresholds for image tasks, frame counts (caps with fps ``sampling``) for video."""
    ok = [s for s in shapes if s.error is None]
    errors = len(shapes) - len(ok)
    error_docs = [{"doc_id": s.doc_id, "error": s.error} for s in shapes if s.error is not None][
        :MAX_ERRORS_LISTED
    ]
    settings: list[tuple[int | None, int | None]]
    if modality == "video":
        settings = [(None, f) for f in frames]
    else:
        settings = [(t, None) for t in thresholds]
    rows = []
    for tau, n_frames in settings:
        vids = {
            id(s): ([s.frames(n_frames, sampling)] if s.has_video and n_frames is not None else [])
            for s in ok
        }
        visual = [
            count_visual_tokens(
                s.image_sizes, vids[id(s)], max_grid_tokens=tau, unpad_rounding=unpad_rounding, layout=layout
            )
            for s in ok
        ]
        crops = [count_crops(s.image_sizes, vids[id(s)], dict(layout).get("grid_pinpoints")) for s in ok]
        video_frames = [sum(vids[id(s)]) for s in ok if s.has_video]
        seqs = [v + s.text_tokens for v, s in zip(visual, ok)]
        costs = []
        for arch in archs:
            if not ok:
                break
            per_crop = vision_flops_per_crop(arch)
            costs.append(
                ArchCost(
                    arch=arch.name,
                    prefill_flops_mean=sum(llm_prefill_flops(arch, s) for s in seqs) / len(seqs),
                    vision_flops_mean=per_crop * sum(crops) / len(crops),
                    kv_cache_bytes_mean=sum(kv_cache_bytes(arch, s, kv_bytes_per_elem) for s in seqs)
                    / len(seqs),
                    kv_cache_bytes_max=max(kv_cache_bytes(arch, s, kv_bytes_per_elem) for s in seqs),
                )
            )
        rows.append(
            PlanRow(
                task=task_name,
                modality=modality,
                threshold=tau if modality != "video" else None,
                frames=n_frames,
                n=len(ok),
                errors=errors,
                visual_tokens=Distribution.of(visual),
                text_tokens_mean=(sum(s.text_tokens for s in ok) / len(ok)) if ok else None,
                crops_mean=(sum(crops) / len(crops)) if crops else None,
                costs=costs,
                error_docs=error_docs,
                frame_sampling=(sampling.mode if sampling is not None else "uniform")
                if modality == "video"
                else None,
                frames_mean=(sum(video_frames) / len(video_frames)) if video_frames else None,
            )
        )
    return rows


def plan_task(
    task: Any,
    docs: Sequence[dict],
    thresholds: Sequence[int | None],
    frames: Sequence[int],
    archs: Sequence[str] = ARCHS,
    unpad_rounding: str = "original",
    text_tokens: int | None = None,
    kv_bytes_per_elem: int = 2,
    layout: tuple = (),
    sampling: Any = None,
    prompt_model: str | None = None,
) -> list[PlanRow]:
    """The planner for one task's docs (see :func:`plan_shapes`)."""
    shapes = doc_shapes(task, docs, text_tokens, sampling if task.modality == "video" else None, prompt_model)
    arch_objs = [Architecture.from_preset(a) for a in archs]
    return plan_shapes(
        task.name,
        task.modality,
        shapes,
        thresholds,
        frames,
        arch_objs,
        unpad_rounding,
        kv_bytes_per_elem,
        layout,
        sampling,
    )


def plan_as_dict(rows: Sequence[PlanRow]) -> list[dict[str, Any]]:
    return [{**asdict(r), "setting": r.setting} for r in rows]


def _si(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()


def render_plan(rows: Sequence[PlanRow]) -> str:
    """Markdown tables: token distribution per task and setting, then costs per architecture."""
    dist = [
        [
            r.task,
            r.setting,
            r.n,
            r.errors,
            r.visual_tokens.mean,
            r.visual_tokens.p50,
            r.visual_tokens.p90,
            r.visual_tokens.max,
            r.crops_mean,
            r.text_tokens_mean,
        ]
        for r in rows
    ]
    out = [
        "## Visual tokens per prompt",
        "",
        md_table(
            ["task", "setting", "n", "errors", "mean", "p50", "p90", "max", "crops (mean)", "text tokens"],
            dist,
        ),
        "",
    ]
    archs = [c.arch for c in rows[0].costs] if rows and rows[0].costs else []
    if archs:
        out += [
            "## Predicted cost per prompt",
            "",
            "LLM prefill FLOPs = 2*P*s + 2*L*s^2*h + 2*h*V; vision = SigLIP so400m + projector per crop; "
            "KV cache = 2*L*kv_heads*head_dim*s*bytes (see `ov_bench.analysis.token_planner`). "
            "s = visual tokens + text tokens (Qwen2's tokenizer, or --text-tokens).",
            "",
        ]
        header = ["task", "setting"]
        for a in archs:
            header += [f"{a} prefill", f"{a} vision", f"{a} KV mean", f"{a} KV max"]
        table = []
        for r in rows:
            line: list[Any] = [r.task, r.setting]
            for c in r.costs:
                line += [
                    _si(c.prefill_flops_mean, "FLOP"),
                    _si(c.vision_flops_mean, "FLOP"),
                    c.kv_cache_bytes_mean,
                    c.kv_cache_bytes_max,
                ]
            table.append(line)
        units = [None, None] + [None, None, BYTES, BYTES] * len(archs)  # KV cache sizes in MiB/GiB
        out += [md_table(header, table, units=units), ""]
    out += _render_errors(rows)
    return "\n".join(out)


def _render_errors(rows: Sequence[PlanRow]) -> list[str]:
    """The unreadable docs of each task (the first few, with reasons), once per task."""
    first = {}
    for r in rows:
        first.setdefault(r.task, r)
    failed = [r for r in first.values() if r.errors]
    if not failed:
        return []

    total = sum(r.errors for r in failed)
    table = [[r.task, e["doc_id"], e["error"].replace("|", "\\|")] for r in failed for e in r.error_docs]
    out = [
        f"## Errors ({total}: docs left out of the counts)",
        "",
        md_table(["task", "doc_id", "error"], table),
    ]
    for r in failed:
        if r.errors > len(r.error_docs):
            out.append(f"\n{r.task}: ... and {r.errors - len(r.error_docs)} more")
    return out + [""]
