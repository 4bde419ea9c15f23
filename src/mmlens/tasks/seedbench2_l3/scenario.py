"""SEED-Bench-2 level L3 (dimensions 25-27): questions whose options are images.

Official JSON (``SEED-Bench_v2_level1_2_3.json``, ``level: "L3"``): ``data_id`` lists the images,
the *last four* being the options A-D and any before them the question's (dimension 26, Next Image
Prediction: three frames); ``choice_a``-``choice_d`` are the option images' file names (25, 26)
or option texts, each paired with its image (27, Text-Image Creation). A parquet copy with an
``image`` column (a list, in ``data_id`` order) reads the same.

The sample shows what lmms-eval's ``seedbench_2`` shows (the only maintained implementation that
asks L3): the question's images, the question, then ``A.`` ... ``D.`` each followed by its option
image (25, 26); for 27 the four images first, then the question and the option texts (lmms-eval
gives the images without placing them). ``metadata["question_images"]`` counts the question's
images, so the ranking inferencer finds the option images after them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from mmlens.core.errors import SampleError
from mmlens.core.media import FileImage, ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.tables import Table, cell_text, find_file, read_table, row_images

L3_DIMENSIONS = {25: "Text-to-Image Generation", 26: "Next Image Prediction", 27: "Text-Image Creation"}
IMAGE_OPTION_DIMENSIONS = frozenset({25, 26})  # option texts are file names
POST_PROMPT = "Answer with the option's letter from the given choices directly."


def _type_id(row: dict[str, Any]) -> int | None:
    text = cell_text(row.get("question_type_id"))
    return int(text) if text is not None and text.isdigit() else None


@scenarios.register("seedbench2_l3")
class SeedBench2L3Scenario(Scenario):
    """Fields: ``hub_id``, ``split``, ``dimensions`` (of 25, 26, 27), ``image_dirs`` (official
    JSON: folders relative to it holding ``task25/...``), ``post_prompt``."""

    id_scheme: ClassVar[str] = 'the "question_id" column (e.g. "25_0")'
    hub_id: str = "lmms-lab/SEED-Bench-2"
    split: str = "test"
    dimensions: list[int] = [25, 26, 27]
    image_dirs: list[str] = ["SEED-Bench-2-image", "."]
    post_prompt: str = POST_PROMPT

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        table = read_table(
            context.data_path, default_hub_id=self.hub_id, split=self.split, task=context.task_name
        )
        table.require_columns("question_id", "question", "answer", "question_type_id")
        for number, row in enumerate(table):
            if _type_id(row) not in self.dimensions or _type_id(row) not in L3_DIMENSIONS:
                continue
            sample_id = cell_text(row["question_id"])
            if sample_id is None:
                yield BadSample(f"row{number}", f"{table.origin} row {number}: no question_id")
                continue
            try:
                yield self._sample(sample_id, row, table)
            except SampleError as error:
                yield BadSample(sample_id, error.reason)

    def _images(self, sample_id: str, row: dict[str, Any], table: Table) -> list[ImageRef]:
        if row.get("image") is not None:
            return row_images(row, "image", table, sample_id)
        data_id = row.get("data_id")
        names = data_id if isinstance(data_id, list) else [data_id] if data_id else []
        roots = [(table.base_dir or Path(".")) / folder for folder in self.image_dirs]
        images: list[ImageRef] = []
        for name in names:
            path = find_file(str(name), roots)
            if path is None:
                raise SampleError(sample_id, f"{table.origin}: image {name!r} not found under {roots[0]}")
            images.append(FileImage(path))
        return images

    def _sample(self, sample_id: str, row: dict[str, Any], table: Table) -> Sample:
        dimension = _type_id(row) or 0
        question, answer = cell_text(row["question"]), cell_text(row["answer"])
        choices = [cell_text(row.get(f"choice_{letter}")) for letter in "abcd"]
        if question is None or answer is None or answer.strip() not in "ABCD" or None in choices:
            raise SampleError(sample_id, f"{table.origin}: no question, four choices or an answer A-D")
        images = self._images(sample_id, row, table)
        if len(images) < 4:
            raise SampleError(sample_id, f"{table.origin}: {len(images)} images; L3 needs one per option (4)")
        asked, options = images[:-4], images[-4:]
        texts = [choice for choice in choices if choice is not None]
        content: list[ImagePart | TextPart] = [ImagePart(image) for image in asked]
        if dimension in IMAGE_OPTION_DIMENSIONS:
            content.append(TextPart(f"{question}\n"))
            for letter, image in zip("ABCD", options, strict=True):
                content += [TextPart(f"{letter}. "), ImagePart(image), TextPart("\n")]
            content.append(TextPart(self.post_prompt))
        else:
            lines = "\n".join(f"{letter}. {text}" for letter, text in zip("ABCD", texts, strict=True))
            content = [*content, *[ImagePart(image) for image in options]]
            content.append(TextPart(f"{question}\n{lines}\n{self.post_prompt}"))
        return Sample(
            id=sample_id,
            messages=[Message("user", tuple(content))],
            target=answer.strip(),
            choices=texts,
            category=(L3_DIMENSIONS[dimension],),
            metadata={"question_images": len(asked), "question_text": question, "dimension": dimension},
        )
