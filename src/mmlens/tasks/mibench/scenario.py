"""MIBench (StarBottle/MIBench): three task-family JSON files and an image folder.

Files: ``multi_image_instruction.json`` (MII), ``multimodal_knowledge_seeking.json`` (MKS),
``multimodal_in_context_learning.json`` (MIC); records ``{image: [paths], question (with <image>
tags), options: [texts], answer (an option text), task}``; image paths relative to the data folder.
``--data`` is that folder or one of the files. Sample id: the record's ``id`` when it has one, else
``<family>/<row>`` (row order of the file). The 13 sub-tasks are the ``task`` values.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmlens.core.errors import DataError, SampleError
from mmlens.core.media import AbsentImage, FileImage, ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.options import LETTERS
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample

FAMILIES = {
    "multi_image_instruction.json": "MII",
    "multimodal_knowledge_seeking.json": "MKS",
    "multimodal_in_context_learning.json": "MIC",
}
IMAGE_TAG = "<image>"


def interleave(question: str, images: list[ImageRef], sample_id: str) -> list[ImagePart | TextPart]:
    """Text and images in order: each ``<image>`` tag takes the next image; with no tags the images
    come first. A tag count that is neither 0 nor the image count is a bad sample."""
    pieces = question.split(IMAGE_TAG)
    tags = len(pieces) - 1
    if tags == 0:
        return [*[ImagePart(image) for image in images], TextPart(question)]
    if tags != len(images):
        raise SampleError(sample_id, f"{tags} {IMAGE_TAG} tags but {len(images)} images")
    parts: list[ImagePart | TextPart] = []
    for number, piece in enumerate(pieces):
        if piece:
            parts.append(TextPart(piece))
        if number < len(images):
            parts.append(ImagePart(images[number]))
    return parts


def options_block(options: list[str]) -> str:
    return "\n".join(f"{LETTERS[k]}. {text}" for k, text in enumerate(options))


@scenarios.register("mibench")
class MIBenchScenario(Scenario):
    id_scheme = 'the record\'s "id" when present, else "<MII|MKS|MIC>/<row>"'
    post_prompt: str = "\nAnswer with the option's letter from the given choices directly."

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        if context.data_path is None:
            raise DataError(
                f"{context.task_name}: give --data the MIBench folder (the three JSON files + images)"
            )
        path = Path(context.data_path)
        files = [path] if path.is_file() else [path / name for name in FAMILIES if (path / name).is_file()]
        if not files:
            raise DataError(f"{path}: none of {', '.join(FAMILIES)} found")
        for file in files:
            family = FAMILIES.get(file.name, file.stem)
            try:
                records = json.loads(file.read_text())
            except (OSError, json.JSONDecodeError) as error:
                raise DataError(f"{file}: cannot read it as JSON ({error})") from None
            if not isinstance(records, list):
                raise DataError(f"{file}: expected a JSON list of records")
            for row, record in enumerate(records):
                sample_id = (
                    str(record.get("id", f"{family}/{row}"))
                    if isinstance(record, dict)
                    else f"{family}/{row}"
                )
                try:
                    yield self._sample(sample_id, record, family, file)
                except SampleError as error:
                    yield BadSample(sample_id, f"{file} row {row}: {error.reason}")

    def _sample(self, sample_id: str, record: Any, family: str, file: Path) -> Sample:
        if not isinstance(record, dict) or any(
            k not in record for k in ("image", "question", "options", "answer")
        ):
            raise SampleError(sample_id, "needs the keys image, question, options, answer")
        options = [str(option) for option in record["options"]]
        answer = str(record["answer"])
        if answer not in options:
            raise SampleError(sample_id, f"answer {answer!r} is not one of the options")
        paths = record["image"] if isinstance(record["image"], list) else [record["image"]]
        images = [_image(file.parent / str(p)) for p in paths]
        question = str(record["question"]) + "\n" + options_block(options) + self.post_prompt
        task = str(record.get("task", "unknown"))
        return Sample(
            id=sample_id,
            messages=[Message("user", tuple(interleave(question, images, sample_id)))],
            target=LETTERS[options.index(answer)],
            choices=options,
            category=(family, task),
            metadata={"task": task, "family": family},
        )


def _image(path: Path) -> ImageRef:
    return (
        FileImage(path)
        if path.is_file()
        else AbsentImage(path.name, f"image {path} is not in the local copy")
    )
