"""Builds small yes/no benchmarks (jsonl tasks with PIL-drawn images) for the report's tests and benchmark."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw

CATEGORIES = [
    ("objects", "animals"),
    ("objects", "vehicles"),
    ("colors", "warm"),
    ("colors", "cool"),
    ("counting", "few"),
    ("counting", "many"),
]

TASK_YAML = """name: {name}
description: report test benchmark
scenario: {{type: jsonl, path: {name}.jsonl}}
inferencer: {{type: generate, max_new_tokens: 4}}
metric: {{type: accuracy, extractor: yes_no}}
"""


def draw_image(path: Path, number: int, size: tuple[int, int] = (96, 72)) -> None:
    """A small picture that differs for every number: a coloured background and a shape."""
    picture = Image.new("RGB", size, ((number * 53) % 256, (number * 97) % 256, (number * 151) % 256))
    draw = ImageDraw.Draw(picture)
    width, height = size
    left = 8 + (number * 7) % (width // 2)
    top = 8 + (number * 5) % (height // 2)
    box = (left, top, left + width // 3, top + height // 3)
    fill = (255 - (number * 53) % 256, 255 - (number * 97) % 256, 255)
    if number % 3 == 0:
        draw.ellipse(box, fill=fill)
    elif number % 3 == 1:
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([(box[0], box[3]), ((box[0] + box[2]) // 2, box[1]), (box[2], box[3])], fill=fill)
    picture.save(path)


def answer_for(index: int) -> str:
    """Yes/no answers whose share of 'yes' differs by category, so per-category charts differ."""
    category = index % len(CATEGORIES)
    return "yes" if (index // len(CATEGORIES)) % (category + 2) == 0 else "no"


def build_task(
    folder: Path,
    name: str,
    count: int,
    distinct_images: int | None = None,
    two_image_every: int = 7,
    no_image_every: int = 11,
    first_image: int = 0,
    image_size: tuple[int, int] = (96, 72),
) -> Path:
    """``count`` yes/no samples over a two-level category tree; images are reused when
    ``distinct_images`` < count. Every ``two_image_every``-th sample shows two images and every
    ``no_image_every``-th none (0 turns either off). Images are numbered from ``first_image``."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    distinct = distinct_images or count
    drawn: set[int] = set()
    rows = []
    for index in range(count):
        numbers = [first_image + index % distinct]
        if two_image_every and index % two_image_every == two_image_every - 1:
            numbers.append(first_image + (index + 1) % distinct)
        if no_image_every and index % no_image_every == no_image_every - 1:
            numbers = []
        for number in numbers:
            if number not in drawn:
                draw_image(images / f"{number}.png", number, image_size)
                drawn.add(number)
        row: dict[str, object] = {
            "id": f"{name}-{index}",
            "question": f"Question {index}: is the shape in this picture the {index}th one? "
            "Please answer yes or no.",
            "answer": answer_for(index),
            "category": list(CATEGORIES[index % len(CATEGORIES)]),
        }
        if numbers:
            row["image"] = (
                [f"images/{n}.png" for n in numbers] if len(numbers) > 1 else f"images/{numbers[0]}.png"
            )
        rows.append(row)
    (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task_file = folder / f"{name}.yaml"
    task_file.write_text(TASK_YAML.format(name=name))
    return task_file
