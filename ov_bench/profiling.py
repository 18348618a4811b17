"""Per-sample stage timing, peak memory and the environment a run was measured in.

CPU: ``time.perf_counter_ns``; peak memory is the process's peak resident set (VmHWM), reset
before each sample through /proc/self/clear_refs where the kernel allows it. CUDA: events
recorded around each stage, resolved with one synchronize per sample; peak memory from
``torch.cuda.max_memory_allocated`` with ``reset_peak_memory_stats`` before each sample.
"""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import sys
import time
from collections.abc import Iterator
from typing import Any

from ov_bench import __version__

STAGES = (
    "media_decode",
    "preprocess",
    "vision_encoder",
    "projector_packing",
    "prefill",
    "ttft",
    "decode",
    "decode_per_token",
    "end_to_end",
)
# The stages that follow one another and add up to end_to_end (stacked latency plots, paired deltas);
# ttft and decode_per_token are views of them.
SEQUENTIAL_STAGES = tuple(s for s in STAGES if s not in ("ttft", "decode_per_token", "end_to_end"))


class StageTimer:
    """Accumulates wall time per named stage; a stage entered twice adds up.

    ``timer.stage(name)`` is the context-manager factory the model adapters hand to the model
    (the reference model's ``stage_timer`` argument). ``begin``/``end`` exist for hook-based
    timing where a ``with`` block cannot be used. With ``cuda=True`` the stages are timed with
    CUDA events and resolved in :meth:`results_ms` (one synchronize).
    """

    enabled = True

    def __init__(self, cuda: bool = False) -> None:
        self.cuda = cuda
        self._open: dict[str, Any] = {}
        self._spans: list[tuple[str, Any, Any]] = []

    def _now(self) -> Any:
        if self.cuda:
            import torch

            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter_ns()

    def begin(self, name: str) -> None:
        self._open[name] = self._now()

    def end(self, name: str) -> None:
        start = self._open.pop(name, None)
        if start is not None:
            self._spans.append((name, start, self._now()))

    def mark(self) -> Any:
        """A timestamp (or CUDA event) usable with :meth:`add_span`."""
        return self._now()

    def add_span(self, name: str, start: Any, stop: Any) -> None:
        self._spans.append((name, start, stop))

    def first_stop(self, name: str) -> Any:
        """The end mark of the first span called ``name`` (None if there is none)."""
        return next((stop for n, _, stop in self._spans if n == name), None)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.begin(name)
        try:
            yield
        finally:
            self.end(name)

    def __call__(self, name: str) -> contextlib.AbstractContextManager:
        return self.stage(name)

    def results_ms(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.cuda and self._spans:
            import torch

            torch.cuda.synchronize()
        for name, start, stop in self._spans:
            ms = start.elapsed_time(stop) if self.cuda else (stop - start) / 1e6
            out[name] = out.get(name, 0.0) + ms
        return out


class NullTimer:
    """The unprofiled path: same interface, records nothing."""

    cuda = False
    enabled = False

    def begin(self, name: str) -> None:
        pass

    def end(self, name: str) -> None:
        pass

    def mark(self) -> None:
        return None

    def add_span(self, name: str, start: Any, stop: Any) -> None:
        pass

    def first_stop(self, name: str) -> None:
        return None

    def stage(self, name: str) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def __call__(self, name: str) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def results_ms(self) -> dict[str, float]:
        return {}


_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"


def _read_vmhwm() -> int | None:
    try:
        with open(_STATUS) as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _ru_maxrss() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # bytes on macOS, KiB on Linux


class MemoryTracker:
    """Peak memory of one sample.

    ``kind`` says what was measured: ``cuda_max_allocated`` (per sample), ``cpu_peak_rss``
    (per sample, VmHWM reset through clear_refs) or ``cpu_peak_rss_lifetime`` (the process's
    peak so far, when the kernel does not allow a reset). On CPU the figure covers the whole
    process, prefetch workers included.
    """

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")
        if self.cuda:
            self.kind = "cuda_max_allocated"
            self._device = device
        else:
            self.kind = "cpu_peak_rss" if self._can_reset_rss() else "cpu_peak_rss_lifetime"

    @staticmethod
    def _can_reset_rss() -> bool:
        if _read_vmhwm() is None:
            return False
        try:
            with open(_CLEAR_REFS, "w") as fh:
                fh.write("5")
            return True
        except OSError:
            return False

    def reset(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.reset_peak_memory_stats(self._device)
        elif self.kind == "cpu_peak_rss":
            try:
                with open(_CLEAR_REFS, "w") as fh:
                    fh.write("5")
            except OSError:
                self.kind = "cpu_peak_rss_lifetime"

    def peak_bytes(self) -> int:
        if self.cuda:
            import torch

            return int(torch.cuda.max_memory_allocated(self._device))
        if self.kind == "cpu_peak_rss":
            value = _read_vmhwm()
            if value is not None:
                return value
        return _ru_maxrss()


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: str, dtype: str) -> dict[str, Any]:
    """The environment block of results.json."""
    import torch
    import transformers

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "ov_bench": __version__,
        "platform": platform.platform(),
        "device": device,
        "dtype": dtype,
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": None,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
        env["cuda"] = torch.version.cuda
    return env


# ----------------------------------------------------------------- models split across devices
PER_DEVICE_KEY = "peak_memory_bytes_per_device"  # in a row's record (JSON): {device: bytes}


def cuda_devices(devices: list[str] | None) -> list[str]:
    """The CUDA devices among a model's devices ("cuda:0", ...), in order."""
    return [d for d in (devices or []) if str(d).startswith("cuda")]


class MultiDeviceStageTimer(StageTimer):
    """Stage times of a model spanning several GPUs: every device the model uses is synchronised at
    each mark, then the wall clock is read. (CUDA events time one device's stream; a stage whose work
    runs on GPU 3 would end early on GPU 0's clock.)"""

    def __init__(self, devices: list[str]) -> None:
        super().__init__(cuda=False)
        self.devices = list(devices)

    def _now(self) -> Any:
        import torch

        for device in self.devices:
            torch.cuda.synchronize(device)
        return time.perf_counter_ns()


class MultiDeviceMemoryTracker:
    """Peak allocated memory per GPU of a split model; ``peak_bytes`` is their sum and
    ``per_device`` the last sample's figures by device."""

    kind = "cuda_max_allocated_sum"

    def __init__(self, devices: list[str]) -> None:
        self.devices = list(devices)
        self.per_device: dict[str, int] = {}

    def reset(self) -> None:
        import torch

        for device in self.devices:
            torch.cuda.reset_peak_memory_stats(device)

    def peak_bytes(self) -> int:
        import torch

        self.per_device = {d: int(torch.cuda.max_memory_allocated(d)) for d in self.devices}
        return sum(self.per_device.values())


def stage_timer_for(cuda: bool, devices: list[str] | None = None) -> StageTimer:
    """The timer for a model on ``devices``: CUDA events on one GPU, synchronised wall time on several."""
    gpus = cuda_devices(devices)
    return MultiDeviceStageTimer(gpus) if len(gpus) > 1 else StageTimer(cuda=cuda)


def memory_tracker_for(device: str, devices: list[str] | None = None) -> Any:
    gpus = cuda_devices(devices)
    return MultiDeviceMemoryTracker(gpus) if len(gpus) > 1 else MemoryTracker(device)


def attach_per_device_peaks(row: Any, memory: Any) -> Any:
    """Put a split model's per-device peaks into the row's record (``peak_memory_bytes_per_device``)."""
    per_device = getattr(memory, "per_device", None)
    if per_device and getattr(row, "peak_memory_bytes", None) is not None:
        row.record = {**(row.record or {}), PER_DEVICE_KEY: dict(per_device)}
    return row
