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


# Small images keep these sets quick to write; the multi-image path pads each image to a square anyway.
SMALL_SIZES = [(320, 240), (256, 256), (400, 200), (200, 300), (24, 18), (160, 120)]


def _small(rng: random.Random, counter: list[int], scene: list[tuple[str, str]]) -> dict:
    counter[0] += 1
    size = SMALL_SIZES[counter[0] % len(SMALL_SIZES)]
    return encode(shapes_image(rng, size, scene), f"img_{counter[0]}.png")


# ---- Mantis-Eval (TIGER-Lab/Mantis-Eval, config mantis_eval, test) ------------------------------------

MANTIS_CATEGORIES = ["Counting", "Comparison", "Difference", "Temporal"]


def mantis(out: Path, seed: int) -> None:
    """mantis_eval/test-00000-of-00001.parquet: id, question_type (multi-choice | short-answer), question
    with <image> markers, images (a list), options ("(A) ..." strings), answer, data_source, category."""
    from datasets import Image, Sequence, Value

    rng = random.Random(f"mantis:{seed}")
    counter = [0]
    rows = []
    for i in range(18):
        k = rng.randint(2, 4)
        scenes = [_scene(rng, rng.randint(1, 4)) for _ in range(k)]
        images = [_small(rng, counter, s) for s in scenes]
        markers = " ".join("<image>" for _ in range(k))
        counts = [len(s) for s in scenes]
        if i % 3 == 2:  # short answer: the total count
            question_type, options = "short-answer", []
            question = f"{markers} How many shapes are there in all the images together?"
            answer = str(sum(counts))
        else:
            question_type = "multi-choice"
            target = counts.index(max(counts))
            question = f"{markers} Which image has the most shapes?"
            options = [f"({letter}) Image {j + 1}" for j, letter in enumerate(letters(k))]
            answer = letters(k)[target] if i % 2 else f"({letters(k)[target]})"
        rows.append(
            {
                "id": f"mantis_{i:03d}",
                "question_type": question_type,
                "question": question,
                "images": images,
                "options": options,
                "answer": answer,
                "data_source": "ov-bench samples",
                "category": MANTIS_CATEGORIES[i % len(MANTIS_CATEGORIES)],
            }
        )
    features = {
        "id": Value("string"),
        "question_type": Value("string"),
        "question": Value("string"),
        "images": Sequence(Image()),
        "options": Sequence(Value("string")),
        "answer": Value("string"),
        "data_source": Value("string"),
        "category": Value("string"),
    }
    write_parquet(rows, features, out / "mantis_eval" / "test-00000-of-00001.parquet")


# ---- BLINK (BLINK-Benchmark/BLINK, one config per sub-task, val) ---------------------------------------

# images per question in each BLINK config (the real benchmark's counts)
BLINK_IMAGES = {
    "Art_Style": 3,
    "Counting": 1,
    "Forensic_Detection": 4,
    "Functional_Correspondence": 2,
    "IQ_Test": 1,
    "Jigsaw": 3,
    "Multi-view_Reasoning": 2,
    "Object_Localization": 1,
    "Relative_Depth": 1,
    "Relative_Reflectance": 1,
    "Semantic_Correspondence": 2,
    "Spatial_Relation": 1,
    "Visual_Correspondence": 2,
    "Visual_Similarity": 3,
}


def blink(out: Path, config: str, seed: int, n: int = 6) -> None:
    """<config>/val-00000-of-00001.parquet: idx, question, sub_task, image_1..image_4 (unused ones null),
    choices, answer ("(A)"), prompt (question and lettered choices), explanation."""
    from datasets import Image, Sequence, Value

    rng = random.Random(f"blink:{config}:{seed}")
    counter = [0]
    rows = []
    k = BLINK_IMAGES[config]
    for i in range(n):
        scenes = [_scene(rng, rng.randint(1, 4)) for _ in range(k)]
        cells = [_small(rng, counter, s) for s in scenes]
        if k == 1:
            color, shape = scenes[0][0]
            question = f"Is there a {color} {shape} in the image?"
            choices = ["yes", "no"] if i % 2 else ["no", "yes"]
            right = choices.index("yes")
        else:
            counts = [len(s) for s in scenes]
            question = "Which image has the most shapes?"
            choices = [f"Image {j + 1}" for j in range(k)]
            right = counts.index(max(counts))
        prompt = question + "\nSelect from the following choices.\n"
        prompt += "\n".join(f"({letter}) {c}" for letter, c in zip(letters(len(choices)), choices))
        rows.append(
            {
                "idx": f"val_{config}_{i + 1}",
                "question": question,
                "sub_task": config.replace("_", " "),
                **{f"image_{j + 1}": cells[j] if j < k else None for j in range(4)},
                "choices": choices,
                "answer": f"({letters(len(choices))[right]})",
                "prompt": prompt,
                "explanation": "",
            }
        )
    features = {
        "idx": Value("string"),
        "question": Value("string"),
        "sub_task": Value("string"),
        **{f"image_{j + 1}": Image() for j in range(4)},
        "choices": Sequence(Value("string")),
        "answer": Value("string"),
        "prompt": Value("string"),
        "explanation": Value("string"),
    }
    write_parquet(rows, features, out / config / "val-00000-of-00001.parquet")
