"""Matplotlib figures of a sweep (Agg backend, no display). Each builder returns the Figure so
callers and tests can check it (:func:`check_figure`) before it is saved.

Inputs are plain per-task, per-setting numbers (built by ov_bench.reports.sweep_report), so the figures do
not know about the store or results.json.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ov_bench.profiling import SEQUENTIAL_STAGES as STAGES

ACCURACY_X = "mean visual tokens per sample"
ACCURACY_Y = "mean score (95% CI)"
LATENCY_Y = "mean latency per sample (ms)"
MEMORY_Y = "peak memory (MiB)"
HIST_X = "visual tokens per sample"
HIST_Y = "samples"
SETTING_X = "setting"


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
        bottoms = [0.0] * len(labels)
        for stage in STAGES:
            values = [float(latency[task][s].get(stage) or 0.0) for s in labels]
            if not any(values):
                continue
            ax.bar(labels, values, bottom=bottoms, label=stage)
            bottoms = [b + v for b, v in zip(bottoms, values)]
        ax.set_title(task)
        ax.set_xlabel(SETTING_X)
        ax.set_ylabel(LATENCY_Y)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
        ax.legend(fontsize=6)
    fig.suptitle("Latency by stage per setting")
    fig.tight_layout()
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
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def token_histograms(tokens: Mapping[str, Mapping[str, Sequence[int]]], settings: Sequence[str]):
    """Per task: step histograms of the measured visual tokens per sample, one per setting."""
    tasks = [t for t in tokens if any(tokens[t].get(s) for s in settings)]
    if not tasks:
        raise ValueError("no visual-token counts to plot")
    import numpy as np

    fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks):
        values = [v for s in settings for v in tokens[task].get(s, [])]
        edges = np.histogram_bin_edges(values, bins=min(20, max(len(set(values)), 1)))
        if len(set(values)) == 1:
            edges = np.array([values[0] - 0.5, values[0] + 0.5])
        for s in settings:
            data = tokens[task].get(s)
            if data:
                ax.hist(data, bins=edges, histtype="step", linewidth=1.4, label=s)
        ax.set_title(task)
        ax.set_xlabel(HIST_X)
        ax.set_ylabel(HIST_Y)
        ax.legend(fontsize=6)
    fig.suptitle("Visual tokens per sample")
    fig.tight_layout()
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
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def close(fig: Any) -> None:
    _pyplot().close(fig)
