"""Sample sets for the single-image benchmarks (mmmu, ai2d, mme, chartqa, docvqa), each in its hub
schema and file layout. Answers are read off the drawn pixels where that is cheap."""

from __future__ import annotations

import random
from pathlib import Path

from tasks.samples.draw import (
    COLORS,
    SHAPES,
    bar_chart,
    encode,
    letters,
    shapes_image,
    size_at,
    text_page,
    write_parquet,
)


def _items(rng: random.Random, n: int) -> list[tuple[str, str]]:
    return [(rng.choice(list(COLORS)), rng.choice(SHAPES)) for _ in range(n)]


# ---- MMMU (lmms-lab-encoder/MMMU, validation) -------------------------------------------------

MMMU_SUBJECTS = [
    "Accounting",
    "Art",
    "Biology",
    "Clinical_Medicine",
    "Computer_Science",
    "History",
    "Math",
    "Physics",
]


def mmmu(out: Path, seed: int) -> None:
    from datasets import Image, Value

    rng = random.Random(f"mmmu:{seed}")
    rows = []
    n_img = 0

    def img(items: list[tuple[str, str]]) -> dict:
        nonlocal n_img
        n_img += 1
        return encode(shapes_image(rng, size_at(n_img), items), f"mmmu_{n_img}.png")

    for s_i, subject in enumerate(MMMU_SUBJECTS):
        for k in range(1, 5):
            images: dict[str, dict | None] = {f"image_{j}": None for j in range(1, 8)}
            kind = (k + s_i) % 4
            if kind == 0:  # one image, colour of a shape
                color, shape = rng.choice(list(COLORS)), rng.choice(SHAPES)
                images["image_1"] = img([(color, shape)])
                options = [color] + rng.sample([c for c in COLORS if c != color], 3)
                rng.shuffle(options)
                question = f"<image 1> What is the colour of the {shape} in the figure?"
                qtype, answer = "multiple-choice", letters(4)[options.index(color)]
                if subject == "Math":  # an image the prompt never references: doc_to_visual must skip it
                    images["image_2"] = img(_items(rng, 2))
            elif kind == 1:  # two images in the question
                a, b = rng.sample(range(1, 6), 2)
                images["image_1"], images["image_2"] = img(_items(rng, a)), img(_items(rng, b))
                question = "Compare <image 1> and <image 2>. Which figure contains more shapes?"
                options = ["The first figure", "The second figure", "Both contain the same number"]
                qtype, answer = "multiple-choice", "A" if a > b else "B"
            elif kind == 2:  # images only in the options, as in MMMU's "<image k>" options
                target = (rng.choice(list(COLORS)), rng.choice(SHAPES))
                correct = rng.randrange(3)
                for j in range(3):
                    others = [(c, s) for c in COLORS for s in SHAPES if (c, s) != target]
                    items = [target] if j == correct else [rng.choice(others)]
                    images[f"image_{j + 1}"] = img(items)
                question = f"Which option shows a {target[0]} {target[1]}?"
                options = ["<image 1>", "<image 2>", "<image 3>"]
                qtype, answer = "multiple-choice", letters(3)[correct]
            else:  # open question: a number or a word
                n = rng.randint(1, 6)
                items = _items(rng, n)
                images["image_1"] = img(items)
                if s_i % 2:
                    question, answer = "How many shapes are drawn in <image 1>?", str(n)
                else:
                    question, answer = "<image 1> What colour is the first shape (top left)?", items[0][0]
                qtype, options = "open", []
            rows.append(
                {
                    "id": f"validation_{subject}_{k}",
                    "question": question,
                    "options": str(options),  # MMMU stores the option list as a Python literal string
                    "explanation": "",
                    **images,
                    "img_type": "['Diagrams']",
                    "answer": answer,
                    "topic_difficulty": rng.choice(["Easy", "Medium", "Hard"]),
                    "question_type": qtype,
                    "subfield": subject.replace("_", " "),
                }
            )
    features = {
        "id": Value("string"),
        "question": Value("string"),
        "options": Value("string"),
        "explanation": Value("string"),
        **{f"image_{j}": Image() for j in range(1, 8)},
        "img_type": Value("string"),
        "answer": Value("string"),
        "topic_difficulty": Value("string"),
        "question_type": Value("string"),
        "subfield": Value("string"),
    }
    write_parquet(rows, features, out / "data" / "validation-00000-of-00001.parquet")


# ---- AI2D (lmms-lab-encoder/ai2d, test) -------------------------------------------------------


def ai2d(out: Path, seed: int) -> None:
    from datasets import Image, Sequence, Value

    rng = random.Random(f"ai2d:{seed}")
    rows = []
    for i in range(30):
        if i % 2 == 0:
            color, shape = rng.choice(list(COLORS)), rng.choice(SHAPES)
            others = [s for s in SHAPES if s != shape]
            image = shapes_image(rng, size_at(i), [(color, shape)])
            options = [shape, *others, "none of the above"]
            rng.shuffle(options)
            question = "Which shape is shown in the diagram?"
            answer = options.index(shape)
        else:
            n = rng.randint(1, 5)
            image = shapes_image(rng, size_at(i), _items(rng, n))
            options = [str(v) for v in sorted({n, n + 1, max(0, n - 1), n + 2})]
            question = "How many shapes does the diagram contain?"
            answer = options.index(str(n))
        rows.append(
            {
                "question": question,
                "options": options,
                "answer": str(answer),
                "image": encode(image, f"ai2d_{i}.png"),
            }
        )
    features = {
        "question": Value("string"),
        "options": Sequence(Value("string")),
        "answer": Value("string"),
        "image": Image(),
    }
    write_parquet(rows, features, out / "data" / "test-00000-of-00001.parquet")


# ---- MME (lmms-lab-encoder/MME, test): two yes/no questions per image --------------------------

MME_CATEGORIES = [
    "existence", "count", "position", "color", "OCR", "scene", "posters", "artwork",
    "commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning",
]  # fmt: skip


def mme(out: Path, seed: int) -> None:
    from datasets import Image, Value

    rng = random.Random(f"mme:{seed}")
    suffix = " Please answer yes or no."
    rows = []
    for i in range(16):
        category = MME_CATEGORIES[i % len(MME_CATEGORIES)]
        size = size_at(i)
        if category in ("OCR", "numerical_calculation", "code_reasoning", "text_translation", "posters"):
            a, b = rng.randint(2, 9), rng.randint(2, 9)
            word = rng.choice(["apple", "river", "window", "garden"])
            text, truth, lie = {
                "OCR": ([word], f"Is the word in the image \"{word}\"?", "Is the word in the image \"stone\"?"),
                "posters": ([word.upper()], f"Is the title of this poster \"{word.upper()}\"?", "Is the title of this poster \"NOTHING\"?"),
                "numerical_calculation": ([f"{a} + {b} = ?"], f"Is the answer to the arithmetic question in the image {a + b}?", f"Is the answer to the arithmetic question in the image {a + b + 1}?"),
                "code_reasoning": ([f"x = {a}", f"print(x * {b})"], f"The image shows a python code. Is the output of the code '{a * b}'?", f"The image shows a python code. Is the output of the code '{a * b + 2}'?"),
                "text_translation": (["bonjour"], "Is it appropriate to translate the French in the image into English 'hello'?", "Is it appropriate to translate the French in the image into English 'goodbye'?"),
            }[category]  # fmt: skip
            image = text_page(rng, size, text)
        else:
            items = _items(rng, rng.randint(1, 4))
            image = shapes_image(rng, size, items)
            color, shape = items[0]
            absent = next(c for c in COLORS if all(c != ic for ic, _ in items))
            truth, lie = {
                "existence": (f"Is there a {color} {shape} in this image?", f"Is there a {absent} shape in this image?"),
                "count": (f"Are there {len(items)} shapes in this image?", f"Are there {len(items) + 2} shapes in this image?"),
                "position": (f"Is the {color} {shape} at the top left of the image?", f"Is the {color} {shape} at the bottom right of the image?" if len(items) > 1 else f"Is there a {absent} {shape} at the top left of the image?"),
                "color": (f"Is there a {color} object in this image?", f"Is there a {absent} object in this image?"),
                "scene": ("Is this picture a drawing of simple shapes?", "Is this picture a photo of a beach?"),
                "artwork": ("Is this artwork made of geometric shapes?", "Is this artwork a portrait painting?"),
                "commonsense_reasoning": (f"Could the {color} {shape} be drawn with a pen?", f"Is the {color} {shape} in this image alive?"),
            }[category]  # fmt: skip
        cell = encode(image, f"{category}_{i:04d}.png", fmt="JPEG" if i % 3 == 0 else "PNG")
        qid = f"{category}/{i:04d}.png"
        pair = [(truth + suffix, "Yes"), (lie + suffix, "No")]
        if rng.random() < 0.5:
            pair.reverse()
        for question, answer in pair:
            rows.append(
                {
                    "question_id": qid,
                    "image": cell,
                    "question": question,
                    "answer": answer,
                    "category": category,
                }
            )
    features = {
        "question_id": Value("string"),
        "image": Image(),
        "question": Value("string"),
        "answer": Value("string"),
        "category": Value("string"),
    }
    write_parquet(rows, features, out / "data" / "test-00000-of-00001.parquet")


# ---- ChartQA (lmms-lab-encoder/ChartQA, test) -------------------------------------------------


def chartqa(out: Path, seed: int) -> None:
    from datasets import Image, Value

    rng = random.Random(f"chartqa:{seed}")
    rows = []
    for i in range(30):
        n = rng.randint(3, 6)
        labels = [str(2015 + j) for j in range(n)]
        values = [round(rng.uniform(1, 100), rng.choice([0, 1])) for _ in range(n)]
        image = bar_chart(rng, size_at(i + 3), labels, values)
        j = rng.randrange(n)
        kind = i % 4
        if kind == 0:
            question, answer = f"What is the value for {labels[j]}?", f"{values[j]:g}"
        elif kind == 1:
            question, answer = "Which year has the highest value?", labels[values.index(max(values))]
        elif kind == 2:
            question, answer = (
                "What is the difference between the highest and the lowest value?",
                f"{round(max(values) - min(values), 1):g}",
            )
        else:
            question, answer = (
                f"What percentage of the total is the value for {labels[j]}?",
                f"{round(100 * values[j] / sum(values), 1):g}%",
            )
        rows.append(
            {
                "type": "human_test" if i % 2 == 0 else "augmented_test",
                "question": question,
                "answer": answer,
                "image": encode(image, f"chart_{i}.png"),
            }
        )
    features = {
        "type": Value("string"),
        "question": Value("string"),
        "answer": Value("string"),
        "image": Image(),
    }
    write_parquet(rows, features, out / "data" / "test-00000-of-00001.parquet")


# ---- DocVQA (lmms-lab-encoder/DocVQA, config DocVQA, validation) ------------------------------


def docvqa(out: Path, seed: int, split: str = "validation") -> None:
    """DocVQA/<split>-00000-of-00001.parquet; the test split has no answers or question types (the test
    server holds them), as on the hub."""
    from datasets import Image, Sequence, Value

    rng = random.Random(f"docvqa:{seed}")
    rows = []
    names = ["R. J. Reynolds", "Lorillard", "Philip Morris", "Brown & Williamson"]
    months = ["January", "March", "June", "October"]
    for doc in range(8):
        invoice = str(rng.randint(10000, 99999))
        total = f"${rng.randint(10, 999)}.{rng.randint(0, 99):02d}"
        date = f"{rng.choice(months)} {rng.randint(1, 28)}, {rng.randint(1970, 1999)}"
        company = rng.choice(names)
        lines = ["INVOICE", f"Invoice No: {invoice}", f"Date: {date}", f"From: {company}", f"Total: {total}"]
        cell = encode(
            text_page(rng, size_at(doc + 5), lines), f"doc_{doc}.png", fmt="JPEG" if doc % 2 else "PNG"
        )
        qas = [
            ("What is the invoice number?", [invoice], ["form"]),
            ("What is the total amount?", [total, total.lstrip("$")], ["form"]),
            ("Which company sent the invoice?", [company], ["layout"]),
        ]
        for q_i, (question, answers, qtypes) in enumerate(qas):
            rows.append(
                {
                    "questionId": str(50000 + doc * 10 + q_i),
                    "question": question,
                    "question_types": qtypes,
                    "image": cell,
                    "docId": 1000 + doc,
                    "ucsf_document_id": f"{rng.randint(1000, 9999)}{rng.randint(1000, 9999)}",
                    "ucsf_document_page_no": str(rng.randint(1, 5)),
                    "answers": answers,
                    "data_split": "val",
                }
            )
    if split == "test":
        rows = [dict(r, question_types=None, answers=None, data_split="test") for r in rows]
    features = {
        "questionId": Value("string"),
        "question": Value("string"),
        "question_types": Sequence(Value("string")),
        "image": Image(),
        "docId": Value("int64"),
        "ucsf_document_id": Value("string"),
        "ucsf_document_page_no": Value("string"),
        "answers": Sequence(Value("string")),
        "data_split": Value("string"),
    }
    write_parquet(rows, features, out / "DocVQA" / f"{split}-00000-of-00001.parquet")
