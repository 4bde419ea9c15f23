"""MMMU (``MMMU/MMMU``, Apache-2.0): 30 subject configs, splits dev / validation / test.

Columns: ``id`` (``validation_<Subject>_<n>``), ``question`` (with ``<image k>`` tags),
``options`` (a Python list literal), ``image_1`` ... ``image_7``, ``answer`` (a letter; for open
questions the answer text, or a list literal of accepted answers), ``question_type``
(``multiple-choice`` / ``open``), ``subfield``, ``topic_difficulty``, ``img_type``.

``--data`` takes the hub layout (a folder of ``<Subject>/<split>-*.parquet`` folders), one subject
folder, or one file (parquet / JSON / JSONL) holding several subjects. Samples come in the
official order, subjects as ``CAT_SHORT2LONG`` lists them (alphabetical), each in file order: the
official random fallback draws in that order, so it is part of the result. A copy without image
columns loads for scoring only (images "absent").
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmlens.core.errors import SampleError
from mmlens.core.media import AbsentImage, ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.tables import Table, cell_text, read_table, row_images

# mmmu/utils/data_utils.py: CAT_SHORT2LONG's values, in its order, and DOMAIN_CAT2SUB_CAT.
SUBJECTS = (
    "Accounting", "Agriculture", "Architecture_and_Engineering", "Art", "Art_Theory",
    "Basic_Medical_Science", "Biology", "Chemistry", "Clinical_Medicine", "Computer_Science",
    "Design", "Diagnostics_and_Laboratory_Medicine", "Economics", "Electronics", "Energy_and_Power",
    "Finance", "Geography", "History", "Literature", "Manage", "Marketing", "Materials", "Math",
    "Mechanical_Engineering", "Music", "Pharmacy", "Physics", "Psychology", "Public_Health", "Sociology",
)  # fmt: skip
DISCIPLINES = {
    "Art and Design": ("Art", "Art_Theory", "Design", "Music"),
    "Business": ("Accounting", "Economics", "Finance", "Manage", "Marketing"),
    "Science": ("Biology", "Chemistry", "Geography", "Math", "Physics"),
    "Health and Medicine": (
        "Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine", "Pharmacy",
        "Public_Health",
    ),
    "Humanities and Social Science": ("History", "Literature", "Sociology", "Psychology"),
    "Tech and Engineering": (
        "Agriculture", "Architecture_and_Engineering", "Computer_Science", "Electronics", "Energy_and_Power",
        "Materials", "Mechanical_Engineering",
    ),
}  # fmt: skip
DISCIPLINE_OF = {subject: discipline for discipline, subjects in DISCIPLINES.items() for subject in subjects}
COLUMNS = ("id", "question", "options", "answer", "question_type")
IMAGE_COLUMNS = tuple(f"image_{k}" for k in range(1, 8))


def subject_of(sample_id: str) -> str:
    """``main_eval_only.py``'s rule: the id without its split prefix and its number."""
    return "_".join(sample_id.split("_")[1:-1])


def literal_list(value: Any) -> list[str] | None:
    """A list cell, or a string holding a Python list literal, as a list of strings; else None."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            return None
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return None


@scenarios.register("mmmu")
class MMMUScenario(Scenario):
    """Fields: ``hub_id``, ``split`` (dev, validation)."""

    hub_id: str = "MMMU/MMMU"
    split: str = "validation"

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        loaded: list[Sample | BadSample] = []
        for table in self._tables(context):
            table.require_columns(*COLUMNS)
            loaded.extend(self._rows(table))
        rank = {subject: index for index, subject in enumerate(SUBJECTS)}
        loaded.sort(key=lambda item: rank.get(subject_of(item.id), len(SUBJECTS)))  # stable: file order kept
        for order, item in enumerate(loaded):
            if isinstance(item, Sample):
                item.metadata["order"] = order
            yield item

    def _tables(self, context: LoadContext) -> Iterator[Table]:
        read = {"split": self.split, "task": context.task_name, "image_columns": IMAGE_COLUMNS}
        if context.data_path is None:
            for subject in SUBJECTS:
                yield read_table(None, default_hub_id=self.hub_id, config=subject, **read)  # type: ignore[arg-type]
            return
        path = Path(context.data_path).expanduser()
        folders = (
            [path / subject for subject in SUBJECTS if (path / subject).is_dir()] if path.is_dir() else []
        )
        for source in folders or [path]:
            yield read_table(source, default_hub_id=self.hub_id, **read)  # type: ignore[arg-type]

    def _rows(self, table: Table) -> Iterator[Sample | BadSample]:
        with_images = any(column in table.columns for column in IMAGE_COLUMNS)
        for number, row in enumerate(table):
            sample_id = cell_text(row["id"])
            if sample_id is None:
                yield BadSample(f"row{number}", f"{table.origin} row {number}: no id")
                continue
            try:
                yield self._sample(sample_id, row, table, with_images)
            except SampleError as error:
                yield BadSample(sample_id, error.reason)

    def _images(
        self, sample_id: str, row: dict[str, Any], table: Table, with_images: bool, text: str
    ) -> list[ImageRef]:
        if not with_images:
            hint = "use a copy with the image_1 ... image_7 columns"
            return [
                AbsentImage(f"{sample_id}/image_{k}", hint) for k in range(1, 8) if f"<image {k}>" in text
            ]
        images: list[ImageRef] = []
        for column in IMAGE_COLUMNS:
            if row.get(column) is not None:
                images.extend(row_images(row, column, table, sample_id))
        return images

    def _sample(self, sample_id: str, row: dict[str, Any], table: Table, with_images: bool) -> Sample:
        question, answer = cell_text(row["question"]), cell_text(row["answer"])
        question_type = cell_text(row["question_type"])
        options = literal_list(row["options"])
        if question is None or answer is None or question_type is None or options is None:
            raise SampleError(sample_id, f"{table.origin}: no question, options, answer or question_type")
        subject = subject_of(sample_id)
        metadata: dict[str, Any] = {
            "question": question,
            "question_type": question_type,
            "subject": subject,
            "subfield": cell_text(row.get("subfield")),
        }
        if question_type == "multiple-choice":
            letters = [chr(ord("A") + index) for index in range(len(options))]
            if answer not in letters:
                raise SampleError(sample_id, f"{table.origin}: answer {answer!r} is not one of {letters}")
            metadata["answers"] = [answer]
        else:
            metadata["answers"] = literal_list(answer) or [answer]
        images = self._images(sample_id, row, table, with_images, question + " ".join(options))
        return Sample(
            id=sample_id,
            messages=[Message("user", (*[ImagePart(image) for image in images], TextPart(question)))],
            target=answer,
            choices=options if question_type == "multiple-choice" else None,
            category=(DISCIPLINE_OF.get(subject, "Other"), subject),
            metadata=metadata,
        )
