"""A benchmark sample, as a Scenario yields it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmlens.core.media import ImageRef
from mmlens.core.messages import Message, all_images


@dataclass
class Sample:
    """One question of a benchmark.

    id: unique within a task (documented per task; it is what a predictions file refers to).
    messages: the question as the benchmark publishes it (text and media); an Instruction turns
        it into what the model sees.
    choices: option texts for multiple-choice questions, in the order shown (A, B, ...).
    target: the reference answer (an option letter, "yes"/"no", a number, ...).
    category: the path used for breakdowns, outermost first (e.g. ("perception", "color")).
    group: a key shared by questions that are scored together (MME image pairs, MMR pairs,
        circular rotations of one MMBench question).
    """

    id: str
    messages: list[Message]
    target: str | None = None
    choices: list[str] | None = None
    category: tuple[str, ...] = ()
    group: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def question(self) -> str:
        return "\n".join(m.text for m in self.messages if m.role == "user")

    @property
    def images(self) -> list[ImageRef]:
        return all_images(self.messages)

    def canonical(self) -> dict[str, Any]:
        """Everything that defines the sample's content, for the dataset fingerprint."""
        return {
            "id": self.id,
            "messages": [m.canonical() for m in self.messages],
            "target": self.target,
            "choices": self.choices,
            "category": list(self.category),
            "group": self.group,
        }


@dataclass(frozen=True)
class BadSample:
    """A row a Scenario could not turn into a Sample; reported by id and counted, never dropped silently."""

    id: str
    reason: str
