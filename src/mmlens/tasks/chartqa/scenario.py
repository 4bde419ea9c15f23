"""ChartQA (Masry et al., 2022), test: 1,250 human-written and 1,250 machine-generated (augmented)
questions about charts.

Data (``--data PATH``), in either published format:

- the official files (vis-nlp/ChartQA, ``ChartQA Dataset/test/``): a folder with ``test_human.json``
  and ``test_augmented.json`` (directly or in ``test/``), each a JSON list of
  ``{imgname, query, label}``; images ``png/<imgname>`` beside them (or the scenario field
  ``image_dir``). Without the image folder the questions load for scoring only.
- the Hugging Face dataset ``lmms-lab/ChartQA`` (split ``test``; the default without ``--data``):
  ``type`` (``human_test`` / ``augmented_test``), ``question``, ``answer``, ``image``, as parquet
  or ``save_to_disk``.

The files have no question id: a sample is ``<split>/<row>``, row = the 0-based position of the
question in its file (for the hub copy: among the rows of its ``type``, in file order), e.g.
``human/0``, ``augmented/1249``. Category (split,).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmlens.core.errors import DataError, SampleError
from mmlens.core.media import ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.local_images import ImageNotFound, LocalImages
from mmlens.scenarios.tables import cell_text, one_row_image, read_table

SPLITS: tuple[str, ...] = ("human", "augmented")
HUB_TYPES = {"human_test": "human", "augmented_test": "augmented"}


@scenarios.register("chartqa")
class ChartQAScenario(Scenario):
    """Fields: ``hub_id``, ``split`` (hub split, ``test``), ``image_dir`` (official files: ``png/``)."""

    hub_id: str = "lmms-lab/ChartQA"
    split: str = "test"
    image_dir: str | None = None

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        files = self._official_files(context)
        if files is None:
            yield from self._load_table(context)
            return
        for split, file in files.items():
            yield from self._load_official(split, file, context)

    def _official_files(self, context: LoadContext) -> dict[str, Path] | None:
        if context.data_path is None:
            return None
        source = Path(context.data_path).expanduser()
        if not source.is_dir():
            return None
        for folder in (source, source / "test"):
            found = {split: folder / f"test_{split}.json" for split in SPLITS}
            present: dict[str, Path] = {split: file for split, file in found.items() if file.is_file()}
            if present and len(present) < len(found):
                missing = ", ".join(str(found[s]) for s in found if s not in present)
                raise DataError(f"task {context.task_name}: {missing} does not exist")
            if present:
                return present
        return None

    def _images(self, folder: Path, context: LoadContext) -> LocalImages:
        explicit = [folder / "png"]
        if self.image_dir is not None:
            given = Path(self.image_dir).expanduser()
            explicit.insert(0, given if given.is_absolute() else folder / given)
        roots = [root for root in explicit if root.is_dir()]
        hint = (
            f"{folder} holds the questions only; running a model needs the chart images in "
            f"{folder}/png/, scoring a predictions file does not"
        )
        return LocalImages([*roots, folder], bool(roots), "chartqa/", hint)

    def _load_official(self, split: str, file: Path, context: LoadContext) -> Iterator[Sample | BadSample]:
        table = read_table(file, default_hub_id=self.hub_id, split=self.split, task=context.task_name)
        table.require_columns("imgname", "query", "label")
        images = self._images(file.parent, context)
        for number, row in enumerate(table):
            sample_id = f"{split}/{number}"
            try:
                name = cell_text(row["imgname"])
                if name is None:
                    raise SampleError(sample_id, f"{table.origin} row {number}: no imgname")
                yield _sample(sample_id, split, row["query"], row["label"], images.find(name), table.origin)
            except ImageNotFound as error:
                yield BadSample(sample_id, str(error))
            except SampleError as error:
                yield BadSample(sample_id, error.reason)

    def _load_table(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        table = read_table(
            context.data_path, default_hub_id=self.hub_id, split=self.split, task=context.task_name
        )
        table.require_columns("type", "question", "answer", "image")
        rows: dict[str, int] = dict.fromkeys(SPLITS, 0)
        for number, row in enumerate(table):
            split = HUB_TYPES.get(str(row["type"]))
            if split is None:
                yield BadSample(f"row{number}", f"{table.origin} row {number}: unknown type {row['type']!r}")
                continue
            sample_id = f"{split}/{rows[split]}"
            rows[split] += 1
            try:
                image = one_row_image(row, "image", table, sample_id)
                yield _sample(sample_id, split, row["question"], row["answer"], image, table.origin)
            except SampleError as error:
                yield BadSample(sample_id, error.reason)


def _sample(sample_id: str, split: str, query: Any, label: Any, image: ImageRef, origin: str) -> Sample:
    question = cell_text(query)
    if question is None or label is None:
        raise SampleError(sample_id, f"{origin}: no question or label")
    # the label as the file holds it: the scorer compares strings (a number label is its str())
    answer = label if isinstance(label, str) else str(label)
    return Sample(
        id=sample_id,
        messages=[Message("user", (ImagePart(image), TextPart(question)))],
        target=answer,
        category=(split,),
        metadata={"split": split},
    )
