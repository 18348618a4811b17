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


def _container_frame_count(container, stream) -> int:
    # The header's count when the container has one; otherwise count packets (demuxing, no decoding).
    return stream.frames or sum(1 for packet in container.demux(stream) if packet.size)


def video_frame_count(path: Path) -> int:
    """Frames in the video."""
    if path.is_dir():
        n = len(_frame_files(path))
    elif not path.exists():
        raise MediaError(f"{path}: no such video")
    else:
        import av

        try:
            with av.open(str(path)) as container:
                n = _container_frame_count(container, container.streams.video[0])
        except Exception as exc:
            raise MediaError(f"{path}: unreadable video ({type(exc).__name__})") from None
    if n == 0:
        raise MediaError(f"{path}: video has no frames")
    return n


def load_video_frames(path: Path, num_frames: int) -> np.ndarray:
    """uint8 [F, H, W, 3] with F = min(num_frames, frames in the video), uniformly sampled.

    Decodes in order and converts only the sampled frames, so memory holds F frames whatever the
    video's length (evaluation's seeking reader lives in tasks/video.py)."""
    if path.is_dir():
        files = _frame_files(path)
        if not files:
            raise MediaError(f"{path}: no frame images in the directory")
        return np.stack([np.asarray(load_image(files[i])) for i in uniform_indices(len(files), num_frames)])
    import av

    total = video_frame_count(path)
    wanted = uniform_indices(total, num_frames)
    picked: dict[int, np.ndarray] = {}
    try:
        with av.open(str(path)) as container:
            targets, last = set(wanted), wanted[-1]
            for index, frame in enumerate(container.decode(video=0)):
                if index in targets:
                    picked[index] = frame.to_ndarray(format="rgb24")
                if index >= last:
                    break
    except Exception as exc:
        raise MediaError(f"{path}: unreadable video ({type(exc).__name__})") from None
    if len(picked) < len(wanted):
        # The header over-counted: fall back to the frames that exist, sampled the same way.
        return load_video_frames_decoded(path, num_frames)
    return np.stack([picked[i] for i in wanted])


def load_video_frames_decoded(path: Path, num_frames: int) -> np.ndarray:
    """Decode every frame, then sample (for containers whose frame count is wrong)."""
    import av

    try:
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
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
