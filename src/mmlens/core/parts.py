"""The four parts of a recipe (Scenario, Instruction, Inferencer, Metric) and their registries.

Each part is a pydantic model: the YAML keys under ``scenario:`` (etc.) are its fields, validated
on load with ``extra="forbid"`` so that a misspelt key is an error naming the key.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from mmlens.core.errors import SampleError
from mmlens.core.messages import Message
from mmlens.core.registry import Registry
from mmlens.core.requests import Request, Response
from mmlens.core.results import ExtractionMethod, OptionScores, Reliability, SampleRecord
from mmlens.core.sample import BadSample, Sample

__all__ = ["ExtractionMethod", "OptionScores", "SampleRecord"]

T = TypeVar("T")


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
    option_scores: the per-option log-probabilities of a likelihood ranking (typed; calibration and
        analyses read them from any multiple-choice task).
    embedding: the vector of an embedding request.
    """

    text: str | None
    answer: str | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    option_scores: OptionScores | None = None
    embedding: list[float] | None = None


# An inferencer's or metric's rounds: yield a batch of requests, receive their responses (in the
# same order), yield more or return the result. The runner drives every sample's rounds together.
Rounds = Generator[list[Request], list[Response], T]


@dataclass
class ReplayOutput:
    """One line of a predictions file, by field (see ``mmlens score`` in the README)."""

    response: str | None = None
    responses: list[str] | None = None
    option_logprobs: list[float] | None = None
    embedding: list[float] | None = None
    rewards: list[float] | None = None
    role_replies: dict[str, list[str]] = field(default_factory=dict)
    fields: frozenset[str] = frozenset()  # the output fields the line has (response, responses, ...)


class ReplayError(ValueError):
    """A predictions line lacks what the task's inferencer or metric needs (the caller names the line)."""


class Inferencer(Part):
    """Which requests are sent for a sample and how their responses become a prediction.

    A one-round inferencer implements ``plan`` (and ``combine`` where the first response's text is
    not the prediction). One that needs several rounds (a dialogue with its own answers, reasoning
    then a final answer, k samples then a vote) overrides ``rounds``. Every round's requests are
    cached like any other, so a killed run resumes mid-dialogue: the rounds already answered come
    from the store. A round with a failed request ends the sample as an error (never a guess)."""

    @abstractmethod
    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        """The first round's requests."""

    def combine(self, sample: Sample, requests: list[Request], responses: list[Response]) -> Prediction:
        errors = [r.error for r in responses if r.error]
        if errors:
            return Prediction(text=None, error=errors[0])
        return Prediction(text=responses[0].text)

    def rounds(self, sample: Sample, messages: list[Message]) -> Rounds[Prediction]:
        requests = self.plan(sample, messages)
        responses = yield requests
        return self.combine(sample, requests, responses)

    # The fields of a predictions line that ``replay`` reads; any other output field on a line is
    # refused (it would be silently ignored otherwise).
    replay_fields: ClassVar[frozenset[str]] = frozenset({"response"})

    def replay(self, sample: Sample, output: ReplayOutput) -> Prediction:
        """The prediction from outputs produced elsewhere (``mmlens score``): by default the
        generated text. Likelihood rankings read per-option log-probabilities instead."""
        if "response" not in output.fields:
            raise ReplayError('this task generates text: give "response" (the raw model text)')
        return Prediction(text=output.response)


@dataclass
class Extraction:
    answer: str | None
    method: ExtractionMethod
    error: str | None = None  # why no answer could be had, when method is "error"
    details: dict[str, Any] = field(default_factory=dict)
    failed_role: str | None = None  # the role whose request failed (a judge call), if one did


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
    """Headline metrics plus a breakdown per node of the category tree (path joined by '/'), and
    the reliability diagram where the metric measures calibration."""

    metrics: dict[str, MetricValue]
    breakdown: dict[str, dict[str, MetricValue]] = field(default_factory=dict)
    reliability: Reliability | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "breakdown": {
                node: {k: v.to_dict() for k, v in values.items()} for node, values in self.breakdown.items()
            },
        }
        if self.reliability is not None:
            data["reliability"] = self.reliability.model_dump(mode="json")
        return data


class Metric(Part):
    """Per-sample answer extraction and scoring, then aggregation.

    primary: the headline metric. correct_key: the per-sample score that is 1 for right and 0 for
    wrong (the record's ``correct``); None for metrics whose per-sample score is numeric (the
    record's ``score`` is then ``scores[primary]``).
    A metric that needs another model (a judge) names it in ``roles`` and sends its requests in
    ``extract_rounds`` with ``Request(..., role="judge")``; they go through the same store, cache
    and batching as the model's, and a failed one is a counted error, never a made-up score."""

    primary: ClassVar[str] = "acc"
    correct_key: ClassVar[str | None] = "acc"
    # The per-sample score kept as the record's ``score`` when it is not the primary metric (a
    # correlation's primary is over samples; each sample has its predicted value). None: primary.
    score_key: ClassVar[str | None] = None
    # True where the metric scores a benchmark's own published option rotations (MMBench's
    # CircularEval): the circular transform then leaves the task as it is.
    scores_rotations: ClassVar[bool] = False

    def roles(self) -> tuple[str, ...]:
        """The roles this metric sends requests to (the run must provide each)."""
        return ()

    @abstractmethod
    def extract(self, sample: Sample, prediction: Prediction) -> Extraction: ...

    def extract_rounds(self, sample: Sample, prediction: Prediction) -> Rounds[Extraction]:
        """Extraction that may send rounds of requests to a role; by default ``extract``."""
        return self.extract(sample, prediction)
        yield  # pragma: no cover - makes this a generator

    @abstractmethod
    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]: ...

    @abstractmethod
    def aggregate(self, records: list[SampleRecord]) -> Aggregate: ...


@dataclass
class TransformContext:
    """What a Transform needs besides the samples: the task's name, where its data is, and a way
    to load the samples of another split of the same scenario (in-context examples from ``train``).

    instruction: the task's instruction (to show in-context examples as the questions are shown).
    embed: answers embed requests through a role of the run (``Transform.roles()``), through the
    store, so a rerun sends nothing; None where no model is loaded (``mmlens plan``, ``score``)."""

    task_name: str
    load_context: LoadContext
    load_split: Callable[[dict[str, Any]], list[Sample]]
    instruction: Instruction | None = None
    embed: Callable[[list[Request]], list[Response]] | None = None


class Transform(Part):
    """Between Scenario and Instruction: turns the samples a scenario loaded into the samples a run
    asks (rotated options, corrupted images, no media, in-context examples, ...).

    A transform may also adapt the inferencer (a prompting strategy that needs more rounds) and the
    metric (CircularEval scores a question by all its rotations). It is named in the run identity
    and provenance by ``label()``; ``from_args`` parses the ``ARGS`` of ``--transform NAME:ARGS``.
    Every random choice is seeded by the transform's own seed and the sample id, so a rerun asks
    the same questions and is answered from the cache."""

    name: ClassVar[str] = ""  # set by ``register_transform``

    @classmethod
    def from_args(cls, args: str) -> dict[str, Any]:
        """The fields given by ``--transform NAME:ARGS`` (the text after the first colon)."""
        if args:
            raise ValueError(f"{cls.name} takes no arguments (got {args!r})")
        return {}

    def label(self) -> str:
        """How runs and reports name this transform: its name and every non-default field."""
        changed = self.model_dump(mode="json", exclude_defaults=True)
        return self.name + "".join(f":{key}={value}" for key, value in sorted(changed.items()))

    def apply(self, samples: list[Sample], context: TransformContext) -> list[Sample | BadSample]:
        """The run's samples; by default each sample through ``transform_sample``, in order. A
        sample the transform cannot use (``SampleError``) becomes a bad sample, named and counted."""
        result: list[Sample | BadSample] = []
        for sample in samples:
            try:
                result.extend(self.transform_sample(sample))
            except SampleError as error:
                result.append(BadSample(sample.id, f"transform {self.label()}: {error.reason}"))
        return result

    def transform_sample(self, sample: Sample) -> list[Sample]:
        raise NotImplementedError(f"transform {self.name} transforms the sample list as a whole")

    def roles(self) -> tuple[str, ...]:
        """The roles this transform sends requests to through ``TransformContext.embed`` (the run
        must provide each, as it must a metric's)."""
        return ()

    def adapt_inferencer(self, inferencer: Inferencer) -> Inferencer:
        return inferencer

    def adapt_metric(self, metric: Metric) -> Metric:
        return metric


# Generic parts, by name -> the module that registers them (imported on first use). A benchmark's
# own parts register when its folder under mmlens/tasks/ is imported, which loading one of its
# tasks does.
GENERIC_SCENARIOS = {"jsonl": "mmlens.scenarios.jsonl"}
GENERIC_INSTRUCTIONS = {"template": "mmlens.instructions.template"}
GENERIC_INFERENCERS = {
    "generate": "mmlens.inferencers.basic",
    "blind": "mmlens.inferencers.basic",
    "rank_choices": "mmlens.inferencers.ranking",
    "rank_choices_token_mean": "mmlens.inferencers.ranking",
    "multi_turn": "mmlens.inferencers.multi_turn",
    "two_step": "mmlens.inferencers.two_step",
    "self_consistency": "mmlens.inferencers.self_consistency",
    "embed": "mmlens.inferencers.embed",
    "chef_ppl": "mmlens.transforms.likelihood",
}
GENERIC_METRICS = {
    "accuracy": "mmlens.metrics.accuracy",
    "judge_verdict": "mmlens.metrics.judge",
    "choice_rule_then_judge": "mmlens.metrics.choice_judge",
}
GENERIC_TRANSFORMS = {
    "blind": "mmlens.transforms.options",
    "shuffle_options": "mmlens.transforms.options",
    "circular": "mmlens.transforms.circular",
    "corrupt_image": "mmlens.transforms.image_corruptions",
    "corrupt_text": "mmlens.transforms.text_corruptions",
    "leading_question": "mmlens.transforms.leading_question",
    "icl": "mmlens.transforms.icl",
    "strategy": "mmlens.transforms.strategy",
    "verbalizer": "mmlens.transforms.verbalizer",
    "likelihood": "mmlens.transforms.likelihood",
    "language_performance": "mmlens.transforms.language_performance",
    "calibration": "mmlens.transforms.calibration",
    "select": "mmlens.core.select",
}

scenarios: Registry[type[Scenario]] = Registry("scenario", GENERIC_SCENARIOS)
instructions: Registry[type[Instruction]] = Registry("instruction", GENERIC_INSTRUCTIONS)
inferencers: Registry[type[Inferencer]] = Registry("inferencer", GENERIC_INFERENCERS)
metrics: Registry[type[Metric]] = Registry("metric", GENERIC_METRICS)
transforms: Registry[type[Transform]] = Registry("transform", GENERIC_TRANSFORMS)

TransformType = TypeVar("TransformType", bound=type[Transform])


def register_transform(name: str) -> Callable[[TransformType], TransformType]:
    """Register a transform class under ``name`` (which its ``label`` and provenance then use)."""

    def decorator(cls: TransformType) -> TransformType:
        cls.name = name
        transforms.add(name, cls)
        return cls

    return decorator
