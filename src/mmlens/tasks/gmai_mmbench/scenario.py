"""GMAI-MMBench (VLMEvalKit's TSVs): medical multiple-choice questions on a lexical tree.

Published data: ``GMAI-MMBench_VAL.tsv`` (HF ``VLMEval/GMAI-MMBench``) and the test split in 11
parts ``GMAI_mm_bench_TEST_part_{1..11}.tsv`` (HF ``OpenGVLab/GMAI-MMBench``, no answers).
Columns: ``index`` (the sample id), ``question``, ``A``-``E`` (an empty cell: no such option),
``answer``, ``category`` (the right option's text), ``image`` (base64; a short cell names another
row's index), ``modality``, ``clinical VQA task``, ``department``, ``perceptual granularity``.

The five columns of the tree are the sample's axes (``mmlens.core.select``): ``--select`` picks a
subtree, and the metric breaks results down by them. Scoring reads no image: a copy of the TSV
without its ``image`` column scores the same predictions (its images are ``AbsentImage``: a run on
it is refused before any model loads).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from mmlens.core.errors import DataError, SampleError
from mmlens.core.media import AbsentImage, ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.options import LETTERS
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.core.select import AXES_KEY
from mmlens.scenarios.tables import Table, cell_text, is_missing, read_table, row_images

# TSV column -> axis name (VLMEvalKit lower-cases every column name but the option letters)
AXIS_COLUMNS = {
    "modality": "modality",
    "clinical vqa task": "clinical vqa task",
    "department": "department",
    "perceptual granularity": "perceptual granularity",
    "category": "category",
    "l2-category": "l2-category",
}
OPTION_COLUMNS = LETTERS[:26]
_TEST_PART = re.compile(r"part_(\d+)", re.IGNORECASE)


def _columns_by_lower_name(row: dict[str, Any]) -> dict[str, Any]:
    return {key if key in OPTION_COLUMNS else str(key).lower(): value for key, value in row.items() if key}


def _options(row: dict[str, Any]) -> list[str]:
    """Options A, B, ... up to the first empty one (VLMEvalKit: every non-NaN letter column)."""
    options = []
    for letter in OPTION_COLUMNS:
        if letter not in row or is_missing(row[letter]):
            break
        options.append(str(row[letter]))
    return options


def data_files(path: Path) -> list[Path]:
    """A TSV, or a folder of TSVs (the 11 test parts in part order)."""
    if path.is_file():
        return [path]
    files = sorted(path.glob("*.tsv"))
    if not files:
        raise DataError(f"--data {path}: no .tsv file in this folder (expected GMAI-MMBench's TSVs)")

    def order(file: Path) -> tuple[int, str]:
        match = _TEST_PART.search(file.name)
        return (int(match.group(1)) if match else 0, file.name)

    return sorted(files, key=order)


@scenarios.register("gmai_mmbench")
class GMAIMMBenchScenario(Scenario):
    """Fields: ``split`` (val, test: for messages only; the data is the TSV given by ``--data``)."""

    id_scheme: ClassVar[str] = 'the "index" column of the TSV (e.g. "0")'
    axes: ClassVar[tuple[str, ...]] = (
        "modality",
        "clinical vqa task",
        "department",
        "perceptual granularity",
        "category",
    )
    split: str = "val"

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        if context.data_path is None:
            name = (
                "GMAI-MMBench_VAL.tsv" if self.split == "val" else "the GMAI_mm_bench_TEST_part_*.tsv files"
            )
            raise DataError(
                f"task {context.task_name}: give the published TSV with --data PATH ({name} from HF "
                "VLMEval/GMAI-MMBench or OpenGVLab/GMAI-MMBench; a folder of TSVs is read in part order)"
            )
        path = Path(context.data_path).expanduser()
        if not path.exists():
            raise DataError(f"task {context.task_name}: data path {path} does not exist")
        answered = 0
        for file in data_files(path):
            table = read_table(file, default_hub_id="", split=self.split, task=context.task_name)
            table.require_columns("index", "question", "A", "B")
            if "answer" not in table.columns:
                raise self._no_answers(context, table)
            for item in self._rows(table):
                answered += isinstance(item, Sample)
                yield item
        if not answered:
            raise DataError(
                f"task {context.task_name}: {path} has no row with an answer (the published test split "
                "has none), so it cannot be scored here"
            )

    def _no_answers(self, context: LoadContext, table: Table) -> DataError:
        return DataError(
            f"task {context.task_name}: {table.origin} has no answer column (the published GMAI-MMBench "
            "test split has none), so it cannot be scored here; the val split has answers"
        )

    def _rows(self, table: Table) -> Iterator[Sample | BadSample]:
        images: dict[str, ImageRef] = {}
        pending: list[tuple[str, dict[str, Any]]] = []  # rows whose image cell names a later row
        for number, raw in enumerate(table):
            row = _columns_by_lower_name(raw)
            sample_id = cell_text(row.get("index"))
            if sample_id is None:
                yield BadSample(f"row{number}", f"{table.origin} row {number}: no index")
                continue
            image = row.get("image")
            if isinstance(image, ImageRef):
                images[sample_id] = image
            elif cell_text(image) is not None:
                reference = cell_text(image) or ""
                if reference not in images:
                    pending.append((sample_id, row))
                    continue
                row["image"] = images[reference]
            yield self._checked(sample_id, row, table)
        for sample_id, row in pending:
            reference = cell_text(row["image"]) or ""
            row["image"] = images.get(reference, row["image"])
            yield self._checked(sample_id, row, table)

    def _checked(self, sample_id: str, row: dict[str, Any], table: Table) -> Sample | BadSample:
        try:
            return self._sample(sample_id, row, table)
        except SampleError as error:
            return BadSample(sample_id, error.reason)

    def _absent(self, sample_id: str, table: Table) -> AbsentImage:
        hint = f"{table.origin} has no image column; it can be scored (mmlens score), not run"
        return AbsentImage(f"gmai_mmbench/{sample_id}", hint)

    def _sample(self, sample_id: str, row: dict[str, Any], table: Table) -> Sample:
        question = cell_text(row.get("question"))
        choices = _options(row)
        answer = cell_text(row.get("answer"))
        if question is None or len(choices) < 2:
            raise SampleError(sample_id, f"{table.origin}: no question or fewer than two options")
        if answer is None or answer.strip() not in LETTERS[: len(choices)]:
            raise SampleError(sample_id, f"{table.origin}: answer {answer!r} is not one of the options")
        images = (
            row_images(row, "image", table, sample_id) if "image" in row else [self._absent(sample_id, table)]
        )
        axes = {
            axis: text
            for column, axis in AXIS_COLUMNS.items()
            if (text := cell_text(row.get(column))) is not None
        }
        hint = cell_text(row.get("hint"))
        return Sample(
            id=sample_id,
            messages=[Message("user", (*[ImagePart(image) for image in images], TextPart(question)))],
            target=answer.strip(),
            choices=choices,
            metadata={"hint_line": f"Hint: {hint}\n" if hint is not None else "", AXES_KEY: axes},
        )
