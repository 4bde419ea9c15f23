"""MedRegA's test sets (HF ``Luxuriant16/MedRegInstruct``) in the InternVL conversation JSONL its
code reads: ``{"id", "image" (a path or a list), "conversations": [{"from": "human", "value":
"...<image>\\n..."}, {"from": "gpt", "value": REFERENCE}]}``.

``kind`` says which official evaluator scores the file:
- ``cls``: the reference is a class name of the dataset (several, comma-separated, for the
  multi-label datasets); the dataset is named as MedRegA names it, from the first two ``_`` pieces
  of the file name (``chexpert_test_cls.jsonl`` -> ``chexpert_test``) unless ``dataset`` is set.
- ``grounding`` (region-text-to-region, ``regt2r``; one or several regions and objects): the
  reference holds ``<ref>object</ref><box>[[x1, y1, x2, y2], ...]</box>`` pairs on MedRegA's
  0-999 grid.
- ``regr2t`` (region-to-text): the question names a region, the reference is free text.
- ``vqa``: the reference is a free-text answer (English sets; a ``zh`` set is refused).
Images are looked up relative to the JSONL's folder (or ``image_root``); a missing one is an
``AbsentImage`` (the question scores, a run is refused).
"""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

from mmlens.core.errors import DataError, SampleError
from mmlens.core.media import ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.jsonl import object_lines
from mmlens.scenarios.local_images import confined_image
from mmlens.tasks.medrega.classes import CLASS_LISTS, MULTILABEL

IMAGE_TOKEN = "<image>"
# evaluator_reg.py PATTERN_TARGET_RECAP: the reference's objects and their boxes
REFERENCE_BOXES = re.compile(r"<ref>(.*?)</ref><box>(.*?)</box>")


def dataset_of(file: Path) -> str:
    """evaluate_cls.py: ``'_'.join(os.path.split(ans_file)[-1].split('_')[0:2])``."""
    return "_".join(file.name.split("_")[0:2])


def reference_classes(reference: str) -> list[str]:
    """evaluator.py: strip trailing punctuation, ``", "`` -> ``","``, split on ``","`` (multi-label)."""
    return reference.rstrip(string.punctuation).replace(", ", ",").split(",")


def reference_regions(reference: str) -> list[tuple[str, list[list[float]]]]:
    """Each ``<ref>object</ref><box>[[..], ..]</box>``: the lower-cased object and its boxes."""
    return [
        (obj.lower(), [[float(value) for value in box] for box in ast.literal_eval(regions)])
        for obj, regions in REFERENCE_BOXES.findall(reference)
    ]


@scenarios.register("medrega")
class MedRegAScenario(Scenario):
    """Fields: ``kind`` (cls, grounding, vqa, regr2t), ``dataset`` (cls: the class list; default from the file
    name), ``image_root`` (relative to the JSONL's folder)."""

    id_scheme: ClassVar[str] = 'the "id" field of each line'
    kind: Literal["cls", "grounding", "vqa", "regr2t"] = "cls"
    dataset: str | None = None
    image_root: str = "."

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        if context.data_path is None:
            raise DataError(
                f"task {context.task_name}: give a MedRegInstruct test file (HF Luxuriant16/MedRegInstruct, "
                "InternVL conversation JSONL) with --data FILE.jsonl"
            )
        file = Path(context.data_path).expanduser()
        if not file.is_file():
            raise DataError(f"task {context.task_name}: data file {file} does not exist")
        dataset = self.dataset or dataset_of(file)
        if self.kind == "cls" and dataset not in CLASS_LISTS:
            raise DataError(
                f"task {context.task_name}: {file.name} names dataset {dataset!r}, which MedRegA's "
                f"classification evaluator does not know (known: {', '.join(sorted(CLASS_LISTS))}); "
                "name the file <dataset>_..., e.g. chexpert_test_cls.jsonl"
            )
        if self.kind == "vqa" and "zh" in dataset:
            raise DataError(
                f"task {context.task_name}: {file.name} is a Chinese set ({dataset!r}: 'zh' in its name), "
                "which MedRegA scores after jieba word segmentation; only the English VQA evaluator is here"
            )
        root = file.parent / self.image_root
        yield from object_lines(
            file, lambda sample_id, row, where: self._sample(sample_id, row, dataset, root, where)
        )

    def _image(self, sample_id: str, path: Any, root: Path, where: str) -> ImageRef:
        return confined_image(sample_id, path, root, where, f" (images go under {root})")

    def _sample(self, sample_id: str, row: dict[str, Any], dataset: str, root: Path, where: str) -> Sample:
        turns = row.get("conversations")
        human = next(
            (t.get("value") for t in turns or [] if isinstance(t, dict) and t.get("from") == "human"), None
        )
        gpt = next(
            (t.get("value") for t in turns or [] if isinstance(t, dict) and t.get("from") == "gpt"), None
        )
        if not isinstance(human, str) or not isinstance(gpt, str):
            raise SampleError(sample_id, f"{where}: conversations need a human and a gpt turn")
        image_field = row.get("image")
        paths: list[Any] = image_field if isinstance(image_field, list) else [image_field]
        images = [self._image(sample_id, path, root, where) for path in paths]
        metadata: dict[str, Any] = {"dataset": dataset}
        if self.kind == "cls":
            classes = CLASS_LISTS[dataset]
            gold = reference_classes(gpt)
            unknown = [name for name in gold if name not in classes]
            if unknown:  # the official evaluator stops here (list.index raises)
                raise SampleError(sample_id, f"{where}: {unknown[0]!r} is not a class of {dataset}")
            if dataset not in MULTILABEL and len(gold) != 1:
                raise SampleError(
                    sample_id, f"{where}: {dataset} is single-label, the reference names {gold}"
                )
            metadata["gold_classes"] = [classes.index(name) for name in gold]
        elif self.kind == "grounding":
            try:
                regions = reference_regions(gpt)
            except (ValueError, SyntaxError, TypeError):
                regions = []
            boxes = [box for _, group in regions for box in group]
            if not boxes or any(len(box) != 4 for box in boxes):
                raise SampleError(
                    sample_id, f"{where}: the reference has no <ref>...</ref><box>[[x1, y1, x2, y2]]</box>"
                )
            metadata["boxes"] = boxes
            metadata["regions"] = [[obj, group] for obj, group in regions]
        return Sample(
            id=sample_id,
            messages=[Message("user", interleave(human, images))],
            target=gpt,
            category=(dataset,),
            metadata=metadata,
        )


def interleave(text: str, images: list[ImageRef]) -> tuple[ImagePart | TextPart, ...]:
    """Each image at its ``<image>`` token (InternVL's placement); images first where the count differs."""
    pieces = text.split(IMAGE_TOKEN)
    if len(pieces) - 1 != len(images):
        return (*[ImagePart(image) for image in images], TextPart(text.replace(IMAGE_TOKEN, "").strip()))
    content: list[ImagePart | TextPart] = []
    for index, piece in enumerate(pieces):
        if piece.strip():
            content.append(TextPart(piece.strip()))
        if index < len(images):
            content.append(ImagePart(images[index]))
    return tuple(content)
