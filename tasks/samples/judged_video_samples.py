"""Sample sets for the judged video tasks, in the hub layouts inferred from where lmms-eval 0.7.3 looks
(none of these repos' archive members could be seen offline):

    activitynetqa           data/test-00000-of-00001.parquet; videos_chunked_01.zip, _02.zip
                            (members all_test/v_<video_name>.mp4)
    videochatgpt_*          <Generic|Temporal|Consistency>/test-00000-of-00001.parquet (the README
                            configs of lmms-lab/VideoChatGPT); videos.zip (Test_Videos/<video_name>.mp4)
    video_dc499             data/test-00000-of-00001.parquet; Test_Videos.zip (Test_Videos/<video_name>.mp4)

Clips are the small moving-square videos of tasks/samples/video_samples.py.
"""

from __future__ import annotations

import random
import string
from pathlib import Path

from tasks.samples.draw import write_parquet
from tasks.samples.video_samples import Archives, _value, random_clip


def _video_name(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits + "-_"
    return "".join(rng.choice(alphabet) for _ in range(11))  # YouTube ids, as ActivityNet's


def _description(spec) -> str:
    return f"A {spec.color} square moves {spec.direction} across a gradient background."


def activitynetqa(out_dir: Path, n_videos: int = 6) -> None:
    rng = random.Random("activitynetqa")
    rows = []
    archives = Archives(out_dir)
    for v in range(n_videos):
        spec = random_clip(rng, v)
        name = _video_name(rng)
        archives.add(f"videos_chunked_{v % 2 + 1:02d}.zip", f"all_test/v_{name}.mp4", spec)
        qas = [
            ("what color is the moving square", spec.color, "4"),
            ("is the square moving", "yes", "3"),
        ]
        for k, (question, answer, qtype) in enumerate(qas):
            rows.append(
                {
                    "video_name": name,
                    "question_id": f"v_{name}_{k}",
                    "question": question,
                    "answer": answer,
                    "type": qtype,
                }
            )
    features = {k: _value("string") for k in ("video_name", "question_id", "question", "answer", "type")}
    write_parquet(rows, features, out_dir / "data" / "test-00000-of-00001.parquet")
    archives.close()


def _videochatgpt_videos(rng: random.Random, archives: Archives, n_videos: int) -> list[tuple[str, object]]:
    videos = []
    for v in range(n_videos):
        spec = random_clip(rng, v)
        name = f"v_{_video_name(rng)}"
        archives.add("videos.zip", f"Test_Videos/{name}.mp4", spec)
        videos.append((name, spec))
    return videos


def videochatgpt_gen(out_dir: Path, n_videos: int = 5) -> None:
    rng = random.Random("videochatgpt_gen")
    archives = Archives(out_dir)
    rows = []
    for name, spec in _videochatgpt_videos(rng, archives, n_videos):
        rows.append(
            {"video_name": name, "question": "What happens in the video?", "answer": _description(spec)}
        )
        rows.append(
            {
                "video_name": name,
                "question": "What colour is the square?",
                "answer": f"The square is {spec.color}.",
            }
        )
    features = {k: _value("string") for k in ("video_name", "question", "answer")}
    write_parquet(rows, features, out_dir / "Generic" / "test-00000-of-00001.parquet")
    archives.close()


def videochatgpt_temporal(out_dir: Path, n_videos: int = 5) -> None:
    rng = random.Random("videochatgpt_temporal")
    archives = Archives(out_dir)
    rows = [
        {
            "video_name": name,
            "question": "Where is the square at the start and at the end of the video?",
            "answer": f"It starts on one side and ends after moving {spec.direction}.",
        }
        for name, spec in _videochatgpt_videos(rng, archives, n_videos)
    ]
    features = {k: _value("string") for k in ("video_name", "question", "answer")}
    write_parquet(rows, features, out_dir / "Temporal" / "test-00000-of-00001.parquet")
    archives.close()


def videochatgpt_consistency(out_dir: Path, n_videos: int = 5) -> None:
    """Two rows per video: the first phrasing in question_1 (question_2 "None"), then the second."""
    rng = random.Random("videochatgpt_consistency")
    archives = Archives(out_dir)
    rows = []
    for name, spec in _videochatgpt_videos(rng, archives, n_videos):
        q1, q2 = "Which way does the square move?", "In what direction is the square travelling?"
        answer = f"The square moves {spec.direction}."
        rows.append({"video_name": name, "question_1": q1, "question_2": "None", "answer": answer})
        rows.append({"video_name": name, "question_1": "None", "question_2": q2, "answer": answer})
    features = {k: _value("string") for k in ("video_name", "question_1", "question_2", "answer")}
    write_parquet(rows, features, out_dir / "Consistency" / "test-00000-of-00001.parquet")
    archives.close()


def video_dc499(out_dir: Path, n_videos: int = 6) -> None:
    rng = random.Random("video_dc499")
    archives = Archives(out_dir)
    rows = []
    for v in range(n_videos):
        spec = random_clip(rng, v)
        name = f"v_{_video_name(rng)}"
        archives.add("Test_Videos.zip", f"Test_Videos/{name}.mp4", spec)
        rows.append(
            {
                "video_name": name,
                "question": "Please provide a detailed description of the video, focusing on the main subjects, "
                "their actions, the background scenes.",
                "answer": _description(spec),
            }
        )
    features = {k: _value("string") for k in ("video_name", "question", "answer")}
    write_parquet(rows, features, out_dir / "data" / "test-00000-of-00001.parquet")
    archives.close()
