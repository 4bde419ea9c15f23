"""TextVQA (Singh et al., 2019), validation split: 5,000 questions about text in images, 10 answers each.

Data (``--data PATH``), in either published format:

- the official ``TextVQA_0.5.1_val.json`` (``{"dataset_name": "textvqa", ..., "data": [{question,
  image_id, answers (10), question_id, set_name, question_tokens, ...}]}``); images
  ``<image_id>.jpg`` in the scenario field ``image_dir``, ``train_images/``,
  ``train_val_images/train_images/`` or ``images/`` beside the JSON. Without any image folder the
  questions load for scoring only.
- the Hugging Face dataset ``lmms-lab/textvqa`` (split ``validation``; the default without
  ``--data``): the same columns plus ``image`` and ``ocr_tokens``, as parquet or ``save_to_disk``.

Sample id: the ``question_id`` (``"34602"``). Reference: the ten answers as AcceptedAnswers
(``target`` shows the most frequent one).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmlens.core.errors import SampleError
from mmlens.core.media import ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import AcceptedAnswers, BadSample, Sample
from mmlens.scenarios.local_images import ImageNotFound, LocalImages
from mmlens.scenarios.tables import Table, cell_text, one_row_image, read_table

HUB_ID = "lmms-lab/textvqa"
IMAGE_FOLDERS = ("train_images", "train_val_images/train_images", "images")


def answer_list(cell: Any) -> list[str]:
    """A list/array cell of answers as strings (a single string is one answer)."""
    if cell is None:
        return []
    if isinstance(cell, str):
        return [cell]
    if hasattr(cell, "tolist"):
        cell = cell.tolist()
    return [str(item) for item in cell] if isinstance(cell, list | tuple) else []


def most_frequent(answers: list[str]) -> str:
    """The answer given most often (the first of equals), for display as the target."""
    return Counter(answers).most_common(1)[0][0]


def local_images(table: Table, image_dir: str | None, task_dir: Path, label: str, hint: str) -> LocalImages:
    """Image lookup for an official JSON layout: explicit folders first, then the JSON's folder."""
    base = table.base_dir or Path(".")
    explicit = [base / folder for folder in IMAGE_FOLDERS]
    if image_dir is not None:
        given = Path(image_dir).expanduser()
        explicit.insert(0, given if given.is_absolute() else base / given)
    roots = [root for root in explicit if root.is_dir()]
    return LocalImages([*roots, base], bool(roots), label, hint)


@scenarios.register("textvqa")
class TextVQAScenario(Scenario):
    """Fields: ``hub_id``, ``split``, ``image_dir`` (official JSON: the folder of ``<image_id>.jpg``)."""

    hub_id: str = HUB_ID
    split: str = "validation"
    image_dir: str | None = None

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        table = read_table(
            context.data_path, default_hub_id=self.hub_id, split=self.split, task=context.task_name
        )
        table.require_columns("question_id", "question", "answers")
        official = "image" not in table.columns
        images = None
        if official:
            table.require_columns("image_id")
            hint = (
                f"{table.origin} holds the questions only; running a model needs the images "
                f"(<image_id>.jpg) in train_images/ beside it, scoring a predictions file does not"
            )
            images = local_images(table, self.image_dir, context.task_dir, "textvqa/", hint)
        for number, row in enumerate(table):
            sample_id = cell_text(row["question_id"])
            if sample_id is None:
                yield BadSample(f"row{number}", f"{table.origin} row {number}: no question_id")
                continue
            try:
                if images is not None:
                    image_id = cell_text(row["image_id"])
                    if image_id is None:
                        raise SampleError(sample_id, f"{table.origin}: no image_id")
                    image: ImageRef = images.find(f"{image_id}.jpg")
                else:
                    image = one_row_image(row, "image", table, sample_id)
                yield self._sample(sample_id, row, image, table.origin)
            except ImageNotFound as error:
                yield BadSample(sample_id, str(error))
            except SampleError as error:
                yield BadSample(sample_id, error.reason)

    @staticmethod
    def _sample(sample_id: str, row: dict[str, Any], image: ImageRef, origin: str) -> Sample:
        question = cell_text(row["question"])
        answers = answer_list(row["answers"])
        if question is None or not answers:
            raise SampleError(sample_id, f"{origin}: empty question or no answers")
        return Sample(
            id=sample_id,
            messages=[Message("user", (ImagePart(image), TextPart(question)))],
            target=most_frequent(answers),
            reference=AcceptedAnswers(answers=tuple(answers)),
            metadata={"question_capitalized": question.capitalize()},
        )
