"""A benchmark sample, as a Scenario yields it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from mmlens.core.media import ImageRef
from mmlens.core.messages import Message, all_images


class _Reference(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AcceptedAnswers(_Reference):
    """Several strings, any of which is right (VQA's ten human answers, aliases)."""

    kind: Literal["answers"] = "answers"
    answers: tuple[str, ...]


class NumberWithTolerance(_Reference):
    """A number; ``tolerance`` is absolute, or a fraction of the value when ``relative``."""

    kind: Literal["number"] = "number"
    value: float
    tolerance: float = 0.0
    relative: bool = False

    def accepts(self, number: float) -> bool:
        bound = self.tolerance * abs(self.value) if self.relative else self.tolerance
        return abs(number - self.value) <= bound


class Box(_Reference):
    """A bounding box (x1, y1, x2, y2) in the image's pixel or normalised coordinates."""

    kind: Literal["box"] = "box"
    x1: float
    y1: float
    x2: float
    y2: float
    normalized: bool = False


Reference = AcceptedAnswers | NumberWithTolerance | Box


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
    reference: a structured reference where one string is not enough (a list of accepted
        answers, a number with a tolerance, a box); ``target`` then holds its display form.
    """

    id: str
    messages: list[Message]
    target: str | None = None
    choices: list[str] | None = None
    category: tuple[str, ...] = ()
    group: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    reference: Reference | None = None

    @property
    def question(self) -> str:
        return "\n".join(m.text for m in self.messages if m.role == "user")

    @property
    def images(self) -> list[ImageRef]:
        return all_images(self.messages)

    def canonical(self) -> dict[str, Any]:
        """Everything that defines the sample's content, for the dataset fingerprint."""
        data: dict[str, Any] = {
            "id": self.id,
            "messages": [m.canonical() for m in self.messages],
            "target": self.target,
            "choices": self.choices,
            "category": list(self.category),
            "group": self.group,
        }
        if self.reference is not None:  # only when set
            data["reference"] = self.reference.model_dump(mode="json")
        if self.metadata:  # templates and inferencers read it (a dialogue's turns): it is content too
            data["metadata"] = json.loads(json.dumps(self.metadata, sort_keys=True, default=str))
        return data


@dataclass(frozen=True)
class BadSample:
    """A row a Scenario could not turn into a Sample; reported by id and counted, never dropped silently."""

    id: str
    reason: str
