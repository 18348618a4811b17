"""Matplotlib figures of a sweep and of a run (Agg backend, no display). Each builder returns the Figure
so callers and tests can check it (:func:`check_figure`) before it is saved.

Inputs are plain per-task (per-setting) numbers (built by ov_bench.reports.sweep_report and run_report),
so the figures do not know about the store or results.json. Axis numbers go through ``mdtable.fmt``
(thousands separators); legends sit outside the axes, so they never cover a bar; histograms of several
settings put their bars side by side per bin, so none hides another.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ov_bench.mdtable import fmt
from ov_bench.profiling import SEQUENTIAL_STAGES as STAGES

ACCURACY_X = "mean visual tokens per sample"
ACCURACY_Y = "mean score (95% CI)"
LATENCY_Y = "mean latency per sample (ms)"
MEMORY_Y = "peak memory (MiB)"
HIST_X = "visual tokens per sample"
HIST_Y = "samples"
SETTING_X = "setting"
TASK_X = "task"
MAX_BINS = 10  # histogram categories: distinct values up to this many, else this many ranges


@dataclass
class Point:
    """One setting of one task on the accuracy plot."""

    label: str
    tokens: float
    score: float
    low: float
    high: float


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _grid(n: int, width: float = 4.2, height: float = 3.4):
    plt = _pyplot()
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.remove()
    return fig, flat[:n]


def _people_numbers(ax: Any, x: bool = False, y: bool = True) -> None:
    """Tick labels through the reports' formatter (16,390, not 1.639e+04 or an offset)."""
    from matplotlib.ticker import FuncFormatter

    formatter = FuncFormatter(lambda value, _pos: fmt(float(value), digits=3))
    if x:
        ax.xaxis.set_major_formatter(formatter)
    if y:
        ax.yaxis.set_major_formatter(formatter)


def _legend_outside(fig: Any, axes: Sequence[Any], title: str, min_entries: int = 1) -> None:
    """One legend for the figure, right of the axes (saved with ``bbox_inches="tight"``), when it has at
    least ``min_entries`` entries."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    if len(seen) >= min_entries:
        fig.legend(
            list(seen.values()),
            list(seen),
            loc="upper left",
            bbox_to_anchor=(1.0, 0.92),
            fontsize=8,
            frameon=False,
            title=title,
            title_fontsize=8,
        )


def accuracy_vs_tokens(points: Mapping[str, Sequence[Point]]):
    """Per task: mean score against mean visual tokens, one point per setting, bootstrap CI bars."""
    tasks = [t for t, pts in points.items() if pts]
    if not tasks:
        raise ValueError("no scored samples to plot")
    fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks):
        pts = sorted(points[task], key=lambda p: p.tokens)
        xs = [p.tokens for p in pts]
        ys = [p.score for p in pts]
        yerr = [[max(p.score - p.low, 0.0) for p in pts], [max(p.high - p.score, 0.0) for p in pts]]
        ax.errorbar(xs, ys, yerr=yerr, marker="o", capsize=3, linewidth=1.2)
        labels: dict[tuple[float, float], list[str]] = {}
        for p in pts:  # settings with the same tokens and score share one label
            labels.setdefault((p.tokens, p.score), []).append(p.label)
        for (x, y), names in labels.items():
            ax.annotate(", ".join(names), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_title(task)
        ax.set_xlabel(ACCURACY_X)
        ax.set_ylabel(ACCURACY_Y)
        _people_numbers(ax, x=True)
        ax.grid(alpha=0.3)
    fig.suptitle("Accuracy against visual tokens per setting")
    fig.tight_layout()
    return fig


def latency_stages(latency: Mapping[str, Mapping[str, Mapping[str, float]]], settings: Sequence[str]):
    """Per task: stacked bars of the mean latency per stage, one bar per setting.

    ``latency[task][setting][stage]`` in ms."""
    tasks = [t for t in latency if any(latency[t].get(s) for s in settings)]
    if not tasks:
        raise ValueError("no latency to plot")
    fig, axes = _grid(len(tasks), width=4.6)
    for ax, task in zip(axes, tasks):
        labels = [s for s in settings if latency[task].get(s)]
        _stacked_stages(ax, labels, lambda s, stage, task=task: latency[task][s].get(stage))
        ax.set_title(task)
        ax.set_xlabel(SETTING_X)
        ax.set_ylabel(LATENCY_Y)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
        _people_numbers(ax)
    fig.suptitle("Latency by stage per setting")
    fig.tight_layout()
    _legend_outside(fig, axes, "stage")
    return fig


def _stacked_stages(ax: Any, labels: list[str], value_of: Any) -> None:
    """One bar per label, stacked by stage (stages without time anywhere left out of the legend)."""
    bottoms = [0.0] * len(labels)
    for stage in STAGES:
        values = [float(value_of(label, stage) or 0.0) for label in labels]
        if not any(values):
            continue
        ax.bar(labels, values, bottom=bottoms, label=stage)
        bottoms = [b + v for b, v in zip(bottoms, values)]


def latency_by_task(latency: Mapping[str, Mapping[str, float]]):
    """A run's stacked bars: the mean latency per stage (ms), one bar per task. ``latency[task][stage]``."""
    tasks = [t for t, stages in latency.items() if any(stages.get(s) for s in STAGES)]
    if not tasks:
        raise ValueError("no latency to plot")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(tasks) + 2.5), 3.6))
    _stacked_stages(ax, tasks, lambda t, stage: latency[t].get(stage))
    ax.set_xlabel(TASK_X)
    ax.set_ylabel(LATENCY_Y)
    ax.set_title("Latency per stage")
    ax.tick_params(axis="x", labelrotation=30 if len(tasks) > 4 else 0, labelsize=8)
    _people_numbers(ax)
    fig.tight_layout()
    _legend_outside(fig, [ax], "stage")
    return fig


def peak_memory(memory: Mapping[str, Mapping[str, float]], settings: Sequence[str]):
    """Grouped bars: peak memory (bytes) per setting, one bar per task."""
    tasks = [t for t in memory if any(memory[t].get(s) for s in settings)]
    if not tasks:
        raise ValueError("no memory figures to plot")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(settings) * max(len(tasks), 1) ** 0.5 + 3), 3.6))
    width = 0.8 / len(tasks)
    for i, task in enumerate(tasks):
        xs = [j + (i - (len(tasks) - 1) / 2) * width for j in range(len(settings))]
        values = [float(memory[task].get(s) or 0.0) / 2**20 for s in settings]
        ax.bar(xs, values, width=width, label=task)
    ax.set_xticks(range(len(settings)), list(settings), rotation=30, fontsize=7)
    ax.set_xlabel(SETTING_X)
    ax.set_ylabel(MEMORY_Y)
    ax.set_title("Peak memory per setting")
    _people_numbers(ax)
    fig.tight_layout()
    _legend_outside(fig, [ax], "task")
    return fig


def histogram_bins(values: Sequence[int]) -> tuple[list[str], Any]:
    """Categories for a histogram of counts: each distinct value when there are at most MAX_BINS of them,
    else MAX_BINS equal ranges. Returns the labels and a function value -> category index."""
    import numpy as np

    distinct = sorted(set(values))
    if len(distinct) <= MAX_BINS:
        index = {v: i for i, v in enumerate(distinct)}
        return [fmt(v) for v in distinct], lambda v: index[v]
    edges = np.histogram_bin_edges(values, bins=MAX_BINS)
    labels = [f"{fmt(round(lo))}-{fmt(round(hi))}" for lo, hi in zip(edges[:-1], edges[1:])]
    return labels, lambda v: min(int(np.searchsorted(edges, v, side="right")) - 1, MAX_BINS - 1)


def token_histograms(tokens: Mapping[str, Mapping[str, Sequence[int]]], settings: Sequence[str]):
    """Per task: the measured visual tokens per sample, binned alike for every setting, each setting's
    bar beside the others' in its bin."""
    tasks = [t for t in tokens if any(tokens[t].get(s) for s in settings)]
    if not tasks:
        raise ValueError("no visual-token counts to plot")
    from matplotlib.ticker import MaxNLocator

    fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks):
        present = [s for s in settings if tokens[task].get(s)]
        labels, bin_of = histogram_bins([v for s in present for v in tokens[task][s]])
        width = 0.8 / len(present)
        for j, s in enumerate(present):
            counts = [0] * len(labels)
            for v in tokens[task][s]:
                counts[bin_of(v)] += 1
            xs = [i + (j - (len(present) - 1) / 2) * width for i in range(len(labels))]
            ax.bar(xs, counts, width=width * 0.95, label=s)
        ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 3 else 0, fontsize=7)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(task)
        ax.set_xlabel(HIST_X)
        ax.set_ylabel(HIST_Y)
    fig.suptitle("Visual tokens per sample")
    fig.tight_layout()
    _legend_outside(fig, axes, "setting", min_entries=2)
    return fig


def axes_have_data(ax: Any) -> bool:
    """Something visible was drawn: a line with points, a bar/patch with area, or a collection."""
    for line in ax.get_lines():
        if len(line.get_xdata()) > 0:
            return True
    for patch in ax.patches:
        extents = patch.get_extents()  # display coordinates; a zero-height bar has none
        if extents.width > 0 and extents.height > 0:
            return True
    return any(len(c.get_offsets()) or len(c.get_paths()) for c in ax.collections)


def check_figure(fig: Any, xlabel: str, ylabel: str) -> None:
    """Raise ValueError unless every axes of ``fig`` has the expected labels and some data."""
    if not fig.axes:
        raise ValueError("figure has no axes")
    for ax in fig.axes:
        if ax.get_xlabel() != xlabel or ax.get_ylabel() != ylabel:
            raise ValueError(
                f"axes labels are ({ax.get_xlabel()!r}, {ax.get_ylabel()!r}), "
                f"expected ({xlabel!r}, {ylabel!r})"
            )
        if not axes_have_data(ax):
            raise ValueError(f"axes {ax.get_title()!r} has no data")


def png_bytes(fig: Any, dpi: int = 100) -> bytes:
    """The figure as PNG, cropped to what is drawn (legends outside the axes included)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.15)
    return buf.getvalue()


def close(fig: Any) -> None:
    _pyplot().close(fig)
