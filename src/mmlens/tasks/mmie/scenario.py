"""MMIE (HF MMIE/MMIE): interleaved questions ``[{id, question: [{text, image}], answer |
gt_answer: [{text, image}] | str}]``; image paths relative to the JSON file's folder.

The model sees the question's items in order (text, then image, per item, as dataset.py reads
them). The reference is ``gt_answer[0]["text"]`` (dataset.py), else the text of ``answer``.
Sample id: the record's ``id`` (its SA / PBL / MSR substring picks the rubric).
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

CATEGORIES = ("SA", "PBL", "MSR")  # checked in this order, by substring of the id (main.py)


def category_of(sample_id: str) -> str | None:
    return next((name for name in CATEGORIES if name in sample_id), None)


def reference_text(record: dict[str, Any]) -> str:
    for key in ("gt_answer", "answer"):
        value = record.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return str(value[0].get("text") or "")
    return ""


@scenarios.register("mmie")
class MMIEScenario(Scenario):
    id_scheme = 'the record\'s "id" (contains SA, PBL or MSR)'

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        if context.data_path is None:
            raise DataError(f"{context.task_name}: give --data the MMIE JSON file")
        path = Path(context.data_path)
        try:
            records = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise DataError(f"{path}: cannot read it as JSON ({error})") from None
        if not isinstance(records, list):
            raise DataError(f"{path}: expected a JSON list of records")
        for row, record in enumerate(records):
            if not isinstance(record, dict) or "id" not in record or "question" not in record:
                yield BadSample(f"row{row}", f"{path} record {row}: needs id and question")
                continue
            try:
                yield self._sample(record, path)
            except SampleError as error:
                yield BadSample(str(record["id"]), f"{path} record {row}: {error.reason}")

    def _sample(self, record: dict[str, Any], path: Path) -> Sample:
        sample_id = str(record["id"])
        category = category_of(sample_id)
        if category is None:
            raise SampleError(
                sample_id, "the id contains none of SA, PBL, MSR (official: 'Unrecogonized data.')"
            )
        parts: list[ImagePart | TextPart] = []
        image_names: list[str | None] = []
        for item in record["question"]:
            if item.get("text") is not None:
                parts.append(TextPart(str(item["text"])))
            if item.get("image") is not None:
                image = _image(path.parent / str(item["image"]))
                parts.append(ImagePart(image))
                image_names.append(str(item["image"]))
        return Sample(
            id=sample_id,
            messages=[Message("user", tuple(parts))],
            target=reference_text(record),
            category=(category,),
            metadata={"question_items": record["question"]},
        )


def _image(path: Path) -> ImageRef:
    return (
        FileImage(path)
        if path.is_file()
        else AbsentImage(path.name, f"image {path} is not in the local copy")
    )
