"""A toy judged task written into a folder: a JSON Lines file and a task YAML using ``judge_verdict``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from PIL import Image

ROWS: list[dict[str, Any]] = [
    {"id": "q1", "question": "How many apples are in the picture?", "answer": "3", "category": "count"},
    {"id": "q2", "question": "What colour is the ball?", "answer": "red", "category": "colour"},
    {"id": "q3", "question": "Is the dog on the left?", "answer": "yes", "category": "position"},
    {"id": "q4", "question": "What animal rides the horse?", "answer": "a person", "category": "scene"},
]


def write_judged_task(
    folder: Path,
    *,
    name: str = "judged_toy",
    rows: list[dict[str, Any]] | None = None,
    metric: dict[str, Any] | None = None,
    roles: dict[str, Any] | None = None,
    images: bool = True,
) -> Path:
    """The task folder (pass it as ``include=[folder]``). Every row gets a small image of its own
    unless ``images`` is false; ``metric`` adds fields to the judge_verdict metric."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, row in enumerate(rows or ROWS):
        row = dict(row)
        if images:
            image = folder / f"{row['id']}.png"
            Image.new("RGB", (16, 16), (40 * index % 256, 90, 200)).save(image)
            row["image"] = image.name
        lines.append(json.dumps(row))
    (folder / "data.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config: dict[str, Any] = {
        "name": name,
        "description": "A toy task whose answers a judge model grades.",
        "scenario": {"type": "jsonl", "path": "data.jsonl"},
        "instruction": {"type": "template"},
        "inferencer": {"type": "generate", "max_new_tokens": 8},
        "metric": {"type": "judge_verdict", "max_new_tokens": 6, **(metric or {})},
    }
    if roles is not None:
        config["roles"] = roles
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return folder
