"""Video sources that are not a single video file: folders of frames.

MVBench's episodic_reasoning (TVQA) ships each clip as a folder of JPEG frames already extracted at
3 fps (`tvqa/video_fps3_hq_segment/<clip>/*.jpg`). It is read as a video of N = number of frames at
3 fps: the frames sorted by name (numbered files in the hub's layout), F of them taken at lmms-eval's
uniform indices int(x) for x in linspace(0, N-1, F), each decoded to RGB, in either frame sampling
mode (lmms-eval's llava_vid takes the linspace over a frame folder too), timed i / 3 s.
"""

from __future__ import annotations

import os
from pathlib import Path

# FRAME_FOLDER_FPS: 3 fps, one constant for both readers
from ov_media.video import FRAME_FOLDER_FPS, uniform_indices
from tasks.records import MediaError, VideoClip

FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png")


def frame_files(folder: str | os.PathLike) -> list[Path]:
    """The frame images of a frame folder, in frame order (natural sort of their names)."""
    import re

    def natural(p: Path) -> list:
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]

    files = [p for p in Path(folder).iterdir() if p.suffix.lower() in FRAME_EXTENSIONS and p.is_file()]
    return sorted(files, key=natural)


def sample_frame_folder(
    folder: str | os.PathLike,
    num_frames: int = 32,
    fps: float = FRAME_FOLDER_FPS,
    sampling_mode: str = "uniform",
) -> VideoClip:
    """F uniformly spaced frames of a frame folder as uint8 RGB [F, H, W, 3], timed at ``fps``."""
    import numpy as np
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise MediaError(f"frame folder not found: {folder}")
    files = frame_files(folder)
    if not files:
        raise MediaError(f"no frames (*.jpg, *.png) in {folder}")
    indices = uniform_indices(len(files), num_frames)
    decoded: dict[int, np.ndarray] = {}
    try:
        for i in dict.fromkeys(indices):
            with Image.open(files[i]) as im:
                decoded[i] = np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as e:
        raise MediaError(
            f"cannot decode frame {files[i].name} of {folder} ({type(e).__name__}: {e})"
        ) from None
    shapes = {a.shape for a in decoded.values()}
    if len(shapes) != 1:
        raise MediaError(f"frames of {folder} differ in size: {sorted(shapes)}")
    frames = np.stack([decoded[i] for i in indices])
    return VideoClip(
        frames=frames,
        indices=indices,
        total_frames=len(files),
        fps=fps,
        path=str(folder),
        times=[i / fps for i in indices],
        duration=len(files) / fps,
        sampling=sampling_mode,
    )
