"""Sample sets for the multi-image benchmarks (muirbench, llava_interleave_bench) in their hub
schemas: MuirBench's `image_list` sequence of images, the Interleave Bench's image_0..image_N
columns in its in_domain and out_of_domain configs."""

from __future__ import annotations

import random
from pathlib import Path

from tasks.samples.draw import COLORS, SHAPES, encode, letters, shapes_image, size_at, write_parquet


def _scene(rng: random.Random, n: int) -> list[tuple[str, str]]:
    return [(rng.choice(list(COLORS)), rng.choice(SHAPES)) for _ in range(n)]


# ---- MuirBench (MUIRBENCH/MUIRBENCH, test) ----------------------------------------------------

MUIR_TASKS = [
    ("Counting", "Independent", "Synthetic"),
    ("Visual Retrieval", "Similar", "Synthetic"),
    ("Difference Spotting", "Similar", "Synthetic"),
    ("Image-Text Matching", "Independent", "Synthetic"),
]


def muirbench(out: Path, seed: int) -> None:
    from datasets import Image, Sequence, Value

    rng = random.Random(f"muirbench:{seed}")
    rows = []
    n_img = 0
    for i in range(24):
        task, relation, image_type = MUIR_TASKS[i % len(MUIR_TASKS)]
        k = rng.randint(2, 5)
        scenes = [_scene(rng, rng.randint(1, 4)) for _ in range(k)]
        cells = []
        for scene in scenes:
            n_img += 1
            cells.append(encode(shapes_image(rng, size_at(n_img), scene), f"muir_{n_img}.png"))
        markers = " ".join("<image>" for _ in range(k))
        if task == "Counting":
            counts = [len(s) for s in scenes]
            question = f"{markers} How many shapes are there in all images together?"
            total = sum(counts)
            options = [str(total + d) for d in (-1, 0, 1, 2)]
            rng.shuffle(options)
            answer = letters(len(options))[options.index(str(total))]
        elif task == "Image-Text Matching":
            color, shape = scenes[0][0]
            question = f"Which description matches the first image? {markers}"
            wrong = [f"a {c} {s}" for c, s in _scene(rng, 3) if (c, s) != (color, shape)]
            options = [f"a {color} {shape}", *wrong][:4]
            rng.shuffle(options)
            answer = letters(len(options))[options.index(f"a {color} {shape}")]
        else:  # options are images, as in MuirBench's retrieval tasks
            target = rng.randrange(k)
            question = (
                f"Which image contains a {scenes[target][0][0]} {scenes[target][0][1]} first? {markers}"
            )
            options = [f"Image {j + 1}" for j in range(k)]
            answer = letters(k)[target]
        rows.append(
            {
                "idx": str(i),
                "task": task,
                "image_relation": relation,
                "image_type": image_type,
                "question": question,
                "options": options,
                "answer": answer,
                "image_list": cells,
            }
        )
    features = {
        "idx": Value("string"),
        "task": Value("string"),
        "image_relation": Value("string"),
        "image_type": Value("string"),
        "question": Value("string"),
        "options": Sequence(Value("string")),
        "answer": Value("string"),
        "image_list": Sequence(Image()),
    }
    write_parquet(rows, features, out / "data" / "test-00000-of-00001.parquet")


# ---- LLaVA-NeXT-Interleave-Bench (lmms-lab-encoder/LLaVA-NeXT-Interleave-Bench, test) -----------

IN_DOMAIN_SUBTASKS = [
    "Spot-the-Diff",
    "IEdit",
    "AESOP",
    "COMICS_Dialogue",
    "WebQA",
    "MIT-States_StateCoherence",
    "RAVEN",
    "QBench",
]
OUT_DOMAIN_SUBTASKS = ["BLINK", "MathVerse", "SciVerse", "Mantis", "NLVR2_Mantis"]


def _interleave_row(
    rng: random.Random, i: int, sub_task: str, n_max: int, counter: list[int]
) -> tuple[dict, dict]:
    k = rng.randint(2, min(4, n_max))
    scenes = [_scene(rng, rng.randint(1, 3)) for _ in range(k)]
    images: dict[str, dict | None] = {f"image_{j}": None for j in range(n_max)}
    for j, scene in enumerate(scenes):
        counter[0] += 1
        images[f"image_{j}"] = encode(
            shapes_image(rng, size_at(counter[0]), scene), f"interleave_{counter[0]}.png"
        )
    markers = "".join(f"Image {j + 1}: <image>\n" for j in range(k))
    if i % 3 == 2:  # open-ended, scored with ROUGE-L
        color, shape = scenes[0][0]
        question = f"{markers}Describe the first shape in the first image."
        answer = f"a {color} {shape}"
        qtype = "open-ended"
    else:
        target = rng.randrange(k)
        options = [f"Image {j + 1}" for j in range(k)]
        question = (
            f"{markers}Which image has the most shapes?\n"
            + "\n".join(f"{letter}. {o}" for letter, o in zip(letters(k), options))
            + "\nYour answer is:"
        )
        counts = [len(s) for s in scenes]
        target = counts.index(max(counts))
        answer = letters(k)[target] if i % 2 else f"{letters(k)[target]}. {options[target]}"
        qtype = "multi-choice"
    return {"question": question, "answer": answer, "question_type": qtype}, images


def llava_interleave_bench(out: Path, seed: int) -> None:
    from datasets import Image, Value

    rng = random.Random(f"llava_interleave_bench:{seed}")
    counter = [0]
    rows = []
    for i in range(24):
        sub_task = IN_DOMAIN_SUBTASKS[i % len(IN_DOMAIN_SUBTASKS)]
        qa, images = _interleave_row(rng, i, sub_task, 12, counter)
        rows.append({"sample_id": i, "sub_task": sub_task, **images, **qa})
    features = {
        "sample_id": Value("int64"),
        "sub_task": Value("string"),
        **{f"image_{j}": Image() for j in range(12)},
        "question": Value("string"),
        "answer": Value("string"),
        "question_type": Value("string"),
    }
    write_parquet(rows, features, out / "in_domain" / "test-00000-of-00001.parquet")

    rows = []
    for i in range(12):
        sub_task = OUT_DOMAIN_SUBTASKS[i % len(OUT_DOMAIN_SUBTASKS)]
        qa, images = _interleave_row(rng, i, sub_task, 5, counter)
        n = sum(v is not None for v in images.values())
        choices = str(letters(n)) if qa["question_type"] == "multi-choice" else "[]"
        rows.append(
            {
                "sample_id": i,
                "sub_task": sub_task,
                **images,
                **qa,
                "choice_list": choices,
                "dataset": sub_task,
                "split": "test",
                "num_sample": n,
                "task_instruction": "Answer the question about the images.",
            }
        )
    # column order as on the hub: question, answer, choice_list, question_type, dataset, ...
    order = [
        "sample_id",
        "sub_task",
        *[f"image_{j}" for j in range(5)],
        "question",
        "answer",
        "choice_list",
        "question_type",
        "dataset",
        "split",
        "num_sample",
        "task_instruction",
    ]
    rows = [{k: r[k] for k in order} for r in rows]
    features = {
        "sample_id": Value("int64"),
        "sub_task": Value("string"),
        **{f"image_{j}": Image() for j in range(5)},
        "question": Value("string"),
        "answer": Value("string"),
        "choice_list": Value("string"),
        "question_type": Value("string"),
        "dataset": Value("string"),
        "split": Value("string"),
        "num_sample": Value("int64"),
        "task_instruction": Value("string"),
    }
    write_parquet(rows, features, out / "out_of_domain" / "test-00000-of-00001.parquet")
