"""MM-Vet's GPT-4 grader (yuweihao/MM-Vet@7d717c2 ``mm-vet_evaluator.py``) through the ``judge``
role, and VLMEvalKit's variant (``vlmeval/dataset/utils/mmvet.py``) as a profile.

Grader prompt (``grader_prompt.txt``, the official few-shot ``prompt`` byte for byte) + ``"\\n"`` +
``" | ".join([question, answer with " <AND> " / " <OR> " spaced, prediction, ""])``.

Official protocol (``protocol: official``), per sample:

1. call 1: that prompt, temperature 0, ``max_tokens=3``;
2. a reply is read as ``float(reply.split(" ")[0].strip())`` and kept when 0 <= score <= 1
   (``nan`` passes: both comparisons are false). A reply that does not parse (or is None) starts
   the retry loop: the prompt + ``"\\nPredict the correctness of the answer (digit): "`` is sent at
   temperature 0.0, 0.5, 1.0, 1.5, 2.0 (the temperature rises after each retry, so the first retry
   is still greedy);
3. after the 5th retry (the 6th call) the official loop sets the score to 0.0 WITHOUT reading that
   last reply (``try_time > 5`` is checked right after the call).

``protocol: vlmevalkit``: up to 5 calls of the same prompt (no retry suffix) at temperature
0.5 * i, ``float(reply)`` of the whole reply, in [0, 1]; else 0.0.

A sample whose tries all fail is extraction ``failed`` (counted in ``failed_extraction``, its
replies in ``details``) and scores 0.0, as both official scripts count it. Never another value.

Aggregation (``export_result``): per capability, sum of the scores of the samples that have it /
their number x 100; per capability integration (the exact set of capabilities) likewise; total =
mean x 100; each rounded to ``decimal_places`` (1). VLMEvalKit: the same sums, not rounded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from mmlens.core.messages import Message, TextPart
from mmlens.core.parts import (
    Aggregate,
    Extraction,
    Metric,
    MetricValue,
    Prediction,
    Rounds,
    SampleRecord,
    metrics,
)
from mmlens.core.requests import GenerationSettings, Request
from mmlens.core.sample import Sample
from mmlens.metrics.stats import mean_interval

JUDGE_ROLE = "judge"
PROMPT_FILE = Path(__file__).resolve().parent / "grader_prompt.txt"
RETRY_SUFFIX = "\nPredict the correctness of the answer (digit): "
OFFICIAL_RETRY_TEMPERATURES = (0.0, 0.5, 1.0, 1.5, 2.0)  # calls 2..6; the 6th reply is never read
CAPABILITIES = ("rec", "ocr", "know", "gen", "spat", "math")


@cache
def grader_prompt() -> str:
    return PROMPT_FILE.read_text(encoding="utf-8")


def grader_text(question: str, answer: str, prediction: str) -> str:
    """The official grading prompt for one sample (``runs`` in mm-vet_evaluator.py)."""
    spaced = answer.replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")
    return grader_prompt() + "\n" + " | ".join([question, spaced, prediction, ""])


def parse_official(reply: str | None) -> float | None:
    """``float(content.split(" ")[0].strip())`` within [0, 1] (nan passes), else None."""
    try:
        score = float(reply.split(" ")[0].strip())  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        return None
    if score > 1.0 or score < 0.0:
        return None
    return score


def parse_vlmevalkit(reply: str | None) -> float | None:
    """VLMEvalKit's ``float_cvt(output)`` within [0, 1], else None."""
    try:
        score = float(reply)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if score < 0 or score > 1:
        return None
    return score


def capability_integration(capabilities: list[str]) -> str:
    """The capability-integration name (official: ``"_".join`` of the capability set)."""
    return "_".join(dict.fromkeys(capabilities))


@metrics.register("mmvet")
class MMVetGrader(Metric):
    """The grader score in [0, 1] per sample; total and per capability x 100 (see the module doc).

    Fields: protocol (official, vlmevalkit), judge_max_new_tokens (official 3), decimal_places
    (official 1; None: not rounded, VLMEvalKit)."""

    primary: ClassVar[str] = "total"
    correct_key: ClassVar[str | None] = None
    protocol: Literal["official", "vlmevalkit"] = "official"
    judge_max_new_tokens: int = Field(3, ge=1)
    decimal_places: int | None = 1

    def roles(self) -> tuple[str, ...]:
        return (JUDGE_ROLE,)

    def _request(self, text: str, temperature: float) -> Request:
        settings = GenerationSettings(max_new_tokens=self.judge_max_new_tokens, temperature=temperature)
        return Request("generate", (Message("user", (TextPart(text),)),), settings=settings, role=JUDGE_ROLE)

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        raise NotImplementedError("MM-Vet is graded by the judge in extract_rounds")

    def extract_rounds(self, sample: Sample, prediction: Prediction) -> Rounds[Extraction]:
        # The official script grades whatever the model returned (an empty answer too).
        text = grader_text(sample.question, str(sample.target), prediction.text or "")
        replies: list[str | None] = []
        if self.protocol == "vlmevalkit":
            for attempt in range(5):
                (reply,) = yield [self._request(text, 0.5 * attempt)]
                replies.append(reply.text)
                score = parse_vlmevalkit(reply.text)
                if score is not None:
                    return self._graded(sample, score, replies)
            return self._failed(sample, replies)
        (reply,) = yield [self._request(text, 0.0)]
        replies.append(reply.text)
        score = parse_official(reply.text)
        if score is not None:
            return self._graded(sample, score, replies)
        for number, temperature in enumerate(OFFICIAL_RETRY_TEMPERATURES, start=2):
            (reply,) = yield [self._request(text + RETRY_SUFFIX, temperature)]
            replies.append(reply.text)
            if number > 5:  # try_time > 5: 0.0 before this reply is read
                return self._failed(sample, replies)
            score = parse_official(reply.text)
            if score is not None:
                return self._graded(sample, score, replies)
        return self._failed(sample, replies)  # pragma: no cover - the loop returns

    @staticmethod
    def _details(sample: Sample, replies: list[str | None]) -> dict[str, object]:
        capability = list(sample.metadata.get("capability") or [])
        return {"capability": capability, "grader_replies": replies, "grader_calls": len(replies)}

    def _graded(self, sample: Sample, score: float, replies: list[str | None]) -> Extraction:
        return Extraction(repr(score), "judge", details=self._details(sample, replies))

    def _failed(self, sample: Sample, replies: list[str | None]) -> Extraction:
        details = {**self._details(sample, replies), "grade": "0.0 after the failed tries (official)"}
        return Extraction(None, "failed", details=details)

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        return {"total": 0.0 if extraction.answer is None else float(extraction.answer)}

    # --- aggregation ------------------------------------------------------------------------------

    def _value(self, scores: list[float]) -> MetricValue:
        if not scores:
            return MetricValue(math.nan, n=0)
        mean = sum(scores) / len(scores) * 100
        low, high = mean_interval(scores)
        value = round(mean, self.decimal_places) if self.decimal_places is not None else mean
        return MetricValue(value, low * 100, high * 100, len(scores))

    def _groups(
        self, records: list[SampleRecord], key: Callable[[SampleRecord], list[str]]
    ) -> dict[str, list[float]]:
        groups: dict[str, list[float]] = {}
        for record in records:
            for name in key(record):
                groups.setdefault(name, []).append(record.scores["total"])
        return groups

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        def caps(record: SampleRecord) -> list[str]:
            return list((record.details or {}).get("capability") or [])

        values = {"total": self._value([r.scores["total"] for r in records])}
        by_capability = self._groups(records, caps)
        for name in CAPABILITIES:
            if name in by_capability:
                values[name] = self._value(by_capability[name])
        breakdown = {
            f"integration/{name}": {"total": self._value(scores)}
            for name, scores in self._groups(records, lambda r: [capability_integration(caps(r))]).items()
        }
        return Aggregate(values, breakdown)
