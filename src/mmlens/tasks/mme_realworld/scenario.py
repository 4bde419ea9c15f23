"""MME-RealWorld (29,429 questions; Lite: 50 per task) in either published schema.

- The official JSON (``MME_RealWorld.json``): ``Question_id``, ``Image`` (a path under the image
  folder), ``Text``, ``Answer choices`` ("(A) ..." ... "(E) ..."), ``Ground truth``, ``Task``,
  ``Subtask``, ``Category``.
- The hub parquet/TSV copies (``yifanzhang114/MME-RealWorld-Lmms-eval``, ``...-Base64``):
  ``index``, ``question``, ``multi-choice options``, ``answer``, ``category`` ("Perception/Monitoring"),
  ``l2-category``, and the image as ``bytes``/``image`` (base64 or an image cell).

The category path is (task, subtask, category) as the official scorer groups it: the category is
lower-cased and every "<x>/...attribute..." category becomes "<x>/attribute"; inside the path the
category's "/" is written "-" so that it stays one level.
Research-only license: the data is never shipped or copied by mmlens.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmlens.core.errors import SampleError
from mmlens.core.media import FileImage, ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.tables import Table, cell_text, find_file, read_table, row_images

OFFICIAL_COLUMNS = (
    "Question_id",
    "Image",
    "Text",
    "Answer choices",
    "Ground truth",
    "Task",
    "Subtask",
    "Category",
)
HUB_COLUMNS = ("index", "question", "multi-choice options", "answer", "category", "l2-category")
_CHOICE_LINE = re.compile(r"^\(([A-E])\)\s?")


def official_category(category: str) -> str:
    """The official scorer's grouping: lower-cased; any '...attribute...' becomes '<first part>/attribute'."""
    category = category.lower()
    return category.split("/")[0] + "/attribute" if "attribute" in category else category


def _choice_lines(value: Any) -> list[str]:
    if isinstance(value, str):  # the Base64 TSV joins them under a header line
        return [line for line in value.splitlines() if _CHOICE_LINE.match(line.strip())]
    return [str(item) for item in value or []]


@scenarios.register("mme_realworld")
class MMERealWorldScenario(Scenario):
    """Fields: ``hub_id``, ``split``, ``image_dir`` (official JSON: image folder, relative to the JSON)."""

    hub_id: str = "yifanzhang114/MME-RealWorld-Lmms-eval"
    split: str = "train"
    image_dir: str | None = None

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        table = read_table(
            context.data_path,
            default_hub_id=self.hub_id,
            split=self.split,
            task=context.task_name,
            image_columns=("image", "bytes"),
        )
        official = "Question_id" in table.columns
        table.require_columns(*(OFFICIAL_COLUMNS if official else HUB_COLUMNS))
        for number, row in enumerate(table):
            id_column = "Question_id" if official else "index"
            sample_id = cell_text(row[id_column])
            if sample_id is None:
                yield BadSample(f"row{number}", f"{table.origin} row {number}: no {id_column}")
                continue
            try:
                yield self._official(sample_id, row, table) if official else self._hub(sample_id, row, table)
            except SampleError as error:
                yield BadSample(sample_id, error.reason)

    def _official(self, sample_id: str, row: dict[str, Any], table: Table) -> Sample:
        relative = cell_text(row["Image"])
        base = table.base_dir or Path(".")
        roots = [base / self.image_dir] if self.image_dir else [base, base / "MME-RealWorld"]
        path = find_file(relative, roots) if relative else None
        if path is None:
            raise SampleError(sample_id, f"{table.origin}: image {relative!r} not found under {roots[0]}")
        category = (
            cell_text(row["Task"]) or "",
            cell_text(row["Subtask"]) or "",
            cell_text(row["Category"]) or "",
        )
        return self._sample(
            sample_id,
            row["Text"],
            row["Answer choices"],
            row["Ground truth"],
            category,
            [FileImage(path)],
            table,
        )

    def _hub(self, sample_id: str, row: dict[str, Any], table: Table) -> Sample:
        column = "bytes" if row.get("bytes") is not None else "image"
        images = row_images(row, column, table, sample_id)
        path = (cell_text(row["category"]) or "").split("/")
        task = "Perception" if "perception" in path[0].lower() else "Reasoning"
        category = (task, path[-1], cell_text(row["l2-category"]) or "")
        return self._sample(
            sample_id, row["question"], row["multi-choice options"], row["answer"], category, images, table
        )

    def _sample(
        self,
        sample_id: str,
        question: Any,
        choices: Any,
        answer: Any,
        category: tuple[str, str, str],
        images: list[ImageRef],
        table: Table,
    ) -> Sample:
        lines = _choice_lines(choices)
        text, target = cell_text(question), cell_text(answer)
        if text is None or target is None or not lines:
            raise SampleError(sample_id, f"{table.origin}: no question, options or answer")
        if not images:
            raise SampleError(sample_id, f"{table.origin}: no image")
        if not all(category):
            raise SampleError(sample_id, f"{table.origin}: no task, subtask or category")
        task, subtask, leaf = category
        return Sample(
            id=sample_id,
            messages=[Message("user", (*[ImagePart(image) for image in images], TextPart(text)))],
            target=target.strip(),
            choices=[_CHOICE_LINE.sub("", line.strip()) for line in lines],
            category=(task, subtask, official_category(leaf).replace("/", "-")),
            metadata={"choice_lines": lines, "choice_block": "".join(line + "\n" for line in lines)},
        )
