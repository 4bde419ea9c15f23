"""The four parts of a recipe (Scenario, Instruction, Inferencer, Metric) and their registries.

Each part is a pydantic model: the YAML keys under ``scenario:`` (etc.) are its fields, validated
on load with ``extra="forbid"`` so that a misspelt key is an error naming the key.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from mmlens.core.messages import Message
from mmlens.core.registry import Registry
from mmlens.core.requests import Request, Response
from mmlens.core.sample import BadSample, Sample

ExtractionMethod = Literal["exact", "rule", "judge", "failed", "error"]


class Part(BaseModel, ABC):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


@dataclass
class LoadContext:
    """What a Scenario needs besides its own fields."""

    task_name: str
    task_dir: Path
    data_path: str | None = None  # --data PATH: a local copy in the published format
    limit: int | None = None


class Scenario(Part):
    """Where samples come from."""

    id_scheme: ClassVar[str] = "row order, as given by the data"
    reads_data: ClassVar[bool] = True  # False for generators: --data is then refused, not ignored

    @abstractmethod
    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        """Yield samples (or BadSample for rows that cannot be used) in a stable order."""


class Instruction(Part):
    """How a sample becomes the messages a model sees."""

    @abstractmethod
    def build(self, sample: Sample) -> list[Message]: ...


@dataclass
class Prediction:
    """What the inferencer concluded for one sample from its responses.

    text: the raw response (for generation) or a rendering of the choice made.
    answer: set when the inferencer itself decided (e.g. likelihood ranking picks an option).
    """

    text: str | None
    answer: str | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Inferencer(Part):
    """Which requests are sent for a sample and how their responses become a prediction."""

    @abstractmethod
    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]: ...

    def combine(self, sample: Sample, requests: list[Request], responses: list[Response]) -> Prediction:
        errors = [r.error for r in responses if r.error]
        if errors:
            return Prediction(text=None, error=errors[0])
        return Prediction(text=responses[0].text)


@dataclass
class Extraction:
    answer: str | None
    method: ExtractionMethod


def extract_from_prediction(
    prediction: Prediction,
    extract_text: Callable[[str], Extraction],
    normalize_answer: Callable[[str], str] = str.strip,
) -> Extraction:
    """The steps every metric's extraction shares: an answer the inferencer decided itself (a
    likelihood ranking) is exact, no text at all is failed, and any other text goes to the
    metric's own rule."""
    if prediction.answer is not None:
        return Extraction(normalize_answer(prediction.answer), "exact")
    if prediction.text is None:
        return Extraction(None, "failed")
    return extract_text(prediction.text)


@dataclass
class SampleRecord:
    """Everything kept about one scored sample (one line of samples.jsonl)."""

    id: str
    category: tuple[str, ...]
    group: str | None
    target: str | None
    prompt: list[dict[str, Any]]
    response: str | None
    answer: str | None
    extraction: ExtractionMethod
    scores: dict[str, float]
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "category": list(self.category),
            "group": self.group,
            "target": self.target,
            "prompt": self.prompt,
            "response": self.response,
            "answer": self.answer,
            "extraction": self.extraction,
            "scores": self.scores,
        }
        if self.error is not None:
            data["error"] = self.error
        if self.details:
            data["details"] = self.details
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> SampleRecord:
        return SampleRecord(
            id=data["id"],
            category=tuple(data.get("category", ())),
            group=data.get("group"),
            target=data.get("target"),
            prompt=data.get("prompt", []),
            response=data.get("response"),
            answer=data.get("answer"),
            extraction=data["extraction"],
            scores=data.get("scores", {}),
            error=data.get("error"),
            details=data.get("details", {}),
        )


@dataclass
class MetricValue:
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None

    def to_dict(self) -> dict[str, Any]:
        bounds = (self.ci_low, self.ci_high)
        known = all(bound is not None and not math.isnan(bound) for bound in bounds)
        return {"value": self.value, "ci95": list(bounds) if known else None, "n": self.n}


@dataclass
class Aggregate:
    """Headline metrics plus a breakdown per node of the category tree (path joined by '/')."""

    metrics: dict[str, MetricValue]
    breakdown: dict[str, dict[str, MetricValue]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "breakdown": {
                node: {k: v.to_dict() for k, v in values.items()} for node, values in self.breakdown.items()
            },
        }


class Metric(Part):
    """Per-sample answer extraction and scoring, then aggregation."""

    primary: ClassVar[str] = "acc"

    @abstractmethod
    def extract(self, sample: Sample, prediction: Prediction) -> Extraction: ...

    @abstractmethod
    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]: ...

    @abstractmethod
    def aggregate(self, records: list[SampleRecord]) -> Aggregate: ...


scenarios: Registry[type[Scenario]] = Registry("scenario")
instructions: Registry[type[Instruction]] = Registry("instruction")
inferencers: Registry[type[Inferencer]] = Registry("inferencer")
metrics: Registry[type[Metric]] = Registry("metric")
