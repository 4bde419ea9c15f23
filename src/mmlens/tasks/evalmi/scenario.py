"""EvalMi-50K (IntMeGroup/LMM4LMM, HF ``IntMeGroup/EvalMi-50K``): AI-generated images with human
mean opinion scores (perception ``mos1``, text-image correspondence ``mos2``) and task-specific
yes/no questions (``qa``).

Data (``--data PATH``): one of the 5-fold annotation files, ``test_AIGI_{mos1,mos2,qa}_fold_k.jsonl``,
or the folder holding them (the task's ``annotation`` and ``fold`` pick the file). A line is the
InternVL fine-tuning format the official loader reads: ``{"image": "<file>", "conversations":
[{"from": "human", "value": "<image>\\n..."}, {"from": "gpt", "value": "..."}], "mos": 3.2}``.
Images are looked up in ``images`` (a scenario field), then beside the file and one folder up;
without them the lines load for scoring only. Sample id: the image file name (mos files), or
``<image>/<k>`` with k = the line's order among that image's lines, from 0 (qa files).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from mmlens.core.errors import DataError
from mmlens.core.jsonlines import json_lines
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.local_images import ImageNotFound, LocalImages

IMAGE_TOKEN = "<image>"
Annotation = Literal["mos1", "mos2", "qa"]


def annotation_file(mode: str, fold: int) -> str:
    return f"test_AIGI_{mode}_fold_{fold}.jsonl"


@scenarios.register("evalmi")
class EvalMiScenario(Scenario):
    """Fields: ``annotation`` (mos1, mos2, qa), ``fold`` (1-5), ``images`` (the image folder)."""

    annotation: Annotation = "mos1"
    fold: int = Field(1, ge=1, le=5)
    images: str | None = None

    def _file(self, context: LoadContext) -> Path:
        name = annotation_file(self.annotation, self.fold)
        if context.data_path is None:
            raise DataError(f"task {context.task_name}: give --data: {name} or the folder holding it")
        path = Path(context.data_path).expanduser()
        if path.is_dir():
            path = path / name
        if not path.is_file():
            raise DataError(f"task {context.task_name}: {path} does not exist")
        return path

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        file = self._file(context)
        roots = [file.parent, file.parent.parent]
        if self.images is not None:
            given = Path(self.images).expanduser()
            roots.insert(0, given if given.is_absolute() else context.task_dir / given)
        images = LocalImages(
            roots,
            self.images is not None,
            "evalmi/",
            f"{file} holds the annotations only; a model needs the images",
        )
        counts: dict[str, int] = {}
        with file.open(encoding="utf-8") as handle:
            lines = list(json_lines(handle))
        for line in lines:
            where = f"{file}, line {line.number}"
            if line.error is not None:
                raise DataError(f"{where}: {line.error}")
            yield self._sample(line.value, where, images, counts)

    def _sample(
        self, item: Any, where: str, images: LocalImages, counts: dict[str, int]
    ) -> Sample | BadSample:
        if not isinstance(item, dict) or not isinstance(item.get("image"), str):
            return BadSample(where, f"{where}: expected an object with an image file name")
        name = item["image"]
        conversations = item.get("conversations")
        if (
            not isinstance(conversations, list)
            or len(conversations) < 2
            or not all(
                isinstance(turn, dict) and isinstance(turn.get("value"), str) for turn in conversations[:2]
            )
        ):
            return BadSample(name, f"{where}: conversations must hold the question and the answer")
        k = counts.get(name, 0)
        counts[name] = k + 1
        sample_id = f"{name}/{k}" if self.annotation == "qa" else (name if k == 0 else f"{name}/{k}")
        try:
            mos = float(item["mos"]) if self.annotation != "qa" else None
        except (KeyError, TypeError, ValueError):
            return BadSample(sample_id, f"{where}: mos must be a number")
        try:
            image = images.find(name)
        except ImageNotFound as error:
            return BadSample(sample_id, f"{where}: {error}")
        question = conversations[0]["value"].replace(IMAGE_TOKEN, "").strip()
        answer = conversations[1]["value"]
        return Sample(
            id=sample_id,
            messages=[Message("user", (ImagePart(image), TextPart(question)))],
            target=answer if mos is None else repr(mos),
            metadata={"image": name, "mos": mos, "answer": answer},
        )
