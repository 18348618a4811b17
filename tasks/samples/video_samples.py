"""Sample sets for the video tasks: real mp4 files written with PyAV and parquet in each hub schema.

Every clip shows one coloured square moving across a gradient background, so questions about its
colour and direction have answers in the pixels. A bar in the corner changes brightness every frame,
so no two frames are equal (frame-index mistakes show up in tests). Clips are tiny (64x48 to 320x240,
2-6 s at 4-12 fps); some have fewer frames than the default 32 samples, some use B-frames. Video-MME
also gets one long clip (LONG_CLIP: 40 s at 2 fps, 64x48, 80 frames): LLaVA-Video's 1 fps sampling takes
40 frames of it at a 64-frame cap where uniform sampling takes 64, and the linspace at caps below 40. Everything is
drawn from random.Random(<task>), so a sample-set version always writes the same rows and pixels.

Layouts: each task's hub repo as `hf download` leaves it (README.md with the `configs:`
YAML is written by tasks.data.ensure_samples), videos packed in archives with the real member paths,
so that unpacking them gives lmms-eval's cache layout under $HF_HOME/<cache_dir>:
    videomme        videomme/test-00000-of-00001.parquet; videos_chunked_01.zip, _02.zip (members
                    data/<videoID>.mp4); subtitle.zip (members subtitle/<videoID>.srt in Video-MME's format,
                    for all but every fourth video; needed by videomme_w_subtitle only)
    mvbench         json/<config>.json; videos unpacked in <DATA_LIST[config]>/<video> (revision `video`),
                    one clevrer config under data0613/; episodic_reasoning: folders of 3 fps JPEG frames
    egoschema       Subset/ and GENERATION/test-00000-of-00001.parquet (the full test, answers withheld);
                    videos_chunked_01.zip, _02.zip (videos/<video_idx>.mp4)
    nextqa          MC/test-00000-of-00001.parquet; videos.zip (NExTVideo/<video>.mp4)
    perceptiontest  mc_question_val/validation-00000-of-00001.parquet; videos_chunked_01.zip, _02.zip
                    (videos/<video_name>.mp4); valid_audios.zip (not needed, skipped by fetch)
    mlvu_dev        data/test-00000-of-00001.parquet; video_part_1.zip, _2.zip (<video_name> at the root)
    longvideobench  validation-00000-of-00001.parquet; videos.tar.part.aa, .ab (one split tar, members
                    videos/<video_path>); subtitles.tar
"""

from __future__ import annotations

import random
import shutil
import string
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ov_media.video import write_video
from tasks.hub_layout import FetchSpec, readme_text
from tasks.samples.draw import COLORS, letters, write_parquet

CLIP_SIZES = [(64, 48), (96, 64), (128, 96), (160, 120), (224, 160), (320, 240), (112, 200)]
DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}


@dataclass(frozen=True)
class ClipSpec:
    width: int
    height: int
    seconds: float
    fps: int
    color: str
    direction: str
    bframes: int

    @property
    def num_frames(self) -> int:
        return max(1, round(self.seconds * self.fps))


# Long enough that fps sampling (1 frame a second) and uniform sampling differ at the default caps.
LONG_CLIP = ClipSpec(width=64, height=48, seconds=40.0, fps=2, color="red", direction="right", bframes=0)


def random_clip(rng: random.Random, i: int) -> ClipSpec:
    w, h = CLIP_SIZES[i % len(CLIP_SIZES)]
    return ClipSpec(
        width=w,
        height=h,
        seconds=rng.choice([2.0, 3.0, 4.0, 5.0, 6.0]),
        fps=rng.choice([4, 6, 8, 10, 12]),
        color=rng.choice(sorted(COLORS)),
        direction=rng.choice(sorted(DIRECTIONS)),
        bframes=rng.choice([0, 2]),
    )


def clip_frames(spec: ClipSpec) -> Iterator[Any]:
    """uint8 RGB frames of the clip."""
    import numpy as np

    w, h, n = spec.width, spec.height, spec.num_frames
    ys, xs = np.mgrid[0:h, 0:w]
    background = np.stack([xs * 200 // max(w - 1, 1), ys * 200 // max(h - 1, 1), np.full_like(xs, 90)], -1)
    background = background.astype(np.uint8)
    side = max(4, min(w, h) // 4)
    dx, dy = DIRECTIONS[spec.direction]
    cx0, cy0 = (w - side) // 2 - dx * (w - side) // 3, (h - side) // 2 - dy * (h - side) // 3
    travel_x, travel_y = dx * 2 * (w - side) // 3, dy * 2 * (h - side) // 3
    color = np.array(COLORS[spec.color], np.uint8)
    for i in range(n):
        frame = background.copy()
        t = i / max(n - 1, 1)
        x, y = int(cx0 + travel_x * t), int(cy0 + travel_y * t)
        frame[y : y + side, x : x + side] = color
        frame[: max(2, h // 12), : max(4, w // 8)] = (i * 37) % 256  # per-frame marker
        yield frame


def write_clip(path: Path, spec: ClipSpec) -> None:
    write_video(
        path,
        clip_frames(spec),
        spec.fps,
        gop_size=spec.fps,  # a keyframe every second
        preset="veryfast",
        crf=28,
        bframes=spec.bframes,
    )


class Archives:
    """Videos written to a staging folder, then packed into zips with the real member paths."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.staging = out_dir / ".staging"
        self.members: dict[str, list[str]] = {}

    def add(self, archive: str, member: str, spec: ClipSpec) -> None:
        write_clip(self.staging / member, spec)
        self.members.setdefault(archive, []).append(member)

    def close(self) -> None:
        for archive, members in sorted(self.members.items()):
            write_zip(self.out_dir / archive, {m: (self.staging / m).read_bytes() for m in members})
        shutil.rmtree(self.staging, ignore_errors=True)


def write_zip(path: Path, members: dict[str, bytes]) -> None:
    """A zip with fixed timestamps (the same bytes every time); videos are stored, not deflated."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED if name.endswith(".mp4") else zipfile.ZIP_DEFLATED
            z.writestr(info, data)


def _color_options(rng: random.Random, answer: str, n: int) -> list[str]:
    others = [c for c in sorted(COLORS) if c != answer]
    options = rng.sample(others, n - 1) + [answer]
    rng.shuffle(options)
    return options


def _direction_options(rng: random.Random, answer: str, n: int) -> list[str]:
    others = [d for d in sorted(DIRECTIONS) if d != answer]
    options = rng.sample(others, n - 1) + [answer]
    rng.shuffle(options)
    return options


def _qa(rng: random.Random, spec: ClipSpec, k: int, n_options: int) -> tuple[str, list[str], int]:
    """(question, option texts, index of the right one) for the k-th question on a clip."""
    kind = k % 3
    if kind == 0:
        options = _color_options(rng, spec.color, n_options)
        return "What color is the moving square?", options, options.index(spec.color)
    if kind == 1:
        options = _direction_options(rng, spec.direction, min(n_options, len(DIRECTIONS)))
        return "In which direction does the square move?", options, options.index(spec.direction)
    counts = [str(c) for c in range(1, n_options + 1)]
    options = [f"{c} square{'s' if c != '1' else ''}" for c in counts]
    rng.shuffle(options)
    return "How many squares appear in the video?", options, options.index("1 square")


# ---- Video-MME -----------------------------------------------------------------------------------

# Video-MME's domains and the sub-categories under each (the pairs its hub rows use).
VIDEOMME_DOMAINS = {
    "Knowledge": [
        "Humanity & History",
        "Literature & Art",
        "Biology & Medicine",
        "Finance & Commerce",
        "Astronomy",
        "Geography",
        "Law",
        "Life Tip",
        "Technology",
    ],
    "Film & Television": ["Animation", "Movie & TV Show", "Documentary", "News Report"],
    "Sports Competition": ["Esports", "Basketball", "Football", "Athletics", "Other Sports"],
    "Artistic Performance": ["Stage Play", "Magic Show", "Variety Show", "Acrobatics"],
    "Life Record": ["Handicraft", "Food", "Fashion", "Daily Life", "Travel", "Pet & Animal", "Exercise"],
    "Multilingual": ["Multilingual"],
}
VIDEOMME_TASK_TYPES = {
    0: ["Attribute Perception", "Object Recognition"],
    1: ["Temporal Perception", "Spatial Perception", "Action Recognition"],
    2: ["Counting Problem"],
}


def videomme(out_dir: Path, n_videos: int = 12) -> None:
    rng = random.Random("videomme")
    rows = []
    archives = Archives(out_dir)
    durations: dict[str, float] = {}  # videoID -> seconds
    domains = sorted(VIDEOMME_DOMAINS)
    for v in range(n_videos + 1):
        # the last video is the long clip (drawn after the others, so their rows and pixels stay as they were)
        spec = random_clip(rng, v) if v < n_videos else LONG_CLIP
        video_id = f"{v + 1:03d}"
        youtube_id = "".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(11))
        archives.add(f"videos_chunked_{v % 2 + 1:02d}.zip", f"data/{youtube_id}.mp4", spec)
        durations[youtube_id] = spec.num_frames / spec.fps
        domain = domains[v % len(domains)]
        sub = rng.choice(VIDEOMME_DOMAINS[domain])
        for k in range(3):
            question, options, right = _qa(rng, spec, k, 4)
            rows.append(
                {
                    "video_id": video_id,
                    "duration": ("short", "medium", "long")[v % 3],
                    "domain": domain,
                    "sub_category": sub,
                    "url": f"https://www.youtube.com/watch?v={youtube_id}",
                    "videoID": youtube_id,
                    "question_id": f"{video_id}-{k + 1}",
                    "task_type": rng.choice(VIDEOMME_TASK_TYPES[k]),
                    "question": question,
                    "options": [f"{letter}. {text}" for letter, text in zip(letters(4), options)],
                    "answer": letters(4)[right],
                }
            )
    string_cols = [
        "video_id",
        "duration",
        "domain",
        "sub_category",
        "url",
        "videoID",
        "question_id",
        "task_type",
        "question",
    ]
    features = {c: _value("string") for c in string_cols}
    features["options"] = _sequence("string")
    features["answer"] = _value("string")
    write_parquet(rows, _ordered(features, rows[0]), out_dir / "videomme" / "test-00000-of-00001.parquet")
    archives.close()
    # subtitles for all but every fourth video (a video without subtitles is normal in Video-MME); the long
    # clip, always the last, has them
    sub_rng = random.Random("videomme:subtitles")
    subtitles = {
        f"subtitle/{video}.srt": srt_file(sub_rng, seconds)
        for i, (video, seconds) in enumerate(durations.items())
        if i % 4 != 1
    }
    write_zip(out_dir / "subtitle.zip", subtitles)


SUBTITLE_WORDS = [
    "the",
    "square",
    "moves",
    "slowly",
    "across",
    "a",
    "bright",
    "field",
    "now",
    "again",
    "look",
]


def _srt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def srt_file(rng: random.Random, seconds: float) -> bytes:
    """An .srt as Video-MME ships them: numbered cues whose text sits in <font color="white" size=".72c">
    tags (lmms-eval keeps only that text). Cues of 0.3-2 s with gaps, some shorter than a frame interval,
    one cue without the tag; the first cue starts at 1.5 s, between frames that 32-frame sampling of a
    40 s, 2 fps clip takes."""
    cues = []
    start = 1.5
    while start < seconds - 0.2:
        end = min(seconds, start + rng.choice([0.3, 0.5, 0.8, 1.2, 2.0]))
        words = " ".join(rng.choice(SUBTITLE_WORDS) for _ in range(rng.randint(2, 6)))
        text = words if len(cues) == 2 else f'<font color="white" size=".72c">{words}</font>'
        cues.append(f"{len(cues) + 1}\n{_srt_time(start)} --> {_srt_time(end)}\n{text}\n")
        start = end + rng.choice([0.0, 0.2, 0.7, 1.5])
    return "\n".join(cues).encode()


# ---- MVBench -------------------------------------------------------------------------------------


def mvbench(
    out_dir: Path,
    data_list: dict[str, str],
    per_config: int = 2,
    frame_configs: tuple[str, ...] = ("episodic_reasoning",),
    alternative: tuple[str, ...] = ("moving_count",),
) -> None:
    """data_list: lmms-eval's mvbench DATA_LIST (config -> video folder). frame_configs: configs whose
    videos are folders of JPEG frames (3 fps); alternative: configs whose folder sits under data0613/."""
    import json

    from PIL import Image

    rng = random.Random("mvbench")
    v = 0
    (out_dir / "json").mkdir(parents=True, exist_ok=True)
    for config in sorted(data_list):
        rows = []
        folder = data_list[config]
        if config in alternative:
            folder = f"data0613/{folder}"
        for k in range(per_config):
            spec = random_clip(rng, v)
            v += 1
            if config in frame_configs:
                video = f"{config}_clip_{k:02d}"
                for i, frame in enumerate(clip_frames(spec)):
                    path = out_dir / folder / video / f"{i + 1:05d}.jpg"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(frame).save(path, quality=90)
            else:
                video = f"{config}_{k:02d}.mp4"
                write_clip(out_dir / folder / video, spec)
            question, options, right = _qa(rng, spec, v, rng.choice([2, 3, 4, 5]))
            rows.append(
                {"video": video, "question": question, "candidates": options, "answer": options[right]}
            )
        (out_dir / "json" / f"{config}.json").write_text(json.dumps(rows, indent=1))


# ---- EgoSchema (Subset) ------------------------------------------------------------------------------


def egoschema(out_dir: Path, n: int = 24, n_test_only: int = 6) -> None:
    """The Subset config (n questions with answers) and the GENERATION config (the full test: those n and
    n_test_only more, answers withheld as on the hub, where the server holds them), one video each."""
    rng = random.Random("egoschema")
    archives = Archives(out_dir)

    def add(rng: random.Random, v: int) -> dict:
        spec = random_clip(rng, v)
        idx = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        archives.add(f"videos_chunked_{v % 2 + 1:02d}.zip", f"videos/{idx}.mp4", spec)
        question, options, right = _qa(rng, spec, v, 5 if v % 3 != 1 else 4)
        if len(options) < 5:  # EgoSchema always has five options
            options = options + ["none of the above"]
        return {
            "question_idx": idx,
            "question": f"Taking into account the whole video, {question[0].lower()}{question[1:]}",
            "video_idx": idx,
            "option": [f"{letter}. {text}" for letter, text in zip(letters(5), options)],
            "answer": str(right),
        }

    rows = [add(rng, v) for v in range(n)]
    full_rng = random.Random("egoschema:full")  # drawn after the Subset, which stays as it was
    full = rows + [add(full_rng, n + v) for v in range(n_test_only)]
    full = [dict(r, answer="") for r in full]
    features = {
        "question_idx": _value("string"),
        "question": _value("string"),
        "video_idx": _value("string"),
        "option": _sequence("string"),
        "answer": _value("string"),
    }
    write_parquet(rows, features, out_dir / "Subset" / "test-00000-of-00001.parquet")
    write_parquet(full, features, out_dir / "GENERATION" / "test-00000-of-00001.parquet")
    archives.close()
    # the card declares both configs, as the hub's does (egoschema and egoschema_test read one each)
    spec = FetchSpec(
        task="egoschema",
        repo="lmms-eval/egoschema",
        revision=None,
        metadata_patterns=(),
        configs={c: {"test": f"{c}/test-*"} for c in ("GENERATION", "Subset")},
    )
    (out_dir / "README.md").write_text(
        readme_text(spec, "lmms-eval/egoschema (ov-bench generated sample set)")
    )


# ---- NExT-QA (MC) ----------------------------------------------------------------------------------

NEXTQA_TYPES = ["CW", "CH", "TN", "TC", "TP", "DB", "DC", "DL", "DO"]


def nextqa(out_dir: Path, n_videos: int = 10) -> None:
    rng = random.Random("nextqa")
    rows = []
    archives = Archives(out_dir)
    for v in range(n_videos):
        spec = random_clip(rng, v)
        video = rng.randrange(2_000_000_000, 9_999_999_999)
        archives.add("videos.zip", f"NExTVideo/{video}.mp4", spec)
        for qid in range(3):
            question, options, right = _qa(rng, spec, qid, 5 if qid != 1 else 4)
            if len(options) < 5:
                options = options + ["none of the above"]
            row = {
                "video": video,
                "frame_count": spec.num_frames,
                "width": spec.width,
                "height": spec.height,
                "question": question.lower().rstrip("?"),
                "answer": right,
                "qid": qid,
                "type": rng.choice(NEXTQA_TYPES),
            }
            row.update({f"a{i}": text for i, text in enumerate(options)})
            rows.append(row)
    features = {
        "video": _value("int64"),
        "frame_count": _value("int64"),
        "width": _value("int64"),
        "height": _value("int64"),
        "question": _value("string"),
        "answer": _value("int64"),
        "qid": _value("int64"),
        "type": _value("string"),
    }
    features.update({f"a{i}": _value("string") for i in range(5)})
    write_parquet(rows, features, out_dir / "MC" / "test-00000-of-00001.parquet")
    archives.close()


# ---- Perception Test (val, MC) -----------------------------------------------------------------------

PT_AREAS = ["memory", "abstraction", "physics", "semantics"]
PT_REASONING = ["descriptive", "explanatory", "predictive", "counterfactual"]
PT_TAGS = ["motion", "colour", "counting", "objects", "spatial relations", "change detection"]


def perceptiontest(out_dir: Path, n_videos: int = 10) -> None:
    rng = random.Random("perceptiontest")
    rows = []
    archives = Archives(out_dir)
    for v in range(n_videos):
        spec = random_clip(rng, v)
        name = f"video_{rng.randrange(10000, 99999)}"
        archives.add(f"videos_chunked_{v % 2 + 1:02d}.zip", f"videos/{name}.mp4", spec)
        for q in range(3):
            question, options, right = _qa(rng, spec, q, 3)
            rows.append(
                {
                    "video_name": name,
                    "question": question,
                    "question_id": str(q),
                    "options": options,
                    "answer_id": str(right),
                    "area": rng.choice(PT_AREAS),
                    "reasoning": rng.choice(PT_REASONING),
                    "tag": sorted(rng.sample(PT_TAGS, rng.choice([1, 2]))),
                }
            )
    features = {
        "video_name": _value("string"),
        "question": _value("string"),
        "question_id": _value("string"),
        "options": _sequence("string"),
        "answer_id": _value("string"),
        "area": _value("string"),
        "reasoning": _value("string"),
        "tag": _sequence("string"),
    }
    write_parquet(rows, features, out_dir / "mc_question_val" / "validation-00000-of-00001.parquet")
    archives.close()
    write_zip(
        out_dir / "valid_audios.zip", {f"audios/{r['video_name']}.wav": b"RIFF(sample)" for r in rows[::3]}
    )


# ---- MLVU (dev) -------------------------------------------------------------------------------------

# The 7 multiple-choice task types of MLVU dev (lmms-eval's m-avg divides by all of them).
MLVU_TASK_TYPES = ["anomaly_reco", "count", "ego", "needle", "order", "plotQA", "topic_reasoning"]


def mlvu_dev(out_dir: Path, n_videos: int = 8) -> None:
    """data/test-00000-of-00001.parquet (video_name, question with its options, candidates, answer letter,
    task_type); video_part_1.zip, _2.zip with the videos at the archive root, where lmms-eval looks
    ($HF_HOME/mlvu/<video_name>). The layout is inferred from lmms-eval's code (see tasks/long_video_tasks.py)."""
    rng = random.Random("mlvu_dev")
    rows = []
    archives = Archives(out_dir)
    for v in range(n_videos):
        spec = random_clip(rng, v)
        name = f"{MLVU_TASK_TYPES[v % len(MLVU_TASK_TYPES)]}_{rng.randrange(100, 999)}.mp4"
        archives.add(f"video_part_{v % 2 + 1}.zip", name, spec)
        for k in range(3):
            question, options, right = _qa(rng, spec, k, 4)
            if len(options) < 4:
                options = options + ["none of the above"]
            text = question + "".join(f"\n({letter}) {o}" for letter, o in zip(letters(4), options))
            rows.append(
                {
                    "video_name": name,
                    "duration": float(spec.seconds),
                    "question": text,
                    "candidates": options,
                    "answer": letters(4)[right],
                    # every type appears; the first video's questions span three types
                    "task_type": MLVU_TASK_TYPES[(v + (k if v == 0 else 0)) % len(MLVU_TASK_TYPES)],
                }
            )
    features = {
        "video_name": _value("string"),
        "duration": _value("float64"),
        "question": _value("string"),
        "candidates": _sequence("string"),
        "answer": _value("string"),
        "task_type": _value("string"),
    }
    write_parquet(rows, features, out_dir / "data" / "test-00000-of-00001.parquet")
    archives.close()


# ---- LongVideoBench (val) --------------------------------------------------------------------------

LVB_CATEGORIES = ["E2O", "E3E", "O2E", "O3O", "S2A", "S2E", "S2O", "SAA", "SOS", "SSS", "T2A", "T3O", "TOS"]
LVB_DURATION_GROUPS = [15, 60, 600, 3600]


def longvideobench(out_dir: Path, n_videos: int = 8) -> None:
    """validation-00000-of-00001.parquet at the repo root (option0..option4 with "N/A" for absent options,
    correct_choice an index, duration_group, question_category, video_path, ...); the videos in a tar split
    into videos.tar.part.aa, .ab with members videos/<video_path> (lmms-eval reads
    $HF_HOME/datasets/longvideobench/videos/<video_path>); subtitles.tar (only the _i variant needs it)."""
    import io
    import json
    import tarfile

    rng = random.Random("longvideobench")
    rows = []
    videos: dict[str, bytes] = {}
    subtitles: dict[str, bytes] = {}
    staging = out_dir / ".staging"
    for v in range(n_videos):
        spec = random_clip(rng, v)
        video_id = "".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(11))
        write_clip(staging / f"{video_id}.mp4", spec)
        videos[f"videos/{video_id}.mp4"] = (staging / f"{video_id}.mp4").read_bytes()
        subtitles[f"subtitles/{video_id}_en.json"] = json.dumps(
            [{"start": "00:00:00.5", "end": "00:00:01.5", "line": "a square moves"}]
        ).encode()
        for k in range(2):
            question, options, right = _qa(rng, spec, v + k, rng.choice([4, 5]))
            row = {
                "video_id": video_id,
                "question": question,
                "question_wo_referring_query": question,
                **{f"option{i}": options[i] if i < len(options) else "N/A" for i in range(5)},
                "correct_choice": right,
                "position": [0],
                "topic_category": rng.choice(["NP-News-Programs", "KS-Knowledge-STEM", "LC-Life-Cooking"]),
                "question_category": rng.choice(LVB_CATEGORIES),
                "level": rng.choice(["L1-Perception", "L2-Relation"]),
                "id": f"{video_id}_{k}",
                "video_path": f"{video_id}.mp4",
                "subtitle_path": f"{video_id}_en.json",
                "duration_group": LVB_DURATION_GROUPS[v % len(LVB_DURATION_GROUPS)],
                "starting_timestamp_for_subtitles": 0.0,
                "duration": float(spec.seconds),
            }
            rows.append(row)
    features = {
        "video_id": _value("string"),
        "question": _value("string"),
        "question_wo_referring_query": _value("string"),
        **{f"option{i}": _value("string") for i in range(5)},
        "correct_choice": _value("int64"),
        "position": _sequence("int64"),
        "topic_category": _value("string"),
        "question_category": _value("string"),
        "level": _value("string"),
        "id": _value("string"),
        "video_path": _value("string"),
        "subtitle_path": _value("string"),
        "duration_group": _value("int64"),
        "starting_timestamp_for_subtitles": _value("float64"),
        "duration": _value("float64"),
    }
    write_parquet(rows, features, out_dir / "validation-00000-of-00001.parquet")
    shutil.rmtree(staging, ignore_errors=True)

    def tar_bytes(members: dict[str, bytes]) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as t:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), 1704067200, 0o644
                t.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    packed = tar_bytes(videos)
    half = len(packed) // 2
    (out_dir / "videos.tar.part.aa").write_bytes(packed[:half])
    (out_dir / "videos.tar.part.ab").write_bytes(packed[half:])
    (out_dir / "subtitles.tar").write_bytes(tar_bytes(subtitles))


# ---- datasets Features helpers ------------------------------------------------------------------------


def _value(dtype: str) -> Any:
    import datasets

    return datasets.Value(dtype)


def _sequence(dtype: str) -> Any:
    import datasets

    return datasets.Sequence(datasets.Value(dtype))


def _ordered(features: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    return {k: features[k] for k in row}
