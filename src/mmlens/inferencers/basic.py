"""Built-in one-round inferencers: free generation, and generation without media."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mmlens.core.messages import Message
from mmlens.core.parts import Inferencer, inferencers
from mmlens.core.requests import GenerationSettings, Request
from mmlens.core.sample import Sample


@inferencers.register("generate")
class Generate(Inferencer):
    """One generation request per sample."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # Keyword arguments of the model's chat template (e.g. {enable_thinking: false}; --gen-args).
    chat_template_kwargs: dict[str, Any] = Field(default_factory=dict)

    def settings(self) -> GenerationSettings:
        return GenerationSettings(
            self.max_new_tokens,
            self.temperature,
            self.top_p,
            self.stop,
            self.seed,
            tuple(sorted(self.chat_template_kwargs.items())),
        )

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        return [Request("generate", tuple(messages), self.settings())]


@inferencers.register("blind")
class GenerateWithoutMedia(Generate):
    """The same question without its images or video: measures what the text alone gives away."""

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        return [Request("generate", tuple(m.without_media() for m in messages), self.settings())]
