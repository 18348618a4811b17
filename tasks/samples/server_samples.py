"""Sample sets for the server-scored test splits that have no other generator: InfoVQA test (the
InfographicVQA config of lmms-lab-encoder/DocVQA). DocVQA test comes from image_samples.docvqa(split="test")
and EgoSchema's full test (GENERATION) from video_samples.egoschema. Answers are withheld, as on the hub."""

from __future__ import annotations

import random
from pathlib import Path

from tasks.samples.draw import bar_chart, encode, size_at, write_parquet
from tasks.samples.paper_image_samples import infovqa_features


def infovqa_test(out: Path, seed: int) -> None:
    """InfographicVQA/test-00000-of-00001.parquet: questionId, question, answers (null), answer_type (null),
    image, image_url, operation/reasoning (null), ocr, data_split."""
    rng = random.Random(f"infovqa_test:{seed}")
    rows = []
    for doc in range(6):
        labels = [rng.choice(["Asia", "Europe", "Africa", "Americas", "Oceania"]) for _ in range(4)]
        values = [rng.randint(5, 95) for _ in labels]
        title = rng.choice(["Internet users (%)", "Renewable energy share", "Urban population"])
        cell = encode(bar_chart(rng, size_at(doc), labels, values), f"infographic_{doc}.png")
        for q_i, question in enumerate(
            [
                f"What is the value for {labels[0]}?",
                "Which region has the highest value?",
                f"What is {title}?",
            ]
        ):
            rows.append(
                {
                    "questionId": str(70000 + doc * 10 + q_i),
                    "question": question,
                    "answers": None,
                    "answer_type": None,
                    "image": cell,
                    "image_url": f"https://example.invalid/infographic_{doc}.png",
                    "operation/reasoning": None,
                    "ocr": "",
                    "data_split": "test",
                }
            )
    write_parquet(rows, infovqa_features(), out / "InfographicVQA" / "test-00000-of-00001.parquet")
