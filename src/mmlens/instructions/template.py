"""The template instruction: the sample's media, then its text formatted into a template."""

from __future__ import annotations

import string
from typing import Any, Literal

from mmlens.core.errors import ConfigError
from mmlens.core.messages import ImagePart, Message, TextPart, VideoPart
from mmlens.core.options import LETTERS
from mmlens.core.parts import Instruction, instructions
from mmlens.core.sample import Sample


def format_options(choices: list[str] | None) -> str:
    return "\n".join(f"{LETTERS[i]}. {choice}" for i, choice in enumerate(choices or []))


def template_fields(sample: Sample) -> dict[str, Any]:
    return {
        **sample.metadata,
        "question": sample.question,
        "options": format_options(sample.choices),
        "letters": ", ".join(LETTERS[: len(sample.choices or [])]),
        "id": sample.id,
    }


@instructions.register("template")
class TemplateInstruction(Instruction):
    """Fields: {question}, {options} ("A. ..." one per line), {letters}, {id} and any metadata key.

    With the default template the sample's messages are passed through unchanged (interleaved
    image-text content keeps its order).
    """

    template: str = "{question}"
    system: str | None = None
    media: Literal["before", "after"] = "before"

    def model_post_init(self, __context: object) -> None:
        try:
            list(string.Formatter().parse(self.template))
        except ValueError as error:
            raise ConfigError(f"instruction.template: {error}") from None

    def build(self, sample: Sample) -> list[Message]:
        prefix = [Message.system(self.system)] if self.system else []
        if self.template == "{question}":
            return prefix + list(sample.messages)
        try:
            text = self.template.format_map(template_fields(sample))
        except KeyError as error:
            raise ConfigError(
                f"instruction.template uses {{{error.args[0]}}}, which sample {sample.id!r} does not have"
            ) from None
        media = [
            part
            for message in sample.messages
            for part in message.content
            if isinstance(part, ImagePart | VideoPart)
        ]
        content: list[ImagePart | VideoPart | TextPart] = (
            [*media, TextPart(text)] if self.media == "before" else [TextPart(text), *media]
        )
        return [*prefix, Message("user", tuple(content))]
