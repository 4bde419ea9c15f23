"""A generic scenario for your own benchmark: one JSON object per line.

    {"id": "q1", "question": "Is the cat black?", "image": "img/cat.png", "answer": "yes",
     "choices": ["black", "white"], "category": ["animals", "colour"], "group": "cat"}

``image`` may also be a list of paths (several images, in order); paths are relative to the file
and must stay inside its folder: an absolute path, a ``../`` path or a symlink leading out of it
makes the line a bad sample, unless the task sets ``allow_outside_media: true`` on the scenario
(images are sent to the model's endpoint, so a task file must not pick any file on your disk).
A reference answer can be more than one string: ``"answers": ["2", "two"]`` (any of them is right;
``answer`` then defaults to the first), or a number with a tolerance: ``"answer": 3.5,
"tolerance": 0.1`` (absolute; with ``"relative": true`` a fraction of the answer).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from mmlens.core.errors import DataError, SampleError
from mmlens.core.jsonlines import json_lines
from mmlens.core.media import FileImage, file_problem
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.options import option_letters
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import AcceptedAnswers, BadSample, NumberWithTolerance, Reference, Sample
from mmlens.scenarios.local_images import inside_folder

RESERVED_KEYS = {"id", "question", "image", "answer", "answers", "tolerance", "relative", "choices"}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


@scenarios.register("jsonl")
class JsonlScenario(Scenario):
    """Fields: ``path`` (relative to the task file; ``--data`` overrides it), ``allow_outside_media``
    (image paths may lead outside the data file's folder; default false)."""

    id_scheme: ClassVar[str] = 'the "id" field of each line'
    path: str | None = None
    allow_outside_media: bool = False

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        source = context.data_path or self.path
        if source is None:
            raise DataError(f"task {context.task_name}: no data file; pass --data FILE.jsonl")
        file = Path(source) if context.data_path else context.task_dir / source
        if not file.is_file():
            raise DataError(f"task {context.task_name}: data file {file} does not exist")
        try:
            with file.open(encoding="utf-8") as handle:
                for line in json_lines(handle):
                    if line.error is not None:
                        yield BadSample(f"{file.name}:{line.number}", line.error)
                    elif not isinstance(line.value, dict):
                        yield BadSample(f"{file.name}:{line.number}", "expected a JSON object")
                    else:
                        yield self._sample(line.value, file, line.number)
        except UnicodeDecodeError as error:
            raise DataError(f"task {context.task_name}: {file} is not UTF-8 text ({error.reason})") from None

    def _sample(self, row: dict[str, Any], file: Path, number: int) -> Sample | BadSample:
        line_id = f"{file.name}:{number}"
        sample_id = str(row.get("id", line_id))
        missing = [key for key in ("id", "question") if key not in row]
        if missing:
            return BadSample(sample_id, f"{file}, line {number}: missing {', '.join(missing)}")
        if not _usable_id(row["id"]):
            return BadSample(line_id, f"{file}, line {number}: id {row['id']!r} is not a usable id")
        paths = _as_list(row.get("image"))
        if not all(isinstance(path, str) and path for path in paths):
            return BadSample(sample_id, f"{file}, line {number}: image must be a path or a list of paths")
        if not self.allow_outside_media:
            outside = next((path for path in paths if not inside_folder(file.parent, path)), None)
            if outside is not None:
                return BadSample(
                    sample_id,
                    f"{file}, line {number}: image {outside!r} is outside the data folder {file.parent} "
                    "(set allow_outside_media: true on the jsonl scenario to allow it)",
                )
        images = [FileImage(file.parent / path) for path in paths]
        problems = [problem for problem in (file_problem(image.path) for image in images) if problem]
        if problems:  # missing, a folder, a device or pipe such as /dev/zero, unreadable
            return BadSample(sample_id, problems[0])
        content: tuple[ImagePart | TextPart, ...] = (
            *(ImagePart(image) for image in images),
            TextPart(str(row["question"])),
        )
        try:
            reference = _reference(row)
        except ValueError as error:
            return BadSample(sample_id, f"{file}, line {number}: {error}")
        answer = row.get("answer")
        if answer is None and isinstance(reference, AcceptedAnswers):
            answer = reference.answers[0]
        choices = [str(c) for c in row["choices"]] if row.get("choices") else None
        letters = option_letters(choices, default="")
        if (
            choices
            and isinstance(answer, str)
            and len(answer) == 1
            and answer.isupper()
            and answer not in letters
        ):
            return BadSample(sample_id, f"{file}, line {number}: answer {answer!r} is not one of the options")
        return Sample(
            id=sample_id,
            messages=[Message("user", content)],
            target=None if answer is None else str(answer),
            choices=choices,
            category=tuple(str(c) for c in _as_list(row.get("category"))),
            group=None if row.get("group") is None else str(row["group"]),
            metadata={k: v for k, v in row.items() if k not in RESERVED_KEYS},
            reference=reference,
        )


def object_lines(
    file: Path, build: Callable[[str, dict[str, Any], str], Sample], id_field: str = "id"
) -> Iterator[Sample | BadSample]:
    """A benchmark's JSONL file, one sample per JSON object: ``build(sample_id, row, where)`` makes it
    (``where`` names the file and line for messages); a line that is not an object, or whose ``build``
    raises SampleError, is a bad sample. The id is the row's ``id_field``, else ``line<N>``."""
    with file.open(encoding="utf-8") as handle:
        for line in json_lines(handle):
            where = f"{file}, line {line.number}"
            if line.error is not None or not isinstance(line.value, dict):
                yield BadSample(f"line{line.number}", f"{where}: {line.error or 'expected a JSON object'}")
                continue
            sample_id = str(line.value.get(id_field, f"line{line.number}"))
            try:
                yield build(sample_id, line.value, where)
            except SampleError as error:
                yield BadSample(sample_id, error.reason)


def _usable_id(value: Any) -> bool:
    """A non-empty string or a number: a null, empty or structured id would merge or hide samples."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return math.isfinite(value)
    return isinstance(value, str) and value.strip() != ""


def _reference(row: dict[str, Any]) -> Reference | None:
    if "answers" in row:
        answers = row["answers"]
        usable = isinstance(answers, list) and all(isinstance(a, str | int | float) for a in answers)
        if not usable or not answers:
            raise ValueError('"answers" must be a non-empty list of strings')
        return AcceptedAnswers(answers=tuple(str(a) for a in answers))
    if "tolerance" in row:
        value, tolerance = row.get("answer"), row["tolerance"]
        if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in (value, tolerance)):
            raise ValueError('"answer" and "tolerance" must be numbers for a numeric reference')
        assert isinstance(value, int | float)
        relative = bool(row.get("relative", False))
        return NumberWithTolerance(value=value, tolerance=tolerance, relative=relative)
    return None
