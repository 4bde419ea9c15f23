"""Rounds: every sample's inferencer and metric rounds, driven together.

A sample's flow is one generator: the inferencer's rounds (requests to the model under test), then
the metric's (requests to a role such as the judge). The driver collects the pending requests of
all samples, has them answered in one batch per round (de-duplicated, cached, committed as they
arrive, by ``Answer``), sends each sample its responses and collects the next round, until every
sample is done. Because each round's requests are cached, a killed run resumes mid-dialogue.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mmlens.core.errors import MmlensError, SampleError
from mmlens.core.messages import Message
from mmlens.core.parts import Extraction, Inferencer, Metric, Prediction, Rounds
from mmlens.core.requests import MODEL_ROLE, Request, Response
from mmlens.core.results import Exchange
from mmlens.core.sample import BadSample, Sample
from mmlens.core.task import Task
from mmlens.runner.progress import SampleProgress

T = TypeVar("T")

# key -> request, in first-seen order  ->  key -> response
Answer = Callable[[dict[str, Request]], dict[str, Response]]


class Waiting(list):  # type: ignore[type-arg]
    """What a flow yields for a round in which it waits for other flows (a pool of candidates that
    one sample embeds while every query of the pool waits to be ranked against it): no requests,
    answered by an empty list. Any other empty round is an error."""


WAIT = Waiting()


class SharedRequests(list):  # type: ignore[type-arg]
    """Requests a flow sends on behalf of other flows (the candidates of a pool shared by many
    queries): answered, de-duplicated and cached like any other, but not recorded as the sample's
    own exchanges nor counted as its rounds."""


@dataclass
class RoundFailure:
    """A round in which a request failed: the sample ends there, as an error."""

    error: str
    role: str


@dataclass
class Outcome:
    prediction: Prediction
    extraction: Extraction


def guarded(rounds: Rounds[T]) -> Generator[list[Request], list[Response], T | RoundFailure]:
    """Pass the rounds through, stopping at the first round with a failed request."""
    try:
        requests = next(rounds)
    except StopIteration as stop:
        return stop.value
    while True:
        responses = yield requests
        failed = next(((req, res) for req, res in zip(requests, responses, strict=True) if res.error), None)
        if failed is not None:
            rounds.close()
            return RoundFailure(str(failed[1].error), failed[0].role)
        try:
            requests = rounds.send(responses)
        except StopIteration as stop:
            return stop.value


def sample_rounds(task: Task, sample: Sample, messages: list[Message]) -> Rounds[Outcome]:
    """A sample's whole flow: inferencer rounds -> prediction -> metric rounds -> extraction."""
    if is_single_round(task):
        return (yield from single_round(task, sample, messages))
    prediction = yield from guarded(task.inferencer.rounds(sample, messages))
    if isinstance(prediction, RoundFailure):
        role = prediction.role if prediction.role != MODEL_ROLE else None
        failed = Prediction(text=None, error=prediction.error)
        return Outcome(failed, Extraction(None, "error", failed_role=role))
    if prediction.error is not None:
        return Outcome(prediction, Extraction(None, "error"))
    return (yield from metric_rounds(task, sample, prediction))


def is_single_round(task: Task) -> bool:
    """One round of model requests and an extraction that asks no role (most benchmarks)."""
    return (
        type(task.inferencer).rounds is Inferencer.rounds
        and type(task.metric).extract_rounds is Metric.extract_rounds
    )


def single_round(task: Task, sample: Sample, messages: list[Message]) -> Rounds[Outcome]:
    """``sample_rounds`` for single-round tasks without the nested generators (the same outcome,
    on the path every one-round benchmark takes: its per-sample cost is the runner's overhead)."""
    requests = task.inferencer.plan(sample, messages)
    responses = yield requests
    failed = next((response.error for response in responses if response.error), None)
    if failed is not None:
        return Outcome(Prediction(text=None, error=failed), Extraction(None, "error"))
    prediction = task.inferencer.combine(sample, requests, responses)
    if prediction.error is not None:
        return Outcome(prediction, Extraction(None, "error"))
    return Outcome(prediction, task.metric.extract(sample, prediction))


def metric_rounds(task: Task, sample: Sample, prediction: Prediction) -> Rounds[Outcome]:
    extraction = yield from guarded(task.metric.extract_rounds(sample, prediction))
    if isinstance(extraction, RoundFailure):
        extraction = Extraction(
            None, "error", error=f"{extraction.role}: {extraction.error}", failed_role=extraction.role
        )
    return Outcome(prediction, extraction)


@dataclass
class SampleFlow:
    """One sample on its way through the rounds."""

    sample: Sample
    rounds: Rounds[Outcome]
    pending: list[Request] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    round: int = 0
    first_prompt: list[dict[str, Any]] = field(default_factory=list)
    outcome: Outcome | None = None
    keeps_exchanges: bool = True  # False for single-round model-only flows: the record has it all
    bad: BadSample | None = None  # set when a later round finds the sample unusable

    @property
    def done(self) -> bool:
        return self.outcome is not None or self.bad is not None

    def advance(self, responses: list[Response] | None) -> None:
        try:
            self.pending = next(self.rounds) if responses is None else self.rounds.send(responses)
        except StopIteration as stop:
            self.pending, self.outcome = [], stop.value
            return
        if isinstance(self.pending, Waiting | SharedRequests):
            return  # not the sample's own round
        if not self.pending:
            raise SampleError(self.sample.id, "a round yielded no requests")
        self.round += 1
        if self.round == 1:
            self.first_prompt = self.pending[0].canonical()["messages"]

    def record_exchanges(self, responses: list[Response], cached: set[str]) -> None:
        if not self.keeps_exchanges or isinstance(self.pending, SharedRequests):
            return
        for request, key, response in zip(self.pending, self.keys, responses, strict=True):
            canonical = request.canonical()
            self.exchanges.append(
                Exchange(
                    round=self.round,
                    role=request.role,
                    kind=request.kind,
                    prompt=canonical["messages"],
                    continuation=request.continuation,
                    response=response.text,
                    logprob=response.logprob,
                    error=response.error,
                    cached=key in cached,
                )
            )

    @property
    def needs_exchanges(self) -> bool:
        """Single-round model-only samples keep just ``prompt``/``response`` (as mmlens 0.1 did)."""
        return self.round > 1 or any(e.role != MODEL_ROLE for e in self.exchanges)


def start_flows(
    task: Task,
    samples: Iterable[Sample],
    flow: Callable[[Sample, list[Message]], Rounds[Outcome]] | None = None,
) -> tuple[list[SampleFlow], list[BadSample]]:
    """Build every sample's messages and first round; a sample the instruction or inferencer
    cannot use becomes a bad sample (reported by id, never silently dropped)."""
    make = flow or (lambda sample, messages: sample_rounds(task, sample, messages))
    keeps_exchanges = flow is not None or not is_single_round(task)
    flows: list[SampleFlow] = []
    bad: list[BadSample] = []
    for sample in samples:
        try:
            messages = task.instruction.build(sample)
            item = SampleFlow(sample, make(sample, messages), keeps_exchanges=keeps_exchanges)
            item.advance(None)
        except SampleError as error:
            bad.append(BadSample(sample.id, error.reason))
            continue
        flows.append(item)
    return flows, bad


def key_requests(flows: list[SampleFlow], fingerprints: dict[str, str]) -> dict[str, Request]:
    """Key every pending request by its answering model's fingerprint; the unique ones, in order."""
    unique: dict[str, Request] = {}
    for item in flows:
        keys = []
        for request in item.pending:
            fingerprint = fingerprints.get(request.role)
            if fingerprint is None:
                raise MmlensError(
                    f"sample {item.sample.id}: a request for role {request.role!r}, which this run has not "
                    f"got (roles: {', '.join(sorted(fingerprints))}); the task's parts must name the roles "
                    "they ask (Metric.roles()) so that the run can ask for them"
                )
            key = request.key(fingerprint)
            keys.append(key)
            unique.setdefault(key, request)
        item.keys = keys
    return unique


def drive(
    flows: list[SampleFlow],
    fingerprints: dict[str, str],
    answer: Answer,
    first_unique: dict[str, Request] | None = None,
    cached_keys: set[str] | None = None,
    progress: SampleProgress | None = None,
) -> tuple[int, int]:
    """Run every flow to its outcome; returns the number of rounds driven and of requests planned
    (before de-duplication).

    ``first_unique``: the first round, already keyed (the caller looked it up to set aside samples
    with unreadable images). ``cached_keys`` collects the keys answered from the store.
    ``progress`` is told each round's samples and their keys (the answerer reports the answers)."""
    rounds = planned = idle = 0
    cached = cached_keys if cached_keys is not None else set()
    unique = first_unique
    while True:
        active = [item for item in flows if not item.done]
        if not active:
            if progress is not None:
                progress.close()
            return rounds, planned
        if unique is None:
            unique = key_requests(active, fingerprints)
        idle = idle + 1 if not unique else 0
        if idle > 2:  # every flow waiting on the others, round after round: none would ever end
            raise MmlensError(
                f"samples {active[0].sample.id}, ...: every sample waits and none sends a request"
            )
        if progress is not None:
            progress.start_round(rounds + 1, [item.keys for item in active])
        responses = answer(unique)
        rounds += 1
        planned += sum(len(item.pending) for item in active)
        for item in active:
            answered = [responses[key] for key in item.keys]
            item.record_exchanges(answered, cached)
            try:
                item.advance(answered)
            except SampleError as error:  # the sample's data cannot go on (no reference, ...)
                item.bad = BadSample(item.sample.id, error.reason)
                item.rounds.close()
        unique = None
