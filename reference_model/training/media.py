"""Media for training records: image sizes and pixels, video frame counts and uniformly sampled frames.

A video is a file PyAV can decode (mp4, webm, avi ...) or a directory of frame images (sorted by
name). Frames are sampled as at evaluation: indices ``linspace(0, N - 1, F)`` cast to int.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


class MediaError(ValueError):
    """A media file that is missing or cannot be decoded."""


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


def uniform_indices(total: int, num: int) -> list[int]:
    """``num`` indices spread over ``total`` frames, ends included (all frames when there are fewer)."""
    if total <= num:
        return list(range(total))
    return np.linspace(0, total - 1, num).astype(int).tolist()


def _frame_files(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)


def video_frame_count(path: Path) -> int:
    """Frames in the video (decoding the stream when the container does not say)."""
    if path.is_dir():
        n = len(_frame_files(path))
    elif not path.exists():
        raise MediaError(f"{path}: no such video")
    else:
        import av

        try:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                n = stream.frames or sum(1 for _ in container.decode(stream))
        except Exception as exc:
            raise MediaError(f"{path}: unreadable video ({type(exc).__name__})") from None
    if n == 0:
        raise MediaError(f"{path}: video has no frames")
    return n


def load_video_frames(path: Path, num_frames: int) -> np.ndarray:
    """uint8 [F, H, W, 3] with F = min(num_frames, frames in the video), uniformly sampled."""
    if path.is_dir():
        files = _frame_files(path)
        if not files:
            raise MediaError(f"{path}: no frame images in the directory")
        return np.stack([np.asarray(load_image(files[i])) for i in uniform_indices(len(files), num_frames)])
    import av

    try:
        with av.open(str(path)) as container:
            # Training clips are decoded whole; evaluation's seeking reader lives in tasks/video.py.
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except FileNotFoundError:
        raise MediaError(f"{path}: no such video") from None
    except Exception as exc:
        raise MediaError(f"{path}: unreadable video ({type(exc).__name__})") from None
    if not frames:
        raise MediaError(f"{path}: video has no frames")
    return np.stack([frames[i] for i in uniform_indices(len(frames), num_frames)])


def write_video(path: Path, frames: np.ndarray, fps: int = 4) -> None:
    """uint8 [F, H, W, 3] (even H, W) -> an MPEG-4 Part 2 mp4 (the codec every PyAV build can write)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.height, stream.width = frames.shape[1], frames.shape[2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": "2"}  # near-lossless: colours in the synthetic set must survive
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
