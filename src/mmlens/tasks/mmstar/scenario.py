"""MMStar (Lin-Chen/MMStar, split val): 1,500 vision-indispensable multiple-choice questions.

Columns: ``index``, ``question`` (the options are inline: "...\\nOptions: A: ..., B: ..."),
``image``, ``answer`` (A-D), ``category`` (6 capabilities), ``l2_category`` (18 axes), ``meta_info``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mmlens.core.errors import SampleError
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.tables import cell_text, read_table, row_images


@scenarios.register("mmstar")
class MMStarScenario(Scenario):
    """Fields: ``hub_id``, ``split``; ``--data`` takes a local copy (parquet, save_to_disk, TSV)."""

    hub_id: str = "Lin-Chen/MMStar"
    split: str = "val"

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        table = read_table(
            context.data_path, default_hub_id=self.hub_id, split=self.split, task=context.task_name
        )
        table.require_columns("index", "question", "image", "answer", "category", "l2_category")
        for number, row in enumerate(table):
            sample_id = cell_text(row["index"])
            if sample_id is None:
                yield BadSample(f"row{number}", f"{table.origin} row {number}: no index")
                continue
            try:
                yield self._sample(sample_id, row, table.origin)
            except SampleError as error:
                yield BadSample(sample_id, error.reason)

    def _sample(self, sample_id: str, row: dict[str, Any], origin: str) -> Sample:
        question, answer = cell_text(row["question"]), cell_text(row["answer"])
        if question is None or answer is None:
            raise SampleError(sample_id, f"{origin}: empty question or answer")
        images = row_images(row, "image", origin, sample_id)
        if not images:
            raise SampleError(sample_id, f"{origin}: no image")
        content: tuple[ImagePart | TextPart, ...] = (
            *[ImagePart(image) for image in images],
            TextPart(question),
        )
        category = (cell_text(row["category"]) or "", cell_text(row["l2_category"]) or "")
        if not all(category):
            raise SampleError(sample_id, f"{origin}: no category or l2_category")
        return Sample(
            id=sample_id,
            messages=[Message("user", content)],
            target=answer.strip(),
            category=category,
            metadata={"meta_info": row.get("meta_info")} if row.get("meta_info") is not None else {},
        )
