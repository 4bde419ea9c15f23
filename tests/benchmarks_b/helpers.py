"""Shared helpers for the MME / POPE / MMR tests: prediction files and placeholder images."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from tests.conftest import SHARED_DATA

MME_QUESTIONS = SHARED_DATA / "mme" / "questions_gt"
MME_LAVIN = SHARED_DATA / "mme" / "LaVIN_reference_predictions"
POPE_COCO = SHARED_DATA / "pope" / "coco"
MMR_JSON = SHARED_DATA / "mmr" / "MMR-benchmark.json"


def write_predictions(path: Path, items: Iterable[tuple[str, str | None]]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for sample_id, response in items:
            handle.write(json.dumps({"id": sample_id, "response": response}) + "\n")
    return path


def placeholder_image(path: Path, number: int) -> str:
    """A tiny PNG whose colour encodes ``number``; returns its content digest as mmlens writes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (number % 256, (number // 256) % 256, 7)).save(path, format="PNG")
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def prompt_images(prompt: list[dict]) -> list[str]:
    return [part["image"] for message in prompt for part in message["content"] if part["type"] == "image"]


def prompt_text(prompt: list[dict]) -> str:
    return "".join(
        part["text"] for message in prompt for part in message["content"] if part["type"] == "text"
    )
