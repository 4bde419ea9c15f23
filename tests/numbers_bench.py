"""Builds the "numbers" test benchmark: a jsonl task whose images encode their own number."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

TASK_YAML = """name: numbers
description: test benchmark whose images encode their own number
scenario: {type: jsonl, path: numbers.jsonl}
inferencer: {type: generate, max_new_tokens: 4}
metric: {type: accuracy, extractor: yes_no}
"""


def color_of(number: int) -> tuple[int, int, int]:
    return (number % 256, number // 256, 77)


def build_numbers_task(folder: Path, count: int = 120, duplicates: int = 10) -> Path:
    """count distinct samples (half asking the true number, half a wrong one), plus ``duplicates``
    extra ids that repeat an earlier sample's image bytes and question (to exercise de-duplication)."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for number in range(count):
        Image.new("RGB", (12, 12), color_of(number)).save(images / f"{number}.png")
        asked = number if number % 2 == 0 else number + 1
        rows.append(
            {
                "id": f"n{number}",
                "question": f"Does this picture show the number {asked}? Please answer yes or no.",
                "image": f"images/{number}.png",
                "answer": "yes" if asked == number else "no",
                "category": ["numbers", "even" if number % 2 == 0 else "odd"],
            }
        )
    for copy in range(duplicates):
        original = rows[copy * 3]
        number = int(original["id"][1:])
        Image.new("RGB", (12, 12), color_of(number)).save(images / f"copy{copy}.png")
        rows.append({**original, "id": f"copy{copy}", "image": f"images/copy{copy}.png"})
    (folder / "numbers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "numbers.yaml").write_text(TASK_YAML)
    return folder / "numbers.yaml"
