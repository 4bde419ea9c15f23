"""MMDU (Liuziyu77/MMDU): 110 multi-turn dialogues over 2-20 images each.

Data (``--data PATH``): the official ``benchmark.json`` or the folder holding it (with the images
of ``mmdu_pics.zip`` unzipped beside it). The file is an object keyed by dialogue id, as the
official generators read it (``benchmarks.values()``); a list of the same records (how
``scores/prompt.py`` slices it) is read too. A record::

    {"id": "...", "image": ["mmdu_pics/a.jpg", ...],
     "conversations": [{"from": "user", "value": "Image1: <ImageHere>. ..."},
                       {"from": "assistant", "value": "reference answer"}, ...]}

An image path is looked up as given, then by its file name, under the scenario field ``images``,
the json's folder and ``mmdu_pics/`` beside it; a copy without any image folder loads for scoring
only.

One sample per dialogue, id = the record's ``id``. Its messages are the user turns in order; each
turn carries the images its ``<ImageHere>`` tags consume, in order (the official generators'
``pics_number`` counter), after the question text (``GPT4o_gen_ans.py``'s content order).
metadata ``references``: the reference answers, one per turn.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmlens.core.errors import DataError
from mmlens.core.media import AbsentImage, FileImage, ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample

OFFICIAL_FILE = "benchmark.json"
IMAGE_FOLDER = "mmdu_pics"
IMAGE_TAG = "<ImageHere>"


def official_file(data_path: str | None, task: str) -> Path:
    if data_path is None:
        raise DataError(f"task {task}: give --data: the official {OFFICIAL_FILE} or the folder holding it")
    path = Path(data_path).expanduser()
    if path.is_dir():
        path = path / OFFICIAL_FILE
    if not path.is_file():
        raise DataError(f"task {task}: {path} does not exist (expected the official {OFFICIAL_FILE})")
    return path


def read_dialogues(file: Path, task: str) -> list[Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"task {task}: cannot read {file}: {error}") from None
    if isinstance(data, dict):
        return list(data.values())
    if isinstance(data, list):
        return data
    raise DataError(f"task {task}: {file}: expected an object of dialogues keyed by id (the official file)")


class _Images:
    def __init__(self, roots: list[Path], has_images: bool) -> None:
        self.roots = roots
        self.has_images = has_images

    def find(self, name: str) -> ImageRef | None:
        for root in self.roots:
            for candidate in (root / name, root / Path(name).name):
                if candidate.is_file():
                    return FileImage(candidate)
        if self.has_images:
            return None
        return AbsentImage(
            "mmdu/" + name,
            "this copy holds benchmark.json only; running a model needs the images (mmdu_pics/)",
        )


def turn_images(questions: list[str], paths: list[str]) -> list[list[str]] | str:
    """The image paths each question's tags consume, in order, or why they cannot be."""
    used = 0
    per_turn: list[list[str]] = []
    for number, question in enumerate(questions, start=1):
        tags = question.count(IMAGE_TAG)
        if used + tags > len(paths):
            return (
                f"turn {number} has {tags} {IMAGE_TAG} tags; only {len(paths) - used} of the images are left"
            )
        per_turn.append(paths[used : used + tags])
        used += tags
    return per_turn


@scenarios.register("mmdu")
class MMDUScenario(Scenario):
    """Fields: ``images`` (a folder with the images, if not ``mmdu_pics/`` beside the json)."""

    images: str | None = None

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        file = official_file(context.data_path, context.task_name)
        roots = [file.parent / IMAGE_FOLDER, file.parent]
        if self.images is not None:
            given = Path(self.images).expanduser()
            roots.insert(0, given if given.is_absolute() else context.task_dir / given)
        images = _Images(roots, any(root.is_dir() for root in roots[:-1]))
        for index, record in enumerate(read_dialogues(file, context.task_name)):
            yield self._sample(index, record, images, file)

    @staticmethod
    def _sample(index: int, record: Any, images: _Images, file: Path) -> Sample | BadSample:
        if not isinstance(record, dict) or not isinstance(record.get("id"), str | int):
            return BadSample(f"#{index}", f"{file}, dialogue {index}: a record needs an id")
        sample_id = str(record["id"])
        where = f"{file}, dialogue {sample_id}"
        paths, conversations = record.get("image"), record.get("conversations")
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            return BadSample(sample_id, f"{where}: image must be a list of paths")
        if not isinstance(conversations, list) or not conversations or len(conversations) % 2:
            return BadSample(sample_id, f"{where}: conversations must alternate user and assistant turns")
        questions: list[str] = []
        references: list[str] = []
        for number, turn in enumerate(conversations):
            expected = "user" if number % 2 == 0 else "assistant"
            if (
                not isinstance(turn, dict)
                or turn.get("from") != expected
                or not isinstance(turn.get("value"), str)
            ):
                return BadSample(
                    sample_id,
                    f'{where}: conversation entry {number} must be {{"from": "{expected}", "value": text}}',
                )
            (questions if expected == "user" else references).append(turn["value"])
        per_turn = turn_images(questions, paths)
        if isinstance(per_turn, str):
            return BadSample(sample_id, f"{where}: {per_turn}")
        messages: list[Message] = []
        for question, names in zip(questions, per_turn, strict=True):
            parts: list[TextPart | ImagePart] = [TextPart(question)]
            for name in names:
                image = images.find(name)
                if image is None:
                    return BadSample(
                        sample_id, f"{where}: image file {name} not found (looked in {images.roots})"
                    )
                parts.append(ImagePart(image))
            messages.append(Message("user", tuple(parts)))
        used = sum(len(names) for names in per_turn)
        return Sample(
            id=sample_id,
            messages=messages,
            target=references[-1],
            metadata={"references": references, "images": list(paths), "unused_images": len(paths) - used},
        )
