"""DocVQA (Mathew et al., 2021), validation: 5,349 questions on document pages; InfographicVQA shares
the layout (``mmlens.tasks.infovqa`` subclasses this scenario).

Data (``--data PATH``), in either published format:

- the official ``val_v1.0_withQT.json`` (``{"dataset_name": "docvqa", ..., "data": [{questionId,
  question, question_types, image ("documents/<file>.png"), docId, answers, ...}]}``); images at
  the ``image`` path relative to the JSON (or under the scenario field ``image_dir``). Without a
  ``documents/`` folder the questions load for scoring only.
- the Hugging Face dataset ``lmms-lab/DocVQA``, config ``DocVQA``, split ``validation`` (the default
  without ``--data``): the same columns with ``image`` holding the page, as parquet (the hub's
  ``DocVQA/validation-*.parquet``) or ``save_to_disk``.

Sample id: the ``questionId`` (``"57344"``). Reference: the answers as AcceptedAnswers (``target``
shows the first). The type columns (``question_types``) are kept for the breakdown.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from mmlens.core.errors import SampleError
from mmlens.core.media import ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import AcceptedAnswers, BadSample, Sample
from mmlens.scenarios.local_images import ImageNotFound, LocalImages
from mmlens.scenarios.tables import Table, cell_text, read_table, row_images


def string_list(cell: Any) -> list[str]:
    """A list/array cell as strings (a single string is a list of one; missing is empty)."""
    if cell is None:
        return []
    if isinstance(cell, str):
        return [cell]
    if hasattr(cell, "tolist"):
        cell = cell.tolist()
    return [str(item) for item in cell] if isinstance(cell, list | tuple) else []


@scenarios.register("docvqa")
class DocVQAScenario(Scenario):
    """Fields: ``hub_id``, ``config``, ``split``, ``image_dir`` (official JSON: where the images are)."""

    hub_id: str = "lmms-lab/DocVQA"
    config: str = "DocVQA"
    split: str = "validation"
    image_dir: str | None = None

    # The official JSON's image name column and the image folder that tells a copy holds images.
    image_name_column: ClassVar[str] = "image"
    image_folder: ClassVar[str] = "documents"
    type_columns: ClassVar[tuple[str, ...]] = ("question_types",)
    label: ClassVar[str] = "docvqa/"

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        table = read_table(
            context.data_path,
            default_hub_id=self.hub_id,
            split=self.split,
            task=context.task_name,
            config=self.config,
        )
        table.require_columns("questionId", "question", "answers")
        if "image" not in table.columns:
            table.require_columns(self.image_name_column)
        images = self._local_images(table)
        for number, row in enumerate(table):
            sample_id = cell_text(row["questionId"])
            if sample_id is None:
                yield BadSample(f"row{number}", f"{table.origin} row {number}: no questionId")
                continue
            try:
                yield self._sample(sample_id, row, self._image(sample_id, row, images, table), table.origin)
            except ImageNotFound as error:
                yield BadSample(sample_id, str(error))
            except SampleError as error:
                yield BadSample(sample_id, error.reason)

    def _local_images(self, table: Table) -> LocalImages:
        base = table.base_dir or Path(".")
        explicit = [base / self.image_folder, base / "images"]
        if self.image_dir is not None:
            given = Path(self.image_dir).expanduser()
            explicit.insert(0, given if given.is_absolute() else base / given)
        roots = [root for root in explicit if root.is_dir()]
        hint = (
            f"{table.origin} holds the questions only; running a model needs the images "
            f"({self.image_folder}/ beside it), scoring a predictions file does not"
        )
        return LocalImages([*roots, base], bool(roots), self.label, hint)

    def _image(self, sample_id: str, row: dict[str, Any], images: LocalImages, table: Table) -> ImageRef:
        cell = row.get("image")
        if isinstance(cell, ImageRef):
            return row_images(row, "image", table, sample_id)[0]
        name = cell_text(cell) if isinstance(cell, str) else cell_text(row.get(self.image_name_column))
        if name is None:
            raise SampleError(sample_id, f"{table.origin}: no image")
        return images.find(name)

    def _sample(self, sample_id: str, row: dict[str, Any], image: ImageRef, origin: str) -> Sample:
        question = cell_text(row["question"])
        answers = string_list(row["answers"])
        if question is None or not answers:
            raise SampleError(sample_id, f"{origin}: empty question or no answers")
        types = {
            column: string_list(row.get(column))
            for column in self.type_columns
            if row.get(column) is not None
        }
        return Sample(
            id=sample_id,
            messages=[Message("user", (ImagePart(image), TextPart(question)))],
            target=answers[0],
            reference=AcceptedAnswers(answers=tuple(answers)),
            metadata={"types": types} if types else {},
        )
