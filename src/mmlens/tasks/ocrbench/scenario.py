"""OCRBench v1 in either published layout.

- The official ``OCRBench.json`` (Yuliang-Liu/MultimodalOCR, ``OCRBench/OCRBench/OCRBench.json``):
  a list of ``{dataset_name, id, image_path, question, answers (str | list), type}``; the images
  under ``OCRBench_Images/`` beside the JSON (scenario field ``image_dir`` to change it).
- The hub copy ``echo840/OCRBench`` (split ``test``): ``dataset``, ``question``,
  ``question_type``, ``answer`` (a list), ``image``.

``id`` is not unique on its own, so a sample is ``<dataset_name>/<id>``; hub rows have no id and
are ``<dataset>/<row>``. The category path is ("Text Recognition", type, dataset) for the six
recognition types and (type, dataset) for the rest, as the official script sums them.
Without any image folder the questions load for scoring only (images "absent").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmlens.core.errors import SampleError
from mmlens.core.media import AbsentImage, FileImage, ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.tables import Table, cell_text, find_file, read_table, row_images

OFFICIAL_COLUMNS = ("dataset_name", "id", "image_path", "question", "answers", "type")
HUB_COLUMNS = ("dataset", "question", "question_type", "answer")
RECOGNITION_TYPES = (
    "Regular Text Recognition",
    "Irregular Text Recognition",
    "Artistic Text Recognition",
    "Handwriting Recognition",
    "Digit String Recognition",
    "Non-Semantic Text Recognition",
)
TYPES = (
    *RECOGNITION_TYPES,
    "Scene Text-centric VQA",
    "Doc-oriented VQA",
    "Key Information Extraction",
    "Handwritten Mathematical Expression Recognition",
)


def category_path(question_type: str, dataset_name: str) -> tuple[str, ...]:
    if question_type in RECOGNITION_TYPES:
        return ("Text Recognition", question_type, dataset_name)
    return (question_type, dataset_name)


def answer_value(cell: Any) -> str | list[str] | None:
    """The answers cell as the official JSON holds it: a string or a list of strings."""
    if cell is None:
        return None
    if isinstance(cell, str):
        return cell
    if hasattr(cell, "tolist"):
        cell = cell.tolist()
    if isinstance(cell, list | tuple):
        return [str(item) for item in cell]
    return cell_text(cell)


@scenarios.register("ocrbench")
class OCRBenchScenario(Scenario):
    """Fields: ``hub_id``, ``split``, ``image_dir`` (official JSON: the image folder, relative to it)."""

    hub_id: str = "echo840/OCRBench"
    split: str = "test"
    image_dir: str | None = None

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        table = read_table(
            context.data_path, default_hub_id=self.hub_id, split=self.split, task=context.task_name
        )
        official = "dataset_name" in table.columns
        table.require_columns(*(OFFICIAL_COLUMNS if official else HUB_COLUMNS))
        roots = self._image_roots(table) if official else []
        for number, row in enumerate(table):
            name = cell_text(row["dataset_name" if official else "dataset"])
            local = cell_text(row["id"]) if official or "id" in table.columns else str(number)
            if name is None or local is None:
                yield BadSample(f"row{number}", f"{table.origin} row {number}: no dataset name or id")
                continue
            sample_id = f"{name}/{local}"
            try:
                images = (
                    self._official_image(sample_id, row, roots, table)
                    if official
                    else row_images(row, "image", table, sample_id)
                )
                yield self._sample(sample_id, name, row, official, images, table)
            except SampleError as error:
                yield BadSample(sample_id, error.reason)

    def _image_roots(self, table: Table) -> list[Path]:
        base = table.base_dir or Path(".")
        candidates = (
            [base / self.image_dir]
            if self.image_dir
            else [base / "OCRBench_Images", base.parent / "OCRBench_Images"]
        )
        return [root for root in candidates if root.is_dir()]

    def _official_image(
        self, sample_id: str, row: dict[str, Any], roots: list[Path], table: Table
    ) -> list[ImageRef]:
        relative = cell_text(row["image_path"])
        if relative is None:
            raise SampleError(sample_id, f"{table.origin}: no image_path")
        if not roots:  # a questions-only copy: scoring needs no pixels
            hint = "put the images under OCRBench_Images/ beside the JSON (or set scenario.image_dir)"
            return [AbsentImage(relative, hint)]
        path = find_file(relative, roots)
        if path is None:
            raise SampleError(sample_id, f"{table.origin}: image {relative!r} not found under {roots[0]}")
        return [FileImage(path)]

    def _sample(
        self,
        sample_id: str,
        dataset_name: str,
        row: dict[str, Any],
        official: bool,
        images: list[ImageRef],
        table: Table,
    ) -> Sample:
        question = cell_text(row["question"])
        answers = answer_value(row["answers" if official else "answer"])
        question_type = cell_text(row["type" if official else "question_type"])
        if question is None or answers is None or question_type is None:
            raise SampleError(sample_id, f"{table.origin}: no question, answers or type")
        if not images:
            raise SampleError(sample_id, f"{table.origin}: no image")
        shown = answers if isinstance(answers, str) else " | ".join(answers)
        return Sample(
            id=sample_id,
            messages=[Message("user", (*[ImagePart(image) for image in images], TextPart(question)))],
            target=shown,
            category=category_path(question_type, dataset_name),
            metadata={"answers": answers, "dataset_name": dataset_name, "type": question_type},
        )
