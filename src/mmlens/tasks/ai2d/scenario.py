"""``mcq_table``: a multiple-choice benchmark published as one table (AI2D, ScienceQA-IMG and
RealWorldQA as their Hugging Face copies lay them out). ScienceQA and RealWorldQA use it too.

Columns (names are fields): ``question``; ``options`` (a list of option texts; none for
RealWorldQA, whose options are lines of the question); ``answer`` (``answer_kind``: ``index`` = the
option's position, as a string "0".."3" in lmms-lab/ai2d or an integer in lmms-lab/ScienceQA;
``letter`` = "A".."D" or, for RealWorldQA's open questions, the answer text); ``image`` (a parquet
image struct, bytes, base64 or a file path; a copy without image cells loads for scoring only);
optional ``hint`` (ScienceQA's context) and ``category_columns`` for the breakdown.

Sample id: the ``index`` column where the copy has one (VLMEvalKit's TSVs), else the row's
position in the split ("0", "1", ...): the Hugging Face copies carry no question id.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from mmlens.core.errors import SampleError
from mmlens.core.media import AbsentImage, ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.options import LETTERS
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.tables import Table, cell_text, read_table, row_images


@scenarios.register("mcq_table")
class MultipleChoiceTable(Scenario):
    """Fields: ``hub_id``, ``config``, ``split``, ``options_column`` (None: options are in the
    question), ``answer_kind``, ``hint_column``, ``category_columns``, ``strip_question``."""

    hub_id: str
    config: str | None = None
    split: str = "test"
    options_column: str | None = "options"
    answer_kind: Literal["index", "letter"] = "index"
    hint_column: str | None = None
    category_columns: tuple[str, ...] = ()
    strip_question: bool = False

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        table = read_table(
            context.data_path,
            default_hub_id=self.hub_id,
            split=self.split,
            task=context.task_name,
            config=self.config,
        )
        needed = ["question", "answer", *([self.options_column] if self.options_column else [])]
        table.require_columns(*needed)
        for number, row in enumerate(table):
            sample_id = cell_text(row.get("index")) if "index" in table.columns else str(number)
            if sample_id is None:
                yield BadSample(f"row{number}", f"{table.origin} row {number}: no index")
                continue
            try:
                yield self._sample(sample_id, row, table, context.task_name)
            except SampleError as error:
                yield BadSample(sample_id, error.reason)

    def _options(self, sample_id: str, row: dict[str, Any], origin: str) -> list[str] | None:
        if self.options_column is None:
            return None
        cell: Any = row.get(self.options_column)
        if cell is not None and hasattr(cell, "tolist"):
            cell = cell.tolist()
        if not isinstance(cell, list | tuple) or not cell or len(cell) > len(LETTERS):
            raise SampleError(sample_id, f"{origin}: column {self.options_column!r} holds no option list")
        return [str(option) for option in cell]

    def _target(self, sample_id: str, answer: str, options: list[str] | None, origin: str) -> str:
        if self.answer_kind == "letter":
            return answer.strip()
        try:
            position = int(float(answer))
        except ValueError:
            raise SampleError(sample_id, f"{origin}: answer {answer!r} is not an option index") from None
        if options is None or not 0 <= position < len(options):
            raise SampleError(sample_id, f"{origin}: answer index {position} is not one of the options")
        return LETTERS[position]

    def _images(self, sample_id: str, row: dict[str, Any], table: Table, task: str) -> list[ImageRef]:
        images = row_images(row, "image", table, sample_id) if "image" in table.columns else []
        if images:
            return images
        hint = f"{table.origin} holds no image for question {sample_id}; running a model needs the images"
        return [AbsentImage(f"{task}/{sample_id}", hint)]

    def _sample(self, sample_id: str, row: dict[str, Any], table: Table, task: str) -> Sample:
        question, answer = cell_text(row["question"]), cell_text(row["answer"])
        if question is None or answer is None:
            raise SampleError(sample_id, f"{table.origin}: empty question or answer")
        if self.strip_question:
            question = question.strip()
        options = self._options(sample_id, row, table.origin)
        target = self._target(sample_id, answer, options, table.origin)
        raw_hint = row.get(self.hint_column) if self.hint_column else None
        hint = raw_hint if isinstance(raw_hint, str) and raw_hint else None  # lmms-eval: `if context:`
        content: tuple[ImagePart | TextPart, ...] = (
            *[ImagePart(image) for image in self._images(sample_id, row, table, task)],
            TextPart(question),
        )
        return Sample(
            id=sample_id,
            messages=[Message("user", content)],
            target=target,
            choices=options,
            category=tuple(cell_text(row.get(column)) or "unknown" for column in self.category_columns),
            metadata={
                "hint": hint or "",
                # the harnesses' conditional lines, so that templates can use them
                "context_line": f"Context: {hint}\n" if hint else "",
                "hint_line": f"Hint: {hint}\n" if hint else "",
            },
        )
