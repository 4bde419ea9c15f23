"""MMVM (zhouyik/MMVMBench): ``mllm_match_eval_full.tsv`` with two images per question.

Columns: ``index`` (sample id), ``question`` (the full prompt text, options included), ``choices``
("A. 1\\nB. 2\\n...\\nE. None of the above choices are correct\\n"), ``answer`` (a letter),
``match_type`` (a list string of ids 1-8), ``image_path`` (a list string of two image paths,
relative to the TSV's folder) or ``image`` (two embedded images).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import Any

from mmlens.core.errors import SampleError
from mmlens.core.media import ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.tables import Table, cell_text, decode_image_cell, read_table, row_images

_CHOICE_LINE = re.compile(r"^([A-Z])\.\s?(.*)$")


def parse_choices(text: str) -> dict[str, str]:
    """The ``choices`` cell as {letter: text}, in order."""
    choices: dict[str, str] = {}
    for line in text.splitlines():
        match = _CHOICE_LINE.match(line.strip())
        if match:
            choices[match.group(1)] = match.group(2)
    return choices


@scenarios.register("mmvm")
class MMVMScenario(Scenario):
    """Fields: ``hub_id``, ``split``; ``--data`` takes the published TSV."""

    hub_id: str = "zhouyik/MMVMBench"
    split: str = "test"

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        table = read_table(
            context.data_path, default_hub_id=self.hub_id, split=self.split, task=context.task_name
        )
        table.require_columns("index", "question", "choices", "answer", "match_type")
        for number, row in enumerate(table):
            sample_id = cell_text(row["index"])
            if sample_id is None:
                yield BadSample(f"row{number}", f"{table.origin} row {number}: no index")
                continue
            try:
                yield self._sample(sample_id, row, table)
            except SampleError as error:
                yield BadSample(sample_id, error.reason)

    def _sample(self, sample_id: str, row: dict[str, Any], table: Table) -> Sample:
        question, answer = cell_text(row["question"]), cell_text(row["answer"])
        choices = parse_choices(cell_text(row["choices"]) or "")
        if question is None or answer is None or not choices:
            raise SampleError(sample_id, f"{table.origin}: empty question, answer or choices")
        images = self._images(sample_id, row, table)
        content: tuple[ImagePart | TextPart, ...] = (
            *[ImagePart(image) for image in images],
            TextPart(question),
        )
        return Sample(
            id=sample_id,
            messages=[Message("user", content)],
            target=answer.strip(),
            choices=list(choices.values()),
            metadata={"choices": choices, "match_type": cell_text(row["match_type"]) or ""},
        )

    def _images(self, sample_id: str, row: dict[str, Any], table: Table) -> list[ImageRef]:
        if "image" in table.columns and row.get("image") is not None:
            images = row_images(row, "image", table, sample_id)
        else:
            paths = _path_list(cell_text(row.get("image_path")) or "")
            cell = decode_image_cell(paths, table.base_dir, sample_id)
            images = row_images({"image_path": cell}, "image_path", table, sample_id)
        if len(images) != 2:
            raise SampleError(sample_id, f"{table.origin}: expected two images, found {len(images)}")
        return images


def _path_list(text: str) -> list[str]:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return [text] if text else []
    return [str(item) for item in value] if isinstance(value, list | tuple) else [str(value)]
