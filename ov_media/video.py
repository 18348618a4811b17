"""The one video frame sampler and video writer, for evaluation (tasks) and training (reference_model).

Uniform sampling with PyAV that seeks instead of decoding everything. Frame indices follow lmms-eval
(docs/model.md s. 3): `int(x) for x in linspace(0, N - 1, F)`, where N is
the frame count the container declares (`stream.frames`, what lmms-eval's `read_video` and decord's
`len(VideoReader)` use). Where the container declares none (webm, mkv), N is the number of video
packets, counted by a demux pass that reads packets without decoding them. lmms-eval's PyAV path would
decode and return every frame in that case; we sample F frames like its decord path does.

F frames are returned even when N < F (indices repeat), as LLaVA-OneVision's lmms-eval model does with
its default decord backend: the model's visual-token count depends on F only.

How a frame is found: the demux pass lists every frame's presentation timestamp (pts) and the keyframes.
Frame i is the i-th timestamp in presentation order, which is the i-th frame a full decode outputs.
For each wanted frame we seek to the keyframe at or before it and decode forward only up to it, or go on
decoding if that keyframe was already passed. Each step is bounded; anything unexpected (a seek that
lands after the target, frames without timestamps) switches to a plain decode from the start that counts
frames like lmms-eval, so the result is the same either way.

Two sampling modes (FrameSampling, sampled_indices):
- ``uniform`` (LLaVA-OneVision): the F linspace indices above, whatever the video's length.
- ``fps`` (LLaVA-Video, lmms-eval's ``llava_vid.load_video``): step = round(avg_fps / 1), indices
  range(0, N, step) (one frame a second), and when that gives more than F frames, or with
  force_sample, the F linspace indices instead. Frame times are i / step for the 1 fps indices (the
  evaluated code divides by the step, not by the fps: reproduced as is) and i / avg_fps for the linspace
  ones; the duration is N / avg_fps. So a video shorter than F seconds gets fewer than F frames.

A video may also be a directory of frame images (sorted by file name, as training sets and MVBench's
frame-folder sub-tasks store them): N is the number of images and the same indices pick among them.

Every failure (missing file, no video stream, truncated or corrupt data) raises MediaError with one line.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from ov_media import MediaError, VideoClip

if TYPE_CHECKING:
    import numpy as np

# A header that declares more frames than the file holds is tolerated up to this many missing frames
# (edit lists can hide a few samples); beyond that the file is treated as truncated.
_MISSING_FRAMES_TOLERANCE = 3
_MISSING_FRAMES_TOLERANCE_FRACTION = 0.01
# Frames a decoder may output past the expected count after a seek (B-frame reordering, frame threads)
# before the seek is considered off and the plain decode takes over.
_REORDER_SLACK = 64
_THREAD_TYPE = "AUTO"
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
SAMPLING_MODES = ("uniform", "fps")
# Frame folders (MVBench's TVQA clips) were extracted at 3 fps; llava_vid times their frames with it.
FRAME_FOLDER_FPS = 3.0


@dataclass(frozen=True)
class FrameSampling:
    """How F (the frame cap) becomes frame indices: ``uniform`` linspace, or ``fps`` (target_fps frames a
    second, the linspace above the cap or always with force_sample)."""

    mode: str = "uniform"
    force_sample: bool = False
    target_fps: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in SAMPLING_MODES:
            raise ValueError(f"frame sampling {self.mode!r}: choose one of {', '.join(SAMPLING_MODES)}")

    def describe(self) -> dict:
        return {"mode": self.mode, "force_sample": self.force_sample, "target_fps": self.target_fps}


UNIFORM = FrameSampling()


def uniform_indices(total_frames: int, num_frames: int) -> list[int]:
    """lmms-eval's uniform frame indices: int(x) for x in linspace(0, N-1, F)."""
    import numpy as np

    if total_frames < 1:
        raise ValueError(f"total_frames must be >= 1, got {total_frames}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    return [int(x) for x in np.linspace(0, total_frames - 1, num_frames)]


def sampled_indices(
    total_frames: int, avg_fps: float, max_frames: int, sampling: FrameSampling = UNIFORM
) -> tuple[list[int], list[float] | None]:
    """(frame indices, their times in seconds or None when the fps is unknown) for a video of N frames
    at avg_fps, F = max_frames (see the module doc; lmms-eval's llava_vid.load_video for ``fps``)."""
    if sampling.mode == "fps" and avg_fps > 0:
        # max(1, .): a video below half a frame a second would make the evaluated code's step 0
        step = max(1, round(avg_fps / sampling.target_fps))
        indices = list(range(0, total_frames, step))
        if len(indices) <= max_frames and not sampling.force_sample:
            return indices, [i / step for i in indices]
    indices = uniform_indices(total_frames, max_frames)
    return indices, ([i / avg_fps for i in indices] if avg_fps > 0 else None)


def frames_for(total_frames: int, avg_fps: float, max_frames: int, sampling: FrameSampling = UNIFORM) -> int:
    """How many frames sampling gives a video of N frames at avg_fps (the planner's count)."""
    return len(sampled_indices(total_frames, avg_fps, max_frames, sampling)[0])


@dataclass
class VideoHeader:
    """What the container declares: N (stream.frames; counted packets where it declares none) and the
    average frame rate. Read without decoding a frame."""

    total_frames: int
    fps: float

    @property
    def duration(self) -> float | None:
        return self.total_frames / self.fps if self.fps > 0 else None


def video_header(path: str | os.PathLike) -> VideoHeader:
    """N and fps of a video file (a frame folder: its image count at FRAME_FOLDER_FPS), no decoding."""
    import av

    path = str(path)
    if os.path.isdir(path):
        return VideoHeader(len(_frame_files(Path(path))), FRAME_FOLDER_FPS)
    if not os.path.isfile(path):
        raise MediaError(f"video file not found: {path}")
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise MediaError(f"no video stream in {path}")
            stream = container.streams.video[0]
            total = int(stream.frames or 0)
            if total < 1:  # webm/mkv declare no count: count packets (a demux pass, still no decode)
                total = _index_stream(container, stream).total_frames
            return VideoHeader(total, _stream_fps(stream))
    except MediaError:
        raise
    except (av.error.FFmpegError, OSError, EOFError) as e:
        raise MediaError(f"cannot read video {path}: {_one_line(e)}") from None


@dataclass
class _StreamIndex:
    """Frame timestamps of a video stream from one demux pass (no decoding)."""

    pts: list[int]  # presentation timestamps, sorted: pts[i] is frame i
    keyframe_pts: list[int]  # sorted
    packets: int  # video packets holding a frame
    declared_frames: int  # stream.frames (0: the container declares none)
    seekable: bool  # every frame has a distinct timestamp and there is a keyframe

    @property
    def total_frames(self) -> int:
        return self.declared_frames if self.declared_frames > 0 else self.packets


class _NeedPlainDecode(Exception):
    """The seeking path met something it cannot handle exactly; decode from the start instead."""


def sample_frames(
    path: str | os.PathLike, num_frames: int = 32, sampling: FrameSampling = UNIFORM
) -> VideoClip:
    """Decode the frames ``sampling`` picks (at most F = num_frames; F exactly for uniform) as uint8 RGB
    [F', H, W, 3], with their indices, times and the video's duration (see the module doc)."""
    import av

    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    path = str(path)
    if not os.path.exists(path):
        raise MediaError(f"video file not found: {path}")
    if os.path.isdir(path):
        return _sample_frame_folder(Path(path), num_frames, sampling)
    if not os.path.isfile(path):
        raise MediaError(f"not a regular file: {path}")
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise MediaError(f"no video stream in {path}")
            stream = container.streams.video[0]
            stream.thread_type = _THREAD_TYPE
            fps = _stream_fps(stream)
            index = _index_stream(container, stream)
            total = index.total_frames
            present = index.packets
            if total < 1 or present < 1:
                raise MediaError(f"no video frames in {path}")
            if present < total - _missing_tolerance(total):
                raise MediaError(
                    f"truncated or damaged video {path}: the header declares {total} frames, the file holds {present}"
                )
            wanted, times = sampled_indices(total, fps, num_frames, sampling)
            # A few frames the header declares but the file lacks: use the last frame that exists.
            used = [min(i, present - 1) for i in wanted]
            try:
                by_index = _decode_by_seeking(container, stream, index, used)
            except _NeedPlainDecode:
                by_index = _decode_plain(container, stream, used)
                if len(by_index) < len(set(used)):
                    raise MediaError(
                        f"truncated or damaged video {path}: only {max(by_index, default=-1) + 1} of "
                        f"{total} frames decode"
                    ) from None
    except MediaError:
        raise
    except (av.error.FFmpegError, OSError, EOFError) as e:
        raise MediaError(f"cannot decode video {path}: {_one_line(e)}") from None
    return _assemble(path, used, by_index, total, fps, times, sampling.mode)


def video_frame_count(path: str | os.PathLike) -> int:
    """N, the frame count sample_frames samples from (declared by the container, else counted packets;
    the number of images for a frame folder), without decoding. MediaError when unreadable."""
    import av

    path = str(path)
    if os.path.isdir(path):
        total = len(_frame_files(Path(path)))
    elif not os.path.isfile(path):
        raise MediaError(f"video file not found: {path}")
    else:
        try:
            with av.open(path) as container:
                if not container.streams.video:
                    raise MediaError(f"no video stream in {path}")
                total = _index_stream(container, container.streams.video[0]).total_frames
        except MediaError:
            raise
        except (av.error.FFmpegError, OSError, EOFError) as e:
            raise MediaError(f"cannot decode video {path}: {_one_line(e)}") from None
    if total < 1:
        raise MediaError(f"no video frames in {path}")
    return total


def _frame_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)


def _sample_frame_folder(folder: Path, num_frames: int, sampling: FrameSampling = UNIFORM) -> VideoClip:
    """A directory of frame images: uniform indices over the sorted images in either mode (llava_vid
    takes linspace over a frame folder), timed at FRAME_FOLDER_FPS."""
    import numpy as np
    from PIL import Image

    files = _frame_files(folder)
    if not files:
        raise MediaError(f"no frame images in {folder}")
    used = uniform_indices(len(files), num_frames)
    by_index: dict[int, np.ndarray] = {}
    for i in sorted(set(used)):
        try:
            with Image.open(files[i]) as im:
                by_index[i] = np.asarray(im.convert("RGB"))
        except Exception as e:  # PIL raises many types for broken files
            raise MediaError(f"cannot decode frame {files[i]}: {_one_line(e)}") from None
    times = [i / FRAME_FOLDER_FPS for i in used]
    return _assemble(str(folder), used, by_index, len(files), FRAME_FOLDER_FPS, times, sampling.mode)


def _missing_tolerance(total: int) -> int:
    return max(_MISSING_FRAMES_TOLERANCE, int(total * _MISSING_FRAMES_TOLERANCE_FRACTION))


def _stream_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")


def _index_stream(container, stream) -> _StreamIndex:
    """List every frame's pts and the keyframes by reading packets only."""
    pts: list[int] = []
    keys: list[int] = []
    packets = 0
    untimed = False
    for packet in container.demux(stream):
        if packet.size == 0 or packet.is_discard:  # the end-of-stream packet; edit-list hidden samples
            continue
        packets += 1
        if packet.pts is None:
            untimed = True  # such frames can only be found by counting (the plain decode)
            continue
        pts.append(packet.pts)
        if packet.is_keyframe:
            keys.append(packet.pts)
    pts.sort()
    keys.sort()
    seekable = not untimed and bool(keys) and len(set(pts)) == len(pts)
    return _StreamIndex(pts, keys, packets, int(stream.frames or 0), seekable)


def _frames_from(container, stream, seek_pts: int | None) -> Iterator:
    """Decoded frames from the keyframe at or before seek_pts (None: from the start of the file)."""
    if seek_pts is None:
        container.seek(0)
    else:
        container.seek(seek_pts, stream=stream, backward=True, any_frame=False)
    for packet in container.demux(stream):
        yield from packet.decode()  # the final empty packet drains the decoder


def _decode_by_seeking(container, stream, index: _StreamIndex, used: list[int]) -> dict[int, np.ndarray]:
    if not index.seekable:
        raise _NeedPlainDecode
    pts_list = index.pts
    position = {p: i for i, p in enumerate(pts_list)}
    wanted_pts = {pts_list[i] for i in used}
    out: dict[int, np.ndarray] = {}
    frames: Iterator | None = None
    last_pts: int | None = None  # pts of the last frame the current decode run output

    for target_index in sorted(set(used)):
        target = pts_list[target_index]
        if position[target] in out:
            continue
        k = bisect.bisect_right(index.keyframe_pts, target) - 1
        keyframe = index.keyframe_pts[k] if k >= 0 else pts_list[0]
        # Go on decoding when the run already passed the target's keyframe; otherwise seek.
        if frames is None or last_pts is None or keyframe > last_pts or target <= last_pts:
            frames = _frames_from(container, stream, keyframe)
            start_index = position.get(keyframe, 0)
            last_pts = None
        else:
            start_index = position[last_pts]
        budget = (target_index - start_index) + _REORDER_SLACK
        for frame in frames:
            p = frame.pts
            if p is None or p not in position:
                raise _NeedPlainDecode
            if last_pts is None and p > target:
                raise _NeedPlainDecode  # the seek landed after the target
            last_pts = p
            if p in wanted_pts and position[p] not in out:
                out[position[p]] = frame.to_ndarray(format="rgb24")
            if p >= target:
                break
            budget -= 1
            if budget < 0:
                raise _NeedPlainDecode
        if target_index not in out:
            raise _NeedPlainDecode  # the stream ended or skipped the frame
    return out


def _decode_plain(container, stream, used: list[int]) -> dict[int, np.ndarray]:
    """Decode from the start counting output frames (lmms-eval's way); stop after the last wanted one."""
    wanted = set(used)
    last = max(wanted)
    out: dict[int, np.ndarray] = {}
    for i, frame in enumerate(_frames_from(container, stream, None)):
        if i in wanted:
            out[i] = frame.to_ndarray(format="rgb24")
        if i >= last:
            break
    return out


def _assemble(
    path: str,
    used: list[int],
    by_index: dict,
    total: int,
    fps: float,
    times: list[float] | None = None,
    mode: str = "uniform",
) -> VideoClip:
    import numpy as np

    shapes = {by_index[i].shape for i in set(used)}
    if len(shapes) != 1:
        raise MediaError(f"frames of {path} change size mid-stream ({sorted(shapes)}); not supported")
    frames = np.stack([by_index[i] for i in used])
    duration = total / fps if fps > 0 else None
    return VideoClip(
        frames=frames,
        indices=list(used),
        total_frames=total,
        fps=fps,
        path=path,
        times=None if times is None else list(times),
        duration=duration,
        sampling=mode,
    )


# ---- writing ------------------------------------------------------------------------------------


def h264_available() -> bool:
    """Whether PyAV's bundled FFmpeg can encode H.264 with libx264."""
    import av

    try:
        av.codec.Codec("libx264", "w")
    except Exception:  # av raises UnknownCodecError (and older versions ValueError)
        return False
    return True


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float | Fraction,
    *,
    gop_size: int | None = None,
    preset: str = "ultrafast",
    crf: int = 30,
    bframes: int | None = None,
    codec: str | None = None,
    qscale: int = 8,
) -> str:
    """Write uint8 RGB frames [H, W, 3] (even H and W) to an mp4; returns the codec used.

    H.264 via libx264 when PyAV's FFmpeg has it (keyframes exactly every gop_size frames, no scene-cut
    keyframes), else MPEG-4 part 2. bframes sets x264's B-frame count (None: the preset's default).
    codec="mpeg4" forces MPEG-4 part 2 (every PyAV build writes it), at quantiser qscale (2: near
    lossless, what the synthetic training set uses so its colours survive).
    """
    import av
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    tmp = path.with_name(path.name + ".partial")
    codec = codec or ("libx264" if h264_available() else "mpeg4")
    stream = None
    with av.open(str(tmp), "w", format="mp4") as container:
        for image in frames:
            if stream is None:
                height, width = image.shape[:2]
                if height % 2 or width % 2:
                    raise ValueError(f"frame size must be even for yuv420p, got {width}x{height}")
                stream = container.add_stream(codec, rate=rate)
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                if gop_size:
                    stream.gop_size = gop_size
                if codec == "libx264":
                    params = ["scenecut=0"]
                    if gop_size:
                        params += [f"keyint={gop_size}", f"min-keyint={gop_size}"]
                    if bframes is not None:
                        params.append(f"bframes={bframes}")
                    stream.options = {"preset": preset, "crf": str(crf), "x264-params": ":".join(params)}
                else:
                    stream.options = {"qscale": str(qscale)}
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        if stream is None:
            raise ValueError("write_video needs at least one frame")
        for packet in stream.encode():
            container.mux(packet)
    os.replace(tmp, path)  # a crash mid-write never leaves a half-written file under the final name
    return codec
