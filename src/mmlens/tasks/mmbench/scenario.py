"""MMBench (EN/CN, dev/test) and CCBench, with CircularEval passes.

Published data: the official TSVs (``index``, ``question``, ``hint``, ``A``-``E``, ``answer``,
``category``, ``l2-category``, ``image`` as base64) or HF ``lmms-lab/MMBench`` (configs en, cn, cc;
``L2-category``; images as parquet image cells).

CircularEval asks a question with n options n times. In pass k the option at position p is the
original option at position (p + k) mod n, so the answer moves too. Copies that already hold the
rotated rows (index + k * 1,000,000; VLMEvalKit's TSVs and lmms-lab/MMBench do) are used as
published; otherwise the rotations are generated here with that rule. Every pass is its own sample,
id = the (published or generated) row index, group = the original index.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mmlens.core.errors import DataError, SampleError
from mmlens.core.media import ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.options import LETTERS, rotate_options
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.tables import Table, cell_text, is_missing, read_table, row_images

PASS_STRIDE = 1_000_000
OPTION_COLUMNS = "ABCDEFGHI"
L2_COLUMNS = ("l2-category", "L2-category", "l2_category")


def _row_options(row: dict[str, Any]) -> list[str]:
    options = []
    for letter in OPTION_COLUMNS:
        if letter not in row or is_missing(row[letter]):
            break
        options.append(str(row[letter]))
    return options


@scenarios.register("mmbench")
class MMBenchScenario(Scenario):
    """Fields: ``hub_id``, ``config`` (en, cn, cc), ``split`` (dev, test), ``circular``."""

    hub_id: str = "lmms-lab/MMBench"
    config: str | None = "en"
    split: str = "dev"
    circular: bool = True

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        table = read_table(
            context.data_path,
            default_hub_id=self.hub_id,
            split=self.split,
            task=context.task_name,
            config=self.config,
        )
        table.require_columns("index", "question", "A", "B", "category", "image")
        if "answer" not in table.columns:
            raise self._no_answers(context, table)
        questions, images, bad = self._group_rows(table)
        if not any(not is_missing(row.get("answer")) for rows in questions.values() for row in rows.values()):
            raise self._no_answers(context, table)
        yield from bad
        for group, rows in questions.items():
            try:
                yield from self._passes(group, rows, images, table)
            except SampleError as error:
                yield BadSample(error.sample_id, error.reason)

    def _no_answers(self, context: LoadContext, table: Table) -> DataError:
        return DataError(
            f"task {context.task_name}: {table.origin} publishes no answers (targets are absent, as in "
            "the MMBench test split), so it cannot be scored here; get a test score by submitting "
            "predictions to the MMBench evaluation server (https://mmbench.opencompass.org.cn)"
        )

    def _group_rows(
        self, table: Table
    ) -> tuple[dict[int, dict[int, dict[str, Any]]], dict[str, ImageRef], list[BadSample]]:
        questions: dict[int, dict[int, dict[str, Any]]] = {}
        images: dict[str, ImageRef] = {}
        unique: dict[str, ImageRef] = {}
        bad: list[BadSample] = []
        for number, row in enumerate(table):
            text = cell_text(row["index"])
            if text is None or not text.lstrip("-").isdigit():
                bad.append(
                    BadSample(f"row{number}", f"{table.origin}: index {row['index']!r} is not an integer")
                )
                continue
            index = int(text)
            passes = questions.setdefault(index % PASS_STRIDE, {})
            if index // PASS_STRIDE in passes:  # a repeated row must not replace (or join) the first
                bad.append(BadSample(f"row{number}", f"{table.origin}: index {index} occurs twice"))
                continue
            image = row.get("image")
            if isinstance(image, ImageRef):  # identical images of rotated rows are kept once
                image = unique.setdefault(image.digest, image)
                row["image"] = image
                images[str(index)] = image
            passes[index // PASS_STRIDE] = row
        for group, rows in questions.items():  # VLMEvalKit TSVs: a short image cell names another row's index
            for row in rows.values():
                if isinstance(row.get("image"), str | int) and str(row["image"]).strip() in images:
                    row["image"] = images[str(row["image"]).strip()]
            questions[group] = dict(sorted(rows.items()))
        return questions, images, bad

    def _passes(
        self, group: int, rows: dict[int, dict[str, Any]], images: dict[str, ImageRef], table: Table
    ) -> Iterator[Sample]:
        if not self.circular:
            if 0 in rows:
                yield self._sample(group, 0, rows[0], None, table)
            return
        if len(rows) > 1 or 0 not in rows:
            for k, row in rows.items():
                yield self._sample(group, k, row, None, table)
            return
        base = self._sample(group, 0, rows[0], None, table)
        yield base
        for k in range(1, len(base.choices or [])):
            yield self._sample(group, k, rows[0], k, table)

    def _sample(self, group: int, k: int, row: dict[str, Any], rotate_by: int | None, table: Table) -> Sample:
        sample_id = str(group + k * PASS_STRIDE)
        question = cell_text(row["question"])
        choices = _row_options(row)
        answer = cell_text(row.get("answer"))
        if question is None or len(choices) < 2:
            raise SampleError(sample_id, f"{table.origin}: no question or fewer than two options")
        if answer is None or answer.strip() not in LETTERS[: len(choices)]:
            raise SampleError(sample_id, f"{table.origin}: answer {answer!r} is not one of the options")
        answer = answer.strip()
        if rotate_by is not None:
            choices, position = rotate_options(choices, LETTERS.index(answer), rotate_by)
            answer = LETTERS[position]
        images = row_images(row, "image", table, sample_id)
        if not images:
            raise SampleError(sample_id, f"{table.origin}: no image")
        hint = cell_text(row.get("hint"))
        l2 = next((cell_text(row[c]) for c in L2_COLUMNS if c in row and not is_missing(row[c])), None)
        category = tuple(c for c in (l2, cell_text(row["category"])) if c)
        return Sample(
            id=sample_id,
            messages=[Message("user", (*[ImagePart(image) for image in images], TextPart(question)))],
            target=answer,
            choices=choices,
            category=category,
            group=str(group),
            metadata={"hint_line": f"Hint: {hint}\n" if hint is not None else "", "circular_pass": k},
        )
