"""A judge panel: the task's judged metric asked again by other judges and by the same judge again.

``with_judge_panel(metric, extra_judges, repeats)`` wraps any metric that asks the ``judge`` role
(``judge_verdict``, a benchmark's own): each sample's extraction rounds are run once as the task
defines them (the **primary** judge: its verdict is the score, exactly as without a panel), and
once more per panel member, all in the same rounds:

- an extra judge (roles ``judge-2``, ``judge-3``, ...; ``--judge A --judge B``): the same requests,
  sent to that role's model;
- a repeat ``k`` = 1 .. N-1 of the primary judge (``--judge-repeats N``): the same requests with
  seed ``(seed or 0) + k`` and, where the request is greedy, temperature ``repeat_temperature``
  (self-agreement needs sampling: a greedy repeat would be the cached reply itself).

Each member's extraction is read by the metric's own parser (a fresh run of its rounds fed that
member's replies), so a panel works for any judged metric. The record keeps every member's answer
and score in ``details["judge_panel"]``; ``metrics.judge_agreement`` turns them into agreement.
Every member's requests are cached like the primary's, so a rerun asks nobody. A failed call of any
member ends the sample as an error (counted; a rerun fills it), as a failed primary call does.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any

from pydantic import Field

from mmlens.core.parts import Aggregate, Extraction, Metric, Prediction, Rounds, SampleRecord
from mmlens.core.requests import Request
from mmlens.core.sample import Sample
from mmlens.metrics.judge_governance import JUDGE_ROLE
from mmlens.metrics.wrapped import WrappedMetric

PANEL_KEY = "judge_panel"  # Extraction.details key: one entry per panel member, primary first
RULE_ANSWER_KEY = "rule_answer"  # Extraction.details key: the answer a rule found, where one could


def member_name(role: str, repeat: int) -> str:
    """``judge``, ``judge#2`` (the primary judge's second reply), ``judge-2`` (another judge)."""
    return role if repeat == 0 else f"{role}#{repeat + 1}"


class JudgePanel(WrappedMetric):
    """The inner metric, its judge requests also sent to each panel member (see the module doc)."""

    extra_judges: list[str] = Field(default_factory=list)  # role names: judge-2, judge-3, ...
    repeats: int = Field(1, ge=1)
    repeat_temperature: float = Field(1.0, gt=0.0)

    def roles(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.inner.roles(), *self.extra_judges]))

    def members(self) -> list[tuple[str, int]]:
        """(role, repeat) of every member, the primary first."""
        return [(JUDGE_ROLE, k) for k in range(self.repeats)] + [(role, 0) for role in self.extra_judges]

    def adapt(self, request: Request, role: str, repeat: int) -> Request:
        if request.role != JUDGE_ROLE:
            return request
        if role != JUDGE_ROLE:
            request = dataclasses.replace(request, role=role)
        if repeat:
            settings = request.settings
            temperature = settings.temperature if settings.temperature > 0 else self.repeat_temperature
            settings = dataclasses.replace(
                settings, temperature=temperature, seed=(settings.seed or 0) + repeat
            )
            request = dataclasses.replace(request, settings=settings)
        return request

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        return self.inner.extract(sample, prediction)

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        return self.inner.score(sample, extraction)

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        return self.inner.aggregate(records)

    def _vote(
        self, sample: Sample, role: str, repeat: int, extraction: Extraction, asked: bool
    ) -> dict[str, Any]:
        value: float | None = None
        if extraction.method != "error":
            scores = self.inner.score(sample, extraction)
            key = type(self.inner).correct_key or type(self.inner).primary
            value = scores.get(key)
        return {
            "member": member_name(role, repeat),
            "role": role,
            "repeat": repeat,
            "asked": asked,
            "answer": extraction.answer,
            "method": extraction.method,
            "score": value,
        }

    def extract_rounds(self, sample: Sample, prediction: Prediction) -> Rounds[Extraction]:
        members = self.members()
        chains = [self.inner.extract_rounds(sample, prediction) for _ in members]
        asked = [False] * len(members)
        results: dict[int, Extraction] = {}
        pending: dict[int, list[Request]] = {}

        def step(index: int, responses: Any) -> None:
            role, repeat = members[index]
            try:
                requests = next(chains[index]) if responses is None else chains[index].send(responses)
            except StopIteration as stop:
                results[index] = stop.value
                pending.pop(index, None)
                return
            asked[index] = asked[index] or any(r.role == JUDGE_ROLE for r in requests)
            pending[index] = [self.adapt(r, role, repeat) for r in requests]

        for index in range(len(members)):
            step(index, None)
        while pending:
            order = list(pending)
            batch = [request for index in order for request in pending[index]]
            responses = yield batch
            position = 0
            for index in order:
                size = len(pending[index])
                part, position = list(responses[position : position + size]), position + size
                step(index, part)
        primary = results[0]
        votes = [
            self._vote(sample, role, repeat, results[i], asked[i]) for i, (role, repeat) in enumerate(members)
        ]
        details = {**primary.details, PANEL_KEY: votes}
        rule = getattr(self.inner, "rule_answer", None)
        if callable(rule):
            details[RULE_ANSWER_KEY] = rule(sample, prediction)
        return Extraction(primary.answer, primary.method, primary.error, details, primary.failed_role)


@cache
def _panel_class(inner: type[Metric]) -> type[JudgePanel]:
    """A JudgePanel subclass with the inner metric's primary and right/wrong key (class variables)."""
    namespace = {"primary": inner.primary, "correct_key": inner.correct_key, "__module__": __name__}
    return type(f"JudgePanel_{inner.__name__}", (JudgePanel,), namespace)


def with_judge_panel(
    metric: Metric, extra_judges: list[str], repeats: int = 1, repeat_temperature: float = 1.0
) -> Metric:
    """``metric`` wrapped in a panel; as it is when there is nothing to add (no extra judges, one reply
    each, and no ``rule_answer`` to compare the judge with)."""
    if not extra_judges and repeats <= 1 and not callable(getattr(metric, "rule_answer", None)):
        return metric
    cls = _panel_class(type(metric))
    return cls(
        inner=metric, extra_judges=extra_judges, repeats=repeats, repeat_temperature=repeat_temperature
    )
