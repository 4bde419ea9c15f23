"""SEED-Bench (v1), SEED-Bench-2 and SEED-Bench-2-Plus: four-option questions scored per dimension.

Published data: the official JSON (``{"questions": [...], "question_type": {...}}`` or a list)
with the images in folders beside it (``data_id`` is the image path, or a list of paths), or a
parquet copy with the images in an ``image`` column (a list of image cells: lmms-lab/SEED-Bench,
lmms-lab/SEED-Bench-2, doolayer/SEED-Bench-2-Plus).
Columns: ``question_id``, ``question``, ``choice_a``-``choice_d`` (2-Plus: ``choice_A``-``choice_D``),
``answer``, ``question_type_id`` (v1, v2) or ``question_image_type`` (2-Plus: chart, map, web).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from mmlens.core.errors import SampleError
from mmlens.core.media import FileImage, ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.tables import Table, cell_text, find_file, read_table, row_images

# question_type_id -> dimension: the official JSON's "question_type" map (AILab-CVC/SEED-Bench DATASET.md)
SEED1_DIMENSIONS = {
    1: "Scene Understanding", 2: "Instance Identity", 3: "Instance Attributes", 4: "Instance Location",
    5: "Instances Counting", 6: "Spatial Relation", 7: "Instance Interaction", 8: "Visual Reasoning",
    9: "Text Understanding", 10: "Action Recognition", 11: "Action Prediction", 12: "Procedure Understanding",
}  # fmt: skip
SEED2_DIMENSIONS = {
    **{k: v for k, v in SEED1_DIMENSIONS.items() if k <= 9},
    10: "Celebrity Recognition", 11: "Landmark Recognition", 12: "Chart Understanding",
    13: "Visual Referring Expression", 14: "Science Knowledge", 15: "Emotion Recognition",
    16: "Visual Mathematics", 17: "Difference Spotting", 18: "Meme Comprehension",
    19: "Global Video Understanding", 20: "Action Recognition", 21: "Action Prediction",
    22: "Procedure Understanding", 23: "In-Context Captioning", 24: "Interleaved Image-Text Analysis",
    25: "Text-to-Image Generation", 26: "Next Image Prediction", 27: "Text-Image Creation",
}  # fmt: skip
IMAGE_PLACEHOLDER = "<img>"


def _column(row: dict[str, Any], name: str) -> Any:
    """``row[name]`` in either case (2-Plus writes choice_A where v1 writes choice_a)."""
    if name in row:
        return row[name]
    return row.get(name[:-1] + name[-1].upper(), row.get(name.lower()))


def _type_id(row: dict[str, Any]) -> int | None:
    text = cell_text(row.get("question_type_id"))
    return int(text) if text is not None and text.isdigit() else None


@scenarios.register("seedbench")
class SeedBenchScenario(Scenario):
    """Fields: ``version`` (1, 2, 2plus), ``hub_id``, ``split``, ``dimensions`` (question_type_ids to
    keep; None = all), ``image_dirs`` (official JSON: folders, relative to the JSON, holding the images)."""

    version: Literal["1", "2", "2plus"] = "1"
    hub_id: str = "lmms-lab/SEED-Bench"
    split: str = "test"
    dimensions: list[int] | None = None
    image_dirs: list[str] = ["."]

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        table = read_table(
            context.data_path, default_hub_id=self.hub_id, split=self.split, task=context.task_name
        )
        table.require_columns("question_id", "question", "answer")
        for number, row in enumerate(table):
            if self.dimensions is not None and _type_id(row) not in self.dimensions:
                continue
            sample_id = cell_text(row["question_id"])
            if sample_id is None:
                yield BadSample(f"row{number}", f"{table.origin} row {number}: no question_id")
                continue
            try:
                yield self._sample(sample_id, row, table)
            except SampleError as error:
                yield BadSample(sample_id, error.reason)

    def _category(self, sample_id: str, row: dict[str, Any], origin: str) -> tuple[str, ...]:
        if self.version == "2plus":
            kind = cell_text(row.get("question_image_type"))
            subtype = cell_text(row.get("question_image_subtype"))
            if kind is None:
                raise SampleError(sample_id, f"{origin}: no question_image_type")
            return (kind.capitalize(), subtype) if subtype else (kind.capitalize(),)
        names = SEED1_DIMENSIONS if self.version == "1" else SEED2_DIMENSIONS
        type_id = cell_text(row.get("question_type_id"))
        if type_id is None or not type_id.isdigit() or int(type_id) not in names:
            raise SampleError(
                sample_id, f"{origin}: question_type_id {type_id!r} is not a SEED-Bench dimension"
            )
        return (names[int(type_id)],)

    def _images(self, sample_id: str, row: dict[str, Any], table: Table) -> list[ImageRef]:
        if row.get("image") is not None:
            return row_images(row, "image", table, sample_id)
        data_id = row.get("data_id")
        names = data_id if isinstance(data_id, list) else [data_id] if data_id else []
        base = table.base_dir or Path(".")
        roots = [base / folder for folder in self.image_dirs]
        images: list[ImageRef] = []
        for name in names:
            path = find_file(str(name), roots)
            if path is None:
                raise SampleError(sample_id, f"{table.origin}: image {name!r} not found under {roots[0]}")
            images.append(FileImage(path))
        return images

    def _sample(self, sample_id: str, row: dict[str, Any], table: Table) -> Sample:
        question, answer = cell_text(row["question"]), cell_text(row["answer"])
        choices = [cell_text(_column(row, f"choice_{letter}")) for letter in "abcd"]
        if question is None or answer is None or any(choice is None for choice in choices):
            raise SampleError(sample_id, f"{table.origin}: no question, answer or four choices")
        images = self._images(sample_id, row, table)
        if not images:
            raise SampleError(sample_id, f"{table.origin}: no image")
        return Sample(
            id=sample_id,
            messages=[Message("user", interleave(question, images))],
            target=answer.strip(),
            choices=[choice for choice in choices if choice is not None],
            category=self._category(sample_id, row, table.origin),
            metadata={"data_type": row.get("data_type")},
        )


def interleave(question: str, images: list[ImageRef]) -> tuple[ImagePart | TextPart, ...]:
    """Images first; or, where the question marks their places with <img> (SEED-Bench-2 dimensions
    23-24), each image at its mark."""
    pieces = question.split(IMAGE_PLACEHOLDER)
    if len(pieces) - 1 != len(images):
        return (*[ImagePart(image) for image in images], TextPart(question))
    content: list[ImagePart | TextPart] = []
    for index, piece in enumerate(pieces):
        if piece:
            content.append(TextPart(piece))
        if index < len(images):
            content.append(ImagePart(images[index]))
    return tuple(content)
