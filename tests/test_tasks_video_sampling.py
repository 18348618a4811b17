"""ov_media.video.sample_frames against independent sources: numpy's linspace for the indices, a full
PyAV decode (every frame, in order) for the pixels, lmms-eval's read_video, and the bad-input cases."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

import ov_media.video as video
from ov_media.video import sample_frames, uniform_indices, write_video
from tasks.base import MediaError


def _frames(n: int, w: int, h: int):
    """Frames that all differ (a moving bar plus a per-frame brightness code)."""
    for i in range(n):
        img = np.zeros((h, w, 3), np.uint8)
        img[..., 0] = np.linspace(0, 200, w, dtype=np.uint8)[None, :]
        img[:, (i * 3) % w] = (255, 255, 0)
        img[: h // 4, : w // 4] = (i * 37) % 256
        yield img


def _write_raw(path: Path, codec: str, n: int, fmt: str, gop: int = 10, w: int = 64, h: int = 48) -> None:
    """A video written directly with PyAV (containers and codecs write_video does not produce)."""
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=12)
        s.width, s.height, s.pix_fmt, s.gop_size = w, h, "yuv420p", gop
        for img in _frames(n, w, h):
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def full_decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def declared_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return int(c.streams.video[0].frames or 0)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("videos")
    out = {
        "x264": d / "x264.mp4",
        "x264_bframes": d / "x264_bframes.mp4",
        "long_gop12": d / "long.mp4",
        "short": d / "short.mp4",
        "mkv": d / "clip.mkv",
        "webm": d / "clip.webm",
        "mpeg4_avi": d / "clip.avi",
    }
    write_video(out["x264"], _frames(90, 64, 48), 10, gop_size=10)
    write_video(out["x264_bframes"], _frames(75, 96, 64), 8, gop_size=16, preset="medium", bframes=3)
    write_video(out["long_gop12"], _frames(240, 64, 48), 24, gop_size=12)
    write_video(out["short"], _frames(7, 64, 48), 5, gop_size=5)
    _write_raw(out["mkv"], "libx264", 60, "matroska")
    _write_raw(out["webm"], "libvpx", 50, "webm")
    _write_raw(out["mpeg4_avi"], "mpeg4", 40, "avi")
    return out


def test_uniform_indices_are_numpy_linspace_cast_to_int():
    for n, f in [(1, 1), (1, 32), (7, 32), (100, 32), (14400, 32), (33, 32), (32, 32), (5, 3)]:
        expected = [int(x) for x in np.linspace(0, n - 1, f)]
        assert uniform_indices(n, f) == expected
        assert len(uniform_indices(n, f)) == f
    with pytest.raises(ValueError):
        uniform_indices(0, 4)
    with pytest.raises(ValueError):
        uniform_indices(10, 0)


@pytest.mark.parametrize("name", ["x264", "x264_bframes", "long_gop12", "short", "mkv", "webm", "mpeg4_avi"])
@pytest.mark.parametrize("num_frames", [1, 5, 32])
def test_frames_equal_full_decode_at_linspace_indices(videos, name, num_frames):
    path = videos[name]
    reference = full_decode(path)
    n = declared_frames(path) or len(reference)  # containers without a count: every frame
    assert n == len(reference)
    clip = sample_frames(path, num_frames)
    expected_indices = [int(x) for x in np.linspace(0, n - 1, num_frames)]
    assert clip.indices == expected_indices
    assert clip.total_frames == n
    assert clip.frames.dtype == np.uint8
    assert clip.frames.shape == (num_frames, *reference[0].shape)
    for j, i in enumerate(expected_indices):
        np.testing.assert_array_equal(clip.frames[j], reference[i], err_msg=f"{name}: frame {i}")
    assert clip.path == str(path)
    assert clip.fps > 0


def test_matches_lmms_eval_read_video(videos):
    """lmms-eval's PyAV reader decodes the whole stream up to the last index; F <= N frames agree."""
    from lmms_eval.models.model_utils.load_video import read_video

    for name in ["x264", "x264_bframes", "long_gop12"]:
        theirs = read_video(str(videos[name]), num_frm=16)
        ours = sample_frames(videos[name], 16).frames
        np.testing.assert_array_equal(ours, theirs)


def test_seeks_instead_of_decoding_everything(videos, monkeypatch):
    """On a 240-frame clip with a keyframe every 12 frames, 4 samples decode a few GOPs, not the stream."""
    decoded = []
    original = video._frames_from

    def counting(container, stream, seek_pts):
        for frame in original(container, stream, seek_pts):
            decoded.append(frame.pts)
            yield frame

    def no_plain_decode(*args, **kwargs):
        raise AssertionError("fell back to decoding from the start")

    monkeypatch.setattr(video, "_frames_from", counting)
    monkeypatch.setattr(video, "_decode_plain", no_plain_decode)
    clip = sample_frames(videos["long_gop12"], 4)
    assert clip.indices == [0, 79, 159, 239]
    assert 0 < len(decoded) <= 4 * 12 + 8, len(decoded)


@pytest.mark.parametrize("name", ["x264_bframes", "mkv", "webm", "mpeg4_avi"])
def test_seeking_path_used_for_common_containers(videos, name, monkeypatch):
    def no_plain_decode(*args, **kwargs):
        raise AssertionError("fell back to decoding from the start")

    monkeypatch.setattr(video, "_decode_plain", no_plain_decode)
    sample_frames(videos[name], 9)


def test_plain_decode_fallback_gives_the_same_frames(videos, monkeypatch):
    def refuse(*args, **kwargs):
        raise video._NeedPlainDecode

    expected = sample_frames(videos["x264_bframes"], 11)
    monkeypatch.setattr(video, "_decode_by_seeking", refuse)
    clip = sample_frames(videos["x264_bframes"], 11)
    assert clip.indices == expected.indices
    np.testing.assert_array_equal(clip.frames, expected.frames)


def test_fewer_frames_than_requested_repeats_indices(videos):
    clip = sample_frames(videos["short"], 32)  # 7 frames
    assert clip.total_frames == 7
    assert clip.indices == [int(x) for x in np.linspace(0, 6, 32)]
    assert clip.frames.shape[0] == 32


def test_write_video_keyframe_interval_and_codec(tmp_path):
    path = tmp_path / "gop.mp4"
    codec = write_video(path, _frames(50, 64, 48), 10, gop_size=10)
    assert codec in ("libx264", "mpeg4")
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.frames == 50
        assert float(s.average_rate) == 10
        packets = [(p.pts, p.is_keyframe) for p in c.demux(s) if p.size]
    pts = sorted(p for p, _ in packets)
    keys = sorted(p for p, key in packets if key)
    assert [pts.index(k) for k in keys] == [0, 10, 20, 30, 40]
    assert not list(tmp_path.glob("*.partial"))
    with pytest.raises(ValueError):
        write_video(tmp_path / "odd.mp4", _frames(3, 63, 48), 10)


# ---- bad input: one MediaError line, never an exit or a hang -----------------------------------------


def _assert_one_line(e: pytest.ExceptionInfo) -> None:
    assert "\n" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(MediaError, match="not found") as e:
        sample_frames(tmp_path / "nope.mp4", 8)
    _assert_one_line(e)


def test_directory_without_frame_images(tmp_path):
    (tmp_path / "notes.txt").write_text("no frames here")
    with pytest.raises(MediaError, match="no frame images") as e:
        sample_frames(tmp_path, 8)
    _assert_one_line(e)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.99])
def test_truncated_mp4(videos, tmp_path, fraction):
    data = videos["x264"].read_bytes()
    path = tmp_path / f"trunc_{fraction}.mp4"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(MediaError) as e:
        sample_frames(path, 8)
    _assert_one_line(e)


@pytest.mark.parametrize("fraction", [0.3, 0.7, 0.95])
def test_truncated_faststart_mp4(tmp_path, fraction):
    """moov first: the header survives and declares frames the file no longer holds."""
    src = tmp_path / "fast.mp4"
    with av.open(str(src), "w", options={"movflags": "+faststart"}) as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for img in _frames(100, 64, 48):
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    data = src.read_bytes()
    path = tmp_path / "trunc.mp4"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(MediaError, match="truncated|cannot decode") as e:
        sample_frames(path, 8)
    _assert_one_line(e)


def test_not_a_video(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(MediaError):
        sample_frames(path, 8)


def test_no_video_stream(tmp_path):
    path = tmp_path / "audio.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=16000)
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 16000
            frame.pts = i * 1024
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    with pytest.raises(MediaError, match="no video stream"):
        sample_frames(path, 8)


def test_corrupt_payload_gives_frames_or_media_error(videos, tmp_path):
    """Garbage in the middle of the media data: either decodable frames or a MediaError, nothing else."""
    data = bytearray(videos["x264"].read_bytes())
    rng = np.random.default_rng(1)
    start = len(data) // 3
    data[start : start + len(data) // 3] = rng.integers(0, 256, len(data) // 3, dtype=np.uint8).tobytes()
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(bytes(data))
    try:
        clip = sample_frames(path, 8)
    except MediaError:
        return
    assert clip.frames.shape == (8, 48, 64, 3)


def test_single_frame_video(tmp_path):
    path = tmp_path / "one.mp4"
    write_video(path, _frames(1, 64, 48), 5)
    clip = sample_frames(path, 4)
    assert clip.total_frames == 1 and clip.indices == [0, 0, 0, 0]
    reference = full_decode(path)
    for frame in clip.frames:
        np.testing.assert_array_equal(frame, reference[0])
