"""MathVista (``AI4Math/MathVista``, CC-BY-SA-4.0), split ``testmini`` (1,000 problems).

Columns: ``pid`` (sample id), ``question``, ``image`` (a path, ``images/<pid>.jpg``),
``decoded_image`` (the image), ``choices`` (a list, or none for free-form problems), ``unit``,
``precision``, ``answer``, ``question_type`` (``multi_choice`` / ``free_form``), ``answer_type``
(``text`` / ``integer`` / ``float`` / ``list``), ``metadata`` (``category``, ``context``,
``grade``, ``language``, ``skills``, ``source``, ``task``, ...), ``query`` (the ready prompt: hint,
question, choices).

``--data`` takes the hub parquet (a folder or file) or the official ``testmini.json`` (an object
keyed by pid, or a list), with images at ``image`` relative to the data file. A copy without
images loads for scoring only (images "absent").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmlens.core.errors import DataError, SampleError
from mmlens.core.media import AbsentImage, FileImage, ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.tables import cell_text, decode_image_cell, read_table

COLUMNS = ("pid", "question", "answer", "question_type", "answer_type", "query")
# calculate_score.py's target_keys: the breakdowns it prints.
BREAKDOWN_KEYS = (
    "question_type",
    "answer_type",
    "language",
    "source",
    "category",
    "task",
    "context",
    "grade",
    "skills",
)


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def read_official_json(path: Path, task: str) -> list[dict[str, Any]] | None:
    """The rows of ``testmini.json`` (pid -> problem), or None when the file is another JSON layout."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"task {task}: cannot read JSON file {path}: {error}") from None
    if isinstance(data, dict) and data and all(isinstance(item, dict) for item in data.values()):
        return [{"pid": key, **item} for key, item in data.items()]
    return None


@scenarios.register("mathvista")
class MathVistaScenario(Scenario):
    """Fields: ``hub_id``, ``split``."""

    hub_id: str = "AI4Math/MathVista"
    split: str = "testmini"

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        path = Path(context.data_path).expanduser() if context.data_path else None
        rows = (
            read_official_json(path, context.task_name)
            if path and path.suffix == ".json" and path.is_file()
            else None
        )
        if rows is not None:
            assert path is not None
            origin, base = str(path), path.parent
        else:
            table = read_table(
                context.data_path,
                default_hub_id=self.hub_id,
                split=self.split,
                task=context.task_name,
                image_columns=("decoded_image",),
            )
            table.require_columns(*COLUMNS)
            rows, origin, base = list(table), table.origin, table.base_dir or Path(".")
        for number, row in enumerate(rows):
            sample_id = cell_text(row.get("pid"))
            if sample_id is None:
                yield BadSample(f"row{number}", f"{origin} row {number}: no pid")
                continue
            try:
                yield self._sample(
                    sample_id, {key: _plain(value) for key, value in row.items()}, origin, base
                )
            except SampleError as error:
                yield BadSample(sample_id, error.reason)

    def _image(self, sample_id: str, row: dict[str, Any], origin: str, base: Path) -> ImageRef:
        decoded = row.get("decoded_image")
        if decoded is not None:
            image = decode_image_cell(decoded, base, f"{origin} {sample_id}")
            if isinstance(image, ImageRef):
                return image
        relative = cell_text(row.get("image"))
        if relative and (base / relative).is_file():
            return FileImage(base / relative)
        if relative and (base / relative).parent.is_dir():
            raise SampleError(sample_id, f"{origin}: image {relative!r} not found under {base}")
        return AbsentImage(
            relative or sample_id, "use a copy with decoded_image, or the images/ folder beside the data"
        )

    def _sample(self, sample_id: str, row: dict[str, Any], origin: str, base: Path) -> Sample:
        query, answer = cell_text(row.get("query")), cell_text(row.get("answer"))
        question_type, answer_type = cell_text(row.get("question_type")), cell_text(row.get("answer_type"))
        if query is None or answer is None or question_type is None or answer_type is None:
            raise SampleError(sample_id, f"{origin}: no query, answer, question_type or answer_type")
        choices = row.get("choices")
        choices = [str(choice) for choice in choices] if isinstance(choices, list) and choices else None
        if question_type == "multi_choice" and not choices:
            raise SampleError(sample_id, f"{origin}: a multi_choice problem without choices")
        meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
        fields = {"question_type": question_type, "answer_type": answer_type, **(meta or {})}
        breakdown = {key: _plain(fields.get(key)) for key in BREAKDOWN_KEYS if fields.get(key) is not None}
        precision = row.get("precision")
        return Sample(
            id=sample_id,
            messages=[
                Message("user", (ImagePart(self._image(sample_id, row, origin, base)), TextPart(query)))
            ],
            target=answer,
            choices=choices,
            category=(question_type, answer_type),
            metadata={
                "question_type": question_type,
                "answer_type": answer_type,
                "precision": None if precision is None or precision != precision else float(precision),
                "unit": cell_text(row.get("unit")),
                "mathvista_breakdown": breakdown,
            },
        )
