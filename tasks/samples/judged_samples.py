"""Sample sets for the judged single-image tasks, each in its hub repo's schema and file layout
(``layout_verified`` says which layouts were seen and which are inferred from lmms-eval's code):

    mmvet                           data/test-00000-of-00001.parquet (lmms-lab/MMVet; columns inferred)
    llava_in_the_wild               data/train-00000-of-00001.parquet (columns inferred)
    dc100_en                        data/test-00000-of-00001.parquet (columns inferred)
    mathvista_testmini_*            data/testmini-00000-of-00001.parquet (AI4Math/MathVista's features)
    mathverse_testmini_vision_only  testmini_vision_only.parquet (README config testmini_version_split)

Answers can be read off the drawn pixels; the judge decides the scores, so what matters here is the
schema and a spread of the cases lmms-eval's scoring code branches on (MathVista: multiple choice,
integer, float with the hub's float precision, text; rules that extract without the judge and
responses that need it).
"""

from __future__ import annotations

import random
from pathlib import Path

from tasks.samples.draw import (
    COLORS,
    encode,
    letters,
    random_scene,
    shapes_image,
    size_at,
    text_page,
    write_parquet,
)

# ---- MMVet (lmms-lab-encoder/MMVet, test) --------------------------------------------------------------

MMVET_CAPABILITIES = ["rec", "ocr", "rec,know", "ocr,math", "rec,spat", "rec,gen", "ocr,spat,math"]


def mmvet(out: Path, n: int = 14) -> None:
    from datasets import Image, Value

    rng = random.Random("mmvet")
    rows = []
    for i in range(n):
        capability = MMVET_CAPABILITIES[i % len(MMVET_CAPABILITIES)]
        items = random_scene(rng, rng.randint(1, 4))
        if "ocr" in capability:
            a, b = rng.randint(2, 9), rng.randint(2, 9)
            image = text_page(rng, size_at(i), [f"{a} x {b} = ?"])
            question, answer = "What is the answer to the question in the image?", str(a * b)
            if "spat" in capability:
                answer = f"{a * b}<OR>{a} times {b} is {a * b}"
        else:
            image = shapes_image(rng, size_at(i), items)
            colors = sorted({c for c, _ in items})
            question = "Which colours do the shapes in the image have?"
            answer = "<AND>".join(colors)
            if "gen" in capability:
                question, answer = (
                    "Describe the image in one sentence.",
                    f"{len(items)} coloured shapes on a plain background.",
                )
        rows.append(
            {
                "question_id": f"v1_{i}",
                "image": encode(image, f"v1_{i}.png"),
                "question": question,
                "answer": answer,
                "image_source": "ov-bench-samples",
                "capability": capability,
            }
        )
    features = {
        "question_id": Value("string"),
        "image": Image(),
        "question": Value("string"),
        "answer": Value("string"),
        "image_source": Value("string"),
        "capability": Value("string"),
    }
    write_parquet(rows, features, out / "data" / "test-00000-of-00001.parquet")


# ---- LLaVA-Bench in the wild (lmms-lab-encoder/llava-bench-in-the-wild, train) ------------------------


def llava_in_the_wild(out: Path, n: int = 12) -> None:
    from datasets import Image, Value

    rng = random.Random("llava_in_the_wild")
    categories = ["conv", "detail", "complex"]
    rows = []
    for i in range(n):
        items = random_scene(rng, rng.randint(1, 4))
        category = categories[i % 3]
        colors = ", ".join(f"a {c} {s}" for c, s in items)
        question = {
            "conv": "What shapes can you see?",
            "detail": "Describe this image in detail.",
            "complex": "If you removed the first shape, what would remain?",
        }[category]
        rows.append(
            {
                "question_id": str(i),
                "question": question,
                "image": encode(shapes_image(rng, size_at(i), items), f"{i:03d}.jpg", fmt="JPEG"),
                "caption": f"A drawing with {len(items)} shapes: {colors}.",
                "gpt_answer": f"The image shows {colors}.",
                "category": category,
                "image_id": f"{i // 2:03d}",
            }
        )
    features = {
        "question_id": Value("string"),
        "question": Value("string"),
        "image": Image(),
        "caption": Value("string"),
        "gpt_answer": Value("string"),
        "category": Value("string"),
        "image_id": Value("string"),
    }
    write_parquet(rows, features, out / "data" / "train-00000-of-00001.parquet")


# ---- DC100 EN (lmms-lab-encoder/DC100_EN, test) -------------------------------------------------------


def dc100_en(out: Path, n: int = 10) -> None:
    from datasets import Image, Value

    rng = random.Random("dc100_en")
    rows = []
    for i in range(n):
        items = random_scene(rng, rng.randint(1, 5))
        rows.append(
            {
                "question_id": str(i),
                "image": encode(shapes_image(rng, size_at(i + 2), items), f"dc_{i}.png"),
                "question": "Describe this image in detail.",
                "answer": "The image shows " + ", ".join(f"a {c} {s}" for c, s in items) + ".",
            }
        )
    features = {
        "question_id": Value("string"),
        "image": Image(),
        "question": Value("string"),
        "answer": Value("string"),
    }
    write_parquet(rows, features, out / "data" / "test-00000-of-00001.parquet")


# ---- MathVista (AI4Math/MathVista, testmini) ----------------------------------------------------------


def _mathvista_query(
    question: str, question_type: str, answer_type: str, choices, precision, unit: str
) -> str:
    """The hub's query column: the hint MathVista's own code writes, then the question (and choices)."""
    if question_type == "multi_choice":
        hint = "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end."
        options = "\n".join(f"({letter}) {c}" for letter, c in zip(letters(len(choices)), choices))
        return f"{hint}\nQuestion: {question}\nChoices:\n{options}"
    if answer_type == "integer":
        hint = "Hint: Please answer the question requiring an integer answer and provide the final value, e.g., 1, 2, 3, at the end."
    elif answer_type == "float" and precision == 1:
        hint = "Hint: Please answer the question requiring a floating-point number with one decimal place and provide the final value, e.g., 1.2, 1.3, 1.4, at the end."
    elif answer_type == "float":
        hint = "Hint: Please answer the question requiring a floating-point number with two decimal places and provide the final value, e.g., 1.23, 1.34, 1.45, at the end."
    else:
        hint = "Hint: Please answer the question requiring a Python list as an answer and provide the final list, e.g., [1, 2, 3], [1.2, 1.3, 1.4], at the end."
    unit_text = f" (Unit: {unit})" if unit else ""
    return f"{hint}\nQuestion: {question}{unit_text}"


def mathvista(out: Path, n: int = 16) -> None:
    from datasets import Image, Sequence, Value

    rng = random.Random("mathvista")
    rows = []
    for i in range(n):
        kind = i % 4
        items = random_scene(rng, rng.randint(1, 5))
        image = shapes_image(rng, size_at(i), items)
        unit, precision, choices = "", None, None
        if kind == 0:  # multiple choice
            color = items[0][0]
            choices = [color] + rng.sample([c for c in sorted(COLORS) if c != color], 3)
            rng.shuffle(choices)
            question, answer, qtype, atype = "What colour is the first shape?", color, "multi_choice", "text"
        elif kind == 1:
            question, answer, qtype, atype = (
                "How many shapes are there?",
                str(len(items)),
                "free_form",
                "integer",
            )
        elif kind == 2:  # the hub stores precision as float64 (1.0, 2.0): lmms-eval's round() raises on it
            precision = float(rng.choice([1, 2]))
            value = round(len(items) / 3, int(precision))
            question, answer, qtype, atype = (
                "What is the number of shapes divided by 3?",
                str(value),
                "free_form",
                "float",
            )
        else:
            question, answer, qtype, atype = (
                "List the number of shapes and of corners of a square.",
                f"[{len(items)}, 4]",
                "free_form",
                "list",
            )
        rows.append(
            {
                "pid": str(i + 1),
                "question": question,
                "image": f"images/{i + 1}.jpg",
                "decoded_image": encode(image, f"{i + 1}.jpg", fmt="JPEG"),
                "choices": choices,
                "unit": unit or None,
                "precision": precision,
                "answer": answer,
                "question_type": qtype,
                "answer_type": atype,
                "metadata": {
                    "category": "math-targeted-vqa" if i % 2 else "general-vqa",
                    "context": "synthetic scene",
                    "grade": rng.choice(["elementary school", "high school"]),
                    "img_height": image.height,
                    "img_width": image.width,
                    "language": "english",
                    "skills": rng.sample(
                        ["arithmetic reasoning", "numeric commonsense", "statistical reasoning"], 2
                    ),
                    "source": "ov-bench-samples",
                    "split": "testmini",
                    "task": rng.choice(
                        ["figure question answering", "math word problem", "visual question answering"]
                    ),
                },
                "query": _mathvista_query(question, qtype, atype, choices, precision, unit),
            }
        )
    features = {
        "pid": Value("string"),
        "question": Value("string"),
        "image": Value("string"),
        "decoded_image": Image(),
        "choices": Sequence(Value("string")),
        "unit": Value("string"),
        "precision": Value("float64"),
        "answer": Value("string"),
        "question_type": Value("string"),
        "answer_type": Value("string"),
        "metadata": {
            "category": Value("string"),
            "context": Value("string"),
            "grade": Value("string"),
            "img_height": Value("int64"),
            "img_width": Value("int64"),
            "language": Value("string"),
            "skills": Sequence(Value("string")),
            "source": Value("string"),
            "split": Value("string"),
            "task": Value("string"),
        },
        "query": Value("string"),
    }
    write_parquet(rows, features, out / "data" / "testmini-00000-of-00001.parquet")


mathvista_testmini_cot = mathvista_testmini_solution = mathvista_testmini_format = mathvista


# ---- MathVerse (CaraJ/MathVerse-lmmseval, testmini_version_split / vision_only) ----------------------


def mathverse_testmini_vision_only(out: Path, n: int = 12) -> None:
    from datasets import Image, Value

    rng = random.Random("mathverse")
    rows = []
    for i in range(n):
        items = random_scene(rng, rng.randint(1, 5))
        multi = i % 2 == 0
        if multi:
            options = [str(len(items) + d) for d in (0, 1, 2, -1)]
            rng.shuffle(options)
            answer = letters(4)[options.index(str(len(items)))]
            body = "How many shapes are in the figure?\nChoices:\n" + "\n".join(
                f"{letter}:{o}" for letter, o in zip(letters(4), options)
            )
            qtype = "multi-choice"
        else:
            answer, body, qtype = str(len(items)), "How many shapes are in the figure?", "free-form"
        # vision-only: the question lives in the image; query_wo is the prompt lmms-eval sends
        image = text_page(rng, size_at(i + 1), body.splitlines()[:3])
        hint = (
            "Please directly answer the question and provide the correct option letter, e.g., A, B, C, D."
            if multi
            else "Please directly answer the question and provide the final value, e.g., 1, 2.5, 300."
        )
        rows.append(
            {
                "sample_index": str(i + 1),
                "problem_index": str(i // 2 + 1),
                "problem_version": "Vision Only",
                "question": body,
                "image": encode(image, f"{i + 1}.png"),
                "answer": answer,
                "question_type": qtype,
                "metadata": {
                    "split": "testmini",
                    "source": "ov-bench-samples",
                    "subject": "Plane Geometry",
                    "subfield": rng.choice(["Length", "Area", "Angle"]),
                },
                "query_wo": f"According to the question shown in the image, {hint[0].lower()}{hint[1:]}",
                "query_cot": "According to the question shown in the image, please first conduct reasoning, "
                "and then answer the question and provide the final answer at the end.",
                "question_for_eval": body,
            }
        )
    features = {
        "sample_index": Value("string"),
        "problem_index": Value("string"),
        "problem_version": Value("string"),
        "question": Value("string"),
        "image": Image(),
        "answer": Value("string"),
        "question_type": Value("string"),
        "metadata": {
            "split": Value("string"),
            "source": Value("string"),
            "subject": Value("string"),
            "subfield": Value("string"),
        },
        "query_wo": Value("string"),
        "query_cot": Value("string"),
        "question_for_eval": Value("string"),
    }
    write_parquet(rows, features, out / "testmini_vision_only.parquet")
