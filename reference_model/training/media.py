"""Media for training records: image sizes and pixels; videos through ov_media, the sampler evaluation uses.

A video is a file PyAV can decode (mp4, webm, avi ...) or a directory of frame images (sorted by
name). Frames are sampled exactly as at evaluation (ov_media.video.sample_frames): F indices
``int(x) for x in linspace(0, N - 1, F)``, repeating frames when the video has fewer than F, so a
training video always gives F frames (196 * F + 1 visual tokens at stride 2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ov_media import MediaError
from ov_media.video import UNIFORM, sample_frames, video_frame_count, write_video

__all__ = ["MediaError", "image_size", "load_image", "load_video_frames", "video_frame_count", "write_video"]


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding pixels."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except FileNotFoundError:
        raise MediaError(f"{path}: no such image") from None
    except Exception as exc:
        raise MediaError(f"{path}: unreadable image ({type(exc).__name__})") from None


def load_image(path: Path):
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError:
        raise MediaError(f"{path}: no such image") from None
    except Exception as exc:
        raise MediaError(f"{path}: unreadable image ({type(exc).__name__})") from None


def load_video_frames(path: Path, num_frames: int, sampling=None) -> np.ndarray:
    """uint8 [F, H, W, 3], sampled as evaluation samples them (``sampling``: an ov_media.video.FrameSampling,
    None = uniform: exactly num_frames)."""
    return sample_frames(path, num_frames, sampling or UNIFORM).frames
