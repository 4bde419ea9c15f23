"""LLaVA-Bench (In-the-Wild) (HF ``liuhaotian/llava-bench-in-the-wild``): 60 questions on 24 images,
categories conv / detail / complex, each with a GPT-4 reference answer and an image description.

Data (``--data FOLDER``): the published folder: ``questions.jsonl`` (``question_id``, ``image``,
``text``, ``category``), ``context.jsonl`` (``image``, ``caption``), ``answers_gpt4.jsonl``
(``question_id``, ``text``: the reference answer) and ``images/``. Without ``images/`` the questions
load for scoring only.

Sample id: ``question_id`` as text (``"0"`` ... ``"59"``). target: the GPT-4 answer. metadata:
``caption`` (as published: a list of lines or a string), ``category``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmlens.core.errors import DataError
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.local_images import ImageNotFound, LocalImages

FILES = ("questions.jsonl", "context.jsonl", "answers_gpt4.jsonl")
CATEGORIES = ("conv", "detail", "complex")


def read_jsonl(path: Path, task: str) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataError(f"task {task}: {path} does not exist (the folder needs {', '.join(FILES)})")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"task {task}: {path}, line {number}: not JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"task {task}: {path}, line {number}: expected an object")
        rows.append(row)
    return rows


@scenarios.register("llava_bench")
class LlavaBenchScenario(Scenario):
    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        if context.data_path is None:
            raise DataError(
                f"task {context.task_name}: give --data: the llava-bench-in-the-wild folder "
                f"({', '.join(FILES)})"
            )
        root = Path(context.data_path).expanduser()
        if root.is_file():
            root = root.parent
        questions, contexts, answers = (read_jsonl(root / name, context.task_name) for name in FILES)
        captions = {str(row.get("image")): row.get("caption") for row in contexts}
        references = {str(row.get("question_id")): row.get("text") for row in answers}
        images = LocalImages(
            [root / "images", root],
            (root / "images").is_dir(),
            "llava_bench/",
            f"{root} holds the questions only; running a model needs its images/ folder",
        )
        for number, row in enumerate(questions, start=1):
            yield self._sample(row, f"{root / FILES[0]}, line {number}", captions, references, images)

    @staticmethod
    def _sample(
        row: dict[str, Any],
        where: str,
        captions: dict[str, Any],
        references: dict[str, Any],
        images: LocalImages,
    ) -> Sample | BadSample:
        sample_id = str(row.get("question_id"))
        image, text, category = row.get("image"), row.get("text"), row.get("category")
        if not isinstance(image, str) or not isinstance(text, str) or category not in CATEGORIES:
            return BadSample(
                sample_id, f"{where}: needs image, text and a category ({', '.join(CATEGORIES)})"
            )
        if image not in captions:
            return BadSample(sample_id, f"{where}: image {image} has no caption in context.jsonl")
        reference = references.get(sample_id)
        if not isinstance(reference, str):
            return BadSample(sample_id, f"{where}: question {sample_id} has no answer in answers_gpt4.jsonl")
        try:
            picture = images.find(image)
        except ImageNotFound as error:
            return BadSample(sample_id, str(error))
        return Sample(
            id=sample_id,
            messages=[Message("user", (ImagePart(picture), TextPart(text)))],
            target=reference,
            category=(str(category),),
            metadata={"caption": captions[image], "category": category, "image": image},
        )
