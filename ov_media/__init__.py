"""Media shared by training (reference_model.training) and evaluation (tasks): the one video frame
sampler, the one video writer and the one MediaError.

reference_model and tasks may not import each other; both import this small package, so training
samples a video's frames exactly as evaluation does. Nothing heavy is imported here (PyAV and numpy
load inside ov_media.video's functions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


class MediaError(ValueError):
    """One item's media cannot be read: a missing file, a corrupt image, a missing or truncated video."""


@dataclass
class VideoClip:
    """Frames sampled from one video (ov_media.video.sample_frames)."""

    frames: np.ndarray  # uint8 [F, H, W, 3]
    indices: list[int]  # frame indices used (uniform: int(x) for x in linspace(0, N-1, F))
    total_frames: int
    fps: float
    path: str
    # Seconds of each used frame and of the whole video, as LLaVA-Video's evaluated path computes them
    # (ov_media.video.sampled_indices); None where the fps is unknown.
    times: list[float] | None = None
    duration: float | None = None
    sampling: str = (
        "uniform"  # the frame sampling mode that chose the indices (ov_media.video.SAMPLING_MODES)
    )


__all__ = ["MediaError", "VideoClip"]
