"""Sample sets for infovqa_val, mmstar, scienceqa_img, realworldqa, seedbench and MMBench (en dev), each
in its hub schema and at its hub repo's file paths (docs/tasks.md says which layouts were seen and which
inferred). Answers are read off the drawn pixels where that is cheap; the option texts, hints and
categories are the benchmarks' own kinds of values so every branch of lmms-eval's prompt and scoring
functions is exercised (missing hints, two- to five-option questions, open answers, video frame lists,
MMBench's CircularEval rotations)."""

from __future__ import annotations

import random
from pathlib import Path

from tasks.samples.draw import (
    encode,
    letters,
    random_scene,
    shapes_image,
    size_at,
    text_page,
    write_parquet,
)


def _count_question(rng: random.Random, n_options: int) -> tuple[list[tuple[str, str]], list[str], int]:
    """A scene, option texts (counts) and the index of the right one."""
    n = rng.randint(1, 5)
    items = random_scene(rng, n)
    distractors = rng.sample([v for v in range(10) if v != n], n_options - 1)
    options = [str(v) for v in (n, *distractors)]
    rng.shuffle(options)
    return items, options, options.index(str(n))


# ---- InfoVQA (lmms-lab-encoder/DocVQA, config InfographicVQA, validation) ---------------------


def infovqa(out: Path, seed: int) -> None:
    import json

    rng = random.Random(f"infovqa:{seed}")
    rows = []
    topics = ["Coffee consumption", "Internet users", "Renewable energy", "City cycling"]
    for doc in range(8):
        topic = rng.choice(topics)
        share = rng.randint(5, 95)
        year = rng.randint(2005, 2022)
        country = rng.choice(["Canada", "Japan", "Brazil", "Kenya", "Norway"])
        lines = [topic.upper(), f"{share}% of adults in {country}", f"Survey year: {year}", "Source: sample"]
        cell = encode(text_page(rng, size_at(doc + 2), lines), f"{30000 + doc}.jpeg", fmt="JPEG")
        qas = [
            (f"What percentage of adults in {country} is shown?", [f"{share}%", str(share)], ["single span"]),
            ("In which year was the survey done?", [str(year)], ["single span"]),
            ("Which country is the infographic about?", [country], ["question span"]),
        ]
        for q_i, (question, answers, types) in enumerate(qas):
            rows.append(
                {
                    "questionId": str(65000 + doc * 10 + q_i),
                    "question": question,
                    "answers": answers,
                    "answer_type": types,
                    "image": cell,
                    "image_url": f"https://example.invalid/infographics/{30000 + doc}.jpeg",
                    "operation/reasoning": ["counting"] if q_i == 0 else [],
                    "ocr": json.dumps({"lines": lines}),
                    "data_split": "val",
                }
            )
    write_parquet(rows, infovqa_features(), out / "InfographicVQA" / "validation-00000-of-00001.parquet")


def infovqa_features() -> dict:
    """The InfographicVQA config's columns (validation and test share them)."""
    from datasets import Image, Sequence, Value

    return {
        "questionId": Value("string"),
        "question": Value("string"),
        "answers": Sequence(Value("string")),
        "answer_type": Sequence(Value("string")),
        "image": Image(),
        "image_url": Value("string"),
        "operation/reasoning": Sequence(Value("string")),
        "ocr": Value("string"),
        "data_split": Value("string"),
    }


# ---- MMStar (Lin-Chen/MMStar, config mmstar, split val: mmstar.parquet) -----------------------

MMSTAR_L2 = {
    "coarse perception": ["image scene and topic", "image style & quality", "image emotion"],
    "fine-grained perception": ["object counting", "recognition", "localization"],
    "instance reasoning": ["single-instance reasoning", "cross-instance attribute reasoning"],
    "logical reasoning": ["diagram reasoning", "common reasoning"],
    "science & technology": ["biology & chemistry & physics"],
    "math": ["geometry", "numeric commonsense and calculation"],
}


def mmstar(out: Path, seed: int) -> None:
    from datasets import Image, Value

    rng = random.Random(f"mmstar:{seed}")
    rows = []
    pairs = [(c, l2) for c, l2s in MMSTAR_L2.items() for l2 in l2s]
    for i in range(30):
        category, l2 = pairs[i % len(pairs)]
        items, options, right = _count_question(rng, 4)
        question = "How many shapes are in the image?\nOptions: " + ", ".join(
            f"{letter}: {o}" for letter, o in zip(letters(4), options)
        )
        if i % 5 == 0:  # some MMStar questions carry a yes/no suffix that the prompt replaces
            question = f"Is the count in the image {options[right]}? Please answer yes or no.\n" + question
        rows.append(
            {
                "index": i,
                "question": question,
                "image": encode(shapes_image(rng, size_at(i), items), f"mmstar_{i}.png"),
                "answer": letters(4)[right],
                "category": category,
                "l2_category": l2,
                "meta_info": {"source": "sample", "split": "val", "image_path": f"images/{i}.png"},
            }
        )
    features = {
        "index": Value("int64"),
        "question": Value("string"),
        "image": Image(),
        "answer": Value("string"),
        "category": Value("string"),
        "l2_category": Value("string"),
        "meta_info": {"source": Value("string"), "split": Value("string"), "image_path": Value("string")},
    }
    write_parquet(rows, features, out / "mmstar.parquet")


# ---- ScienceQA-IMG (lmms-lab-encoder/ScienceQA, config ScienceQA-IMG, test) -------------------

SQA_SUBJECTS = [
    ("natural science", "physics", "Materials"),
    ("social science", "geography", "Geography"),
    ("language science", "writing-strategies", "Writing"),
]


def scienceqa(out: Path, seed: int) -> None:
    from datasets import Image, Sequence, Value

    rng = random.Random(f"scienceqa:{seed}")
    rows = []
    for i in range(30):
        subject, topic, category = SQA_SUBJECTS[i % len(SQA_SUBJECTS)]
        n_options = 2 + i % 4  # two to five choices
        items, options, right = _count_question(rng, n_options)
        rows.append(
            {
                "image": encode(shapes_image(rng, size_at(i + 1), items), f"sqa_{i}.png"),
                "question": "How many shapes are shown?",
                "choices": options,
                "answer": right,
                "hint": "" if i % 3 else "Count every shape in the picture.",
                "task": "closed choice",
                "grade": f"grade{1 + i % 8}",
                "subject": subject,
                "topic": topic,
                "category": category,
                "skill": "Count objects",
                "lecture": "Counting means finding how many objects there are.",
                "solution": f"There are {options[right]} shapes.",
            }
        )
    features = {
        "image": Image(),
        "question": Value("string"),
        "choices": Sequence(Value("string")),
        "answer": Value("int8"),
        "hint": Value("string"),
        "task": Value("string"),
        "grade": Value("string"),
        "subject": Value("string"),
        "topic": Value("string"),
        "category": Value("string"),
        "skill": Value("string"),
        "lecture": Value("string"),
        "solution": Value("string"),
    }
    write_parquet(rows, features, out / "ScienceQA-IMG" / "test-00000-of-00001.parquet")


# ---- RealWorldQA (lmms-lab-encoder/RealWorldQA, test, two parquet shards) ---------------------

RWQA_MC_SUFFIX = "Please answer directly with only the letter of the correct option and nothing else."


def realworldqa(out: Path, seed: int) -> None:
    from datasets import Image, Value

    rng = random.Random(f"realworldqa:{seed}")
    rows = []
    for i in range(24):
        items, options, right = _count_question(rng, 3)
        kind = i % 3
        if kind == 0:  # multiple choice with the option lines in the question, as the hub rows have
            question = "How many shapes can be seen?\n" + "\n".join(
                f"{letter}. {o}" for letter, o in zip(letters(3), options)
            )
            question, answer = f"{question}\n{RWQA_MC_SUFFIX}", letters(3)[right]
        elif kind == 1:  # open numeric answer
            question, answer = (
                "How many shapes can be seen? Please answer directly with a single number.",
                str(len(items)),
            )
        else:  # open word answer
            color = items[0][0]
            question, answer = (
                "What colour is the first shape? Please answer directly with a single word.",
                color.capitalize(),
            )
        rows.append(
            {
                "image": encode(
                    shapes_image(rng, size_at(i + 4), items), f"{i}.webp" if i % 2 else f"{i}.jpg", fmt="PNG"
                ),
                "question": question,
                "answer": answer,
                "image_path": f"images/{i}.jpg",
            }
        )
    features = {
        "image": Image(),
        "question": Value("string"),
        "answer": Value("string"),
        "image_path": Value("string"),
    }
    half = len(rows) // 2
    write_parquet(rows[:half], features, out / "data" / "test-00000-of-00002.parquet")
    write_parquet(rows[half:], features, out / "data" / "test-00001-of-00002.parquet")


# ---- SEED-Bench (lmms-lab-encoder/SEED-Bench, test): image rows and video rows (frame lists) ---

SEED_IMAGE_TYPES = [
    1,
    2,
    3,
    5,
    9,
]  # question_type_id of image dimensions (scene, identity, attribute, count, text)
SEED_VIDEO_TYPES = [10, 11, 12]  # action recognition, action prediction, procedure understanding


def seedbench(out: Path, seed: int) -> None:
    from datasets import Image, Sequence, Value

    rng = random.Random(f"seedbench:{seed}")
    rows = []
    for i in range(30):
        video = i % 3 == 2
        items, options, right = _count_question(rng, 4)
        if video:  # a clip as the hub stores it: a list of frames, one more shape per frame
            n_frames = 4 + i % 5
            frames = [
                encode(shapes_image(rng, (160, 120), items[: 1 + f % len(items)]), f"{i}_{f}.png")
                for f in range(n_frames)
            ]
            question = "How many shapes are there in the last frame?"
            qtype, data_id, segment = SEED_VIDEO_TYPES[i % 3], f"video_{i}.mp4", [0, n_frames - 1]
        else:
            frames = [encode(shapes_image(rng, size_at(i), items), f"{i}.jpg", fmt="JPEG")]
            question = "How many shapes are in the image?"
            qtype, data_id, segment = SEED_IMAGE_TYPES[i % len(SEED_IMAGE_TYPES)], f"images/{i}.jpg", None
        rows.append(
            {
                "answer": letters(4)[right],
                "choice_a": options[0],
                "choice_b": options[1],
                "choice_c": options[2],
                "choice_d": options[3],
                "data_id": data_id,
                "data_type": "video" if video else "image",
                "question": question,
                "question_id": str(100 + i),
                "question_type_id": qtype,
                "image": frames,
                "segment": segment,
            }
        )
    features = {
        "answer": Value("string"),
        "choice_a": Value("string"),
        "choice_b": Value("string"),
        "choice_c": Value("string"),
        "choice_d": Value("string"),
        "data_id": Value("string"),
        "data_type": Value("string"),
        "question": Value("string"),
        "question_id": Value("string"),
        "question_type_id": Value("int16"),
        "image": Sequence(Image()),
        "segment": Sequence(Value("int64")),
    }
    third = len(rows) // 3
    for part in range(3):
        chunk = rows[part * third : (part + 1) * third]
        write_parquet(chunk, features, out / "data" / f"test-{part:05d}-of-00003.parquet")


# ---- MMBench (lmms-lab-encoder/MMBench, config en, dev): CircularEval rotations ---------------

MMBENCH_CATEGORIES = [
    ("object_localization", "Fine-grained Perception (instance)"),
    ("image_scene", "Coarse Perception"),
    ("attribute_recognition", "Fine-grained Perception (instance)"),
    ("spatial_relationship", "Relation Reasoning"),
]
CIRCULAR = 1_000_000


def mmbench_en(out: Path, seed: int) -> None:
    """Questions with 2-4 options; a question with k options has k rows: index i (the original) and
    index i + r * 1e6 (r = 1..k-1) with the options rotated by r, as in MMBench's CircularEval."""
    from datasets import Image, Value

    rng = random.Random(f"mmbench:{seed}")
    rows = []
    for q in range(12):
        category, l2 = MMBENCH_CATEGORIES[q % len(MMBENCH_CATEGORIES)]
        k = 2 + q % 3
        items, options, right = _count_question(rng, k)
        cell = encode(shapes_image(rng, size_at(q + 6), items), f"mmbench_{q}.jpg", fmt="JPEG")
        hint = None if q % 2 else "The picture shows simple shapes."
        for r in range(k):
            rotated = options[r:] + options[:r]
            answer = letters(k)[rotated.index(options[right])]
            cols = {letter: (rotated[j] if j < k else None) for j, letter in enumerate("ABCD")}
            rows.append(
                {
                    "index": q + r * CIRCULAR,
                    "question": "How many shapes are in the image?",
                    "hint": hint,
                    "answer": answer,
                    **cols,
                    "category": category,
                    "image": cell,
                    "source": "sample",
                    "L2-category": l2,
                    "comment": None,
                    "split": "dev",
                }
            )
    rows.sort(key=lambda r: r["index"])  # the hub file is in index order: originals, then rotations
    features = {
        "index": Value("int64"),
        "question": Value("string"),
        "hint": Value("string"),
        "answer": Value("string"),
        "A": Value("string"),
        "B": Value("string"),
        "C": Value("string"),
        "D": Value("string"),
        "category": Value("string"),
        "image": Image(),
        "source": Value("string"),
        "L2-category": Value("string"),
        "comment": Value("string"),
        "split": Value("string"),
    }
    write_parquet(rows, features, out / "en" / "dev-00000-of-00001.parquet")
