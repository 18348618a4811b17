"""Test doubles for the runner tests (no tests here): small in-memory tasks and an instant model.

The fake tasks implement the tasks/ API contract (load, doc_id, doc_to_text, load_visuals, score,
aggregate) over a handful of generated docs, so runner behaviour (resume, errors, sharding,
determinism) is tested without depending on any benchmark's data.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from ov_bench.adapters.base import Generation, ModelAdapter, Prepared
from tasks.base import HubDataset, MediaError, Task, VideoClip, Visuals

SIZES = [(640, 480), (384, 384), (1024, 300), (200, 700), (800, 800), (500, 333), (1280, 720), (96, 64)]


def png_bytes(size: tuple[int, int], seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


class FakeImageTask(Task):
    name = "fake_image"
    lmms_eval_name = "fake_image"
    modality = "single_image"
    dataset = HubDataset("test/fake-image", None, "test", None)
    main_metric = "accuracy"
    id_column = "id"

    def __init__(self, n: int = 6, corrupt: tuple[int, ...] = ()) -> None:
        self._docs = []
        for i in range(n):
            image = b"\x89PNG\r\n\x1a\n broken" if i in corrupt else png_bytes(SIZES[i % len(SIZES)], i)
            self._docs.append(
                {
                    "id": f"img-{i}",
                    "question": f"Which letter? ({i})",
                    "answer": "ABCD"[i % 4],
                    "image": image,
                }
            )

    @property
    def generation_kwargs(self) -> dict[str, Any]:
        return {"max_new_tokens": 4}

    def load(self, data: str = "hub", limit: int | None = None, seed: int = 0) -> list[dict]:
        return list(self._docs[:limit] if limit else self._docs)

    def doc_to_text(self, doc: dict, prompt_model: str | None = None) -> str:
        return doc["question"] + "\nAnswer with the option's letter from the given choices directly."

    def load_visuals(self, doc: dict, frames: int = 32) -> Visuals:
        try:
            image = Image.open(io.BytesIO(doc["image"]))
            image.load()
        except Exception as exc:
            raise MediaError(f"{doc['id']}: corrupt image ({type(exc).__name__})") from None
        return Visuals(images=[image.convert("RGB")])

    def image_sizes(self, doc: dict) -> list[tuple[int, int]]:
        return [Image.open(io.BytesIO(doc["image"])).size]

    def score(self, doc: dict, response: str) -> dict:
        parsed = response.strip()[:1] or None
        return {"score": float(parsed == doc["answer"]), "parsed": parsed, "parse_failed": parsed is None}

    def aggregate(self, records: list[dict]) -> dict[str, float]:
        n = len(records)
        return {
            "accuracy": sum(r["score"] for r in records) / n,
            "parse_failure_rate": sum(r["parse_failed"] for r in records) / n,
        }


class FakeVideoTask(FakeImageTask):
    name = "fake_video"
    lmms_eval_name = "fake_video"
    modality = "video"
    main_metric = "accuracy"

    def __init__(self, n: int = 3, truncated: tuple[int, ...] = ()) -> None:
        self._docs = [
            {
                "id": f"vid-{i}",
                "question": f"What happens? ({i})",
                "answer": "ABCD"[i % 4],
                "broken": i in truncated,
            }
            for i in range(n)
        ]

    def load_visuals(self, doc: dict, frames: int = 32) -> Visuals:
        if doc["broken"]:
            raise MediaError(f"{doc['id']}.mp4: truncated video (decoded 3 of 90 frames)")
        seed = int(doc["id"].split("-")[1])
        rng = np.random.default_rng(seed)
        arr = rng.integers(0, 255, (frames, 64, 96, 3), dtype=np.uint8)
        idx = [int(x) for x in np.linspace(0, 89, frames)]
        return Visuals(
            video=VideoClip(frames=arr, indices=idx, total_frames=90, fps=30.0, path=f"{doc['id']}.mp4")
        )

    def image_sizes(self, doc: dict) -> list[tuple[int, int]]:
        return []


class FakeMultiImageTask(FakeImageTask):
    name = "fake_multi"
    lmms_eval_name = "fake_multi"
    modality = "multi_image"

    def __init__(self, n: int = 3) -> None:
        self._docs = [
            {
                "id": f"multi-{i}",
                "question": f"Which image differs? ({i})",
                "answer": "ABCD"[i % 4],
                "images": [
                    png_bytes(SIZES[(i + k) % len(SIZES)], 100 + 10 * i + k) for k in range(2 + i % 2)
                ],
            }
            for i in range(n)
        ]

    def load_visuals(self, doc: dict, frames: int = 32) -> Visuals:
        return Visuals(images=[Image.open(io.BytesIO(b)).convert("RGB") for b in doc["images"]])

    def image_sizes(self, doc: dict) -> list[tuple[int, int]]:
        return [Image.open(io.BytesIO(b)).size for b in doc["images"]]


FAKES = {"fake_image": FakeImageTask, "fake_video": FakeVideoTask, "fake_multi": FakeMultiImageTask}


def fake_tasks(**overrides: Any):
    """A task_factory for Runner: names -> fresh fake tasks (kwargs per name via overrides)."""

    def factory(name: str) -> Task:
        if name in FAKES:
            return FAKES[name](**overrides.get(name, {}))
        from tasks import get_task

        return get_task(name)

    return factory


class InstantAdapter(ModelAdapter):
    """A model that answers at once: no preprocessing tensors, no forward pass. Counts come from
    the reference arithmetic so the runner's token check passes."""

    kind = "instant"

    def __init__(self, answer: str = "A") -> None:
        self.model_id, self.answer, self._tau = "instant", answer, 6561

    @property
    def threshold(self) -> int | None:
        return self._tau

    def set_threshold(self, tau: int | None) -> None:
        self._tau = tau

    def prepare(self, question: str, images: list, video: Any | None) -> Prepared:
        from reference_model import count_prompt_visual_tokens

        frames = [len(video.frames)] if video is not None else []
        counted = count_prompt_visual_tokens([im.size for im in images], frames, max_grid_tokens=self._tau)
        return Prepared({}, question, counted, num_images=len(images), num_frames=sum(frames))

    def generate(self, prepared: Prepared, max_new_tokens: int, timer: Any) -> Generation:
        return Generation(self.answer, 1, prepared.visual_tokens_counted, prepared.visual_tokens_counted + 20)
