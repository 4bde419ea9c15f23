"""MME-SCI (JCruan519/MME-SCI, HF ``JCruan/MME-SCI``): 1,019 science questions (math, physics,
chemistry, biology) in five languages plus an image-only mode (the question as a screenshot).

Data (``--data PATH``): the ``meta_data/`` folder holding ``mmesci_1019_{img,zh,en,fr,es,ja}.parquet``
(the file for the task's ``mode`` is read), or that parquet file itself. Columns: ``id`` (the
sample id, shared across languages), ``question`` (with ``<image_n>`` tags), ``options`` (a list or
null), ``answer``, ``course``, ``knowledge-source``, ``image_1`` ... ``image_5`` (base64 PNG or
null); the ``img`` file has one ``image`` column (the screenshot).

Messages as ``utils.get_message`` builds them: text modes: the question and the first four options
(``"A. opt"``) joined by ``"\\n"``, split at ``<image_\\d+>``; each non-blank fragment (stripped), then
``image_{i+1}`` after fragment i when it is not null (images by position, not by tag number); a
question without ``image_1`` is text only. Image mode: the screenshot alone. Then the mode's answer
instruction as a separate text part (``--w_eval_prompt``, set by the official run script).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, Literal

from mmlens.core.errors import DataError
from mmlens.core.media import BytesImage, ImageRef
from mmlens.core.messages import ContentPart, ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.tables import cell_text, read_table

Mode = Literal["image", "zh", "en", "fr", "es", "ja"]
PROMPTS_FILE = Path(__file__).resolve().parent / "answer_prompts.json"
IMAGE_FIELDS = ("image_1", "image_2", "image_3", "image_4", "image_5")
OPTION_PREFIXES = ("A", "B", "C", "D")
IMAGE_TAG = re.compile(r"<image_\d+>")


@cache
def answer_prompts() -> dict[str, str]:
    return json.loads(PROMPTS_FILE.read_text(encoding="utf-8"))


def file_name(mode: str) -> str:
    return f"mmesci_1019_{'img' if mode == 'image' else mode}.parquet"


def option_list(value: Any) -> list[str]:
    """The options as published (a list, an array or null)."""
    if value is None or isinstance(value, str | bytes):
        return [] if not value else [str(value)]
    try:
        return [str(option) for option in list(value)]
    except TypeError:
        return []


def question_lines(question: str, options: list[str]) -> list[str]:
    return [question, *(f"{p}. {o}" for p, o in zip(OPTION_PREFIXES, options, strict=False))]


def raw_question_and_options(question: str, options: list[str]) -> str:
    """``get_raw_question_and_options``: the question and options joined by spaces (the judge's)."""
    return " ".join(question_lines(question, options))


def _image(value: Any, label: str) -> ImageRef | None:
    if isinstance(value, ImageRef):  # the table reader decodes an "image" column itself
        return value
    if value is None or (isinstance(value, str) and not value):
        return None
    try:
        data = base64.b64decode(value) if isinstance(value, str) else bytes(value)
    except (binascii.Error, ValueError, TypeError) as error:
        raise ValueError(f"{label} is not base64 image data ({error})") from None
    return BytesImage(data, label)


def text_mode_content(question: str, options: list[str], images: list[ImageRef | None]) -> list[ContentPart]:
    """``get_message`` for the ``image_text_*`` modes."""
    text = "\n".join(question_lines(question, options))
    if images[0] is None:
        return [TextPart(text)]
    content: list[ContentPart] = []
    for index, fragment in enumerate(IMAGE_TAG.split(text)):
        if fragment.strip():
            content.append(TextPart(fragment.strip()))
        if index < len(IMAGE_FIELDS) and images[index] is not None:
            content.append(ImagePart(images[index]))  # type: ignore[arg-type]
    return content


@scenarios.register("mme_sci")
class MMESciScenario(Scenario):
    """Fields: ``mode`` (image, zh, en, fr, es, ja), ``answer_prompt`` (append the mode's answer
    instruction, as the official run script does)."""

    mode: Mode = "en"
    answer_prompt: bool = True

    def _file(self, context: LoadContext) -> Path:
        if context.data_path is None:
            raise DataError(
                f"task {context.task_name}: give --data: the MME-SCI meta_data/ folder "
                f"or {file_name(self.mode)}"
            )
        path = Path(context.data_path).expanduser()
        if path.is_dir():
            path = path / file_name(self.mode)
        if not path.is_file():
            raise DataError(f"task {context.task_name}: {path} does not exist (mode {self.mode} reads it)")
        return path

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        file = self._file(context)
        table = read_table(file, default_hub_id="JCruan/MME-SCI", split="", task=context.task_name)
        table.require_columns("id", "question", "answer", "course")
        for number, row in enumerate(table):
            yield self._sample(row, f"{file} row {number}")

    def _sample(self, row: dict[str, Any], where: str) -> Sample | BadSample:
        sample_id = cell_text(row.get("id"))
        if sample_id is None:
            return BadSample(where, f"{where}: no id")
        question = cell_text(row.get("question")) or ""
        options = option_list(row.get("options"))
        try:
            if self.mode == "image":
                screenshot = _image(row.get("image"), f"mme_sci/{sample_id}/image")
                if screenshot is None:
                    return BadSample(
                        sample_id, f"{where}: the image mode needs the screenshot column 'image'"
                    )
                content: list[ContentPart] = [ImagePart(screenshot)]
            else:
                images = [_image(row.get(name), f"mme_sci/{sample_id}/{name}") for name in IMAGE_FIELDS]
                content = text_mode_content(question, options, images)
        except ValueError as error:
            return BadSample(sample_id, f"{where}: {error}")
        if self.answer_prompt:
            content.append(TextPart(answer_prompts()[self.mode]))
        answer = row.get("answer")
        course = cell_text(row.get("course")) or ""
        return Sample(
            id=sample_id,
            messages=[Message("user", tuple(content))],
            target=str(answer),
            category=(course,),
            metadata={
                "course": course,
                "knowledge_source": cell_text(row.get("knowledge-source")) or "NONE",
                "raw_question_and_options": raw_question_and_options(question, options),
            },
        )
