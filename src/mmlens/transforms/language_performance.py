"""``language_performance``: ChEF's language-performance desideratum (v1 ``tools/eval_langperf.py``)
on any multiple-choice task: a judge (the run's ``judge`` role) rates the model's chain of thought.

Use it after ``likelihood`` and ``strategy:chain_of_thought`` (ChEF's PPL chain of thought: the
reasoning, then the ranked option)::

    mmlens run TASK --transform likelihood --transform strategy:chain_of_thought \\
        --transform language_performance --judge openai:gpt-4

Per sample, as the official script builds it:

- the question: ``clean_question`` — ``"Question: " + text before "Context:" + "Options:" + text
  after "Options:" + "\\n"`` (a question without "Options:" is used whole, after "Question: ", where
  ChEF would stop with an IndexError);
- the ground truth ``"(X) "``; the chain of thought cut after its last ``"."`` (when that is not its
  first character); the final choice = the ranked option as ChEF writes it (``"(A"``) + ``")"``;
- the judge gets ChEF's system prompt ``SYS_VQA`` and the filled ``DATA_Template``, ``n = 6`` replies
  (six sampled requests here, temperature 1 as the OpenAI default, seeded), 512 new tokens each;
  ``\\[Overall Score\\]\\s*(\\d+(?:\\.\\d+)?)`` is read from each; the sample's score is the mean of the
  replies that have one; ``language_score`` is the mean over samples (0-10). A sample none of whose
  replies has a score is a failed extraction, left out of the mean (ChEF divides by zero there).
- ``subset: 250`` (the default) asks only ChEF's 250: ``random.seed(0); random.sample(range(N), 250)``
  sorted, N = the task's question count (ScienceQA: 2,017); ``subset: null`` asks all.

The task's own metrics are kept (accuracy of the ranking); ``language_score`` is the primary.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from functools import cache
from typing import ClassVar

from pydantic import Field

from mmlens.core.errors import ConfigError
from mmlens.core.messages import Message
from mmlens.core.options import LETTERS
from mmlens.core.parts import (
    Aggregate,
    Extraction,
    Metric,
    Prediction,
    Rounds,
    SampleRecord,
    Transform,
    TransformContext,
    register_transform,
)
from mmlens.core.requests import GenerationSettings, Request
from mmlens.core.sample import BadSample, Sample
from mmlens.metrics.aggregation import mean_aggregate
from mmlens.metrics.judge import JUDGE_ROLE, PROMPTS_DIR
from mmlens.metrics.wrapped import WrappedMetric
from mmlens.transforms.options import base_id

SCORE_PATTERN = re.compile(r"\[Overall Score\]\s*(\d+(?:\.\d+)?)")
CHEF_SUBSET_SEED = 0


@cache
def chef_prompts() -> tuple[str, str]:
    """ChEF's ``SYS_VQA`` and ``DATA_Template`` (with named fields), copied from the official file."""
    system = (PROMPTS_DIR / "chef_language_performance_system.txt").read_text(encoding="utf-8")
    query = (PROMPTS_DIR / "chef_language_performance_query.txt").read_text(encoding="utf-8")
    return system, query


def parse_overall_score(text: str | None) -> float | None:
    """ChEF's ``parse_score``: the first ``[Overall Score] N``, else None."""
    match = SCORE_PATTERN.search(text or "")
    return float(match.group(1)) if match else None


def clean_question(question: str) -> str:
    """ChEF's ``clean_question``: the context dropped, the options kept."""
    if "Options:" not in question:
        return "Question: " + question + "\n"
    parts = question.split("Options:")
    return "Question: " + parts[0].split("Context:")[0] + "Options:" + parts[1] + "\n"


def cut_after_last_period(text: str) -> str:
    index = text.rfind(".")
    return text[: index + 1] if index > 0 else text


def final_choice(answer: str) -> str:
    """ChEF's ``answer + ')'`` where its answer is the ranked option ``"(A"``."""
    return f"({answer})" if len(answer) == 1 and answer in LETTERS else answer + ")"


class LanguagePerformanceMetric(WrappedMetric):
    primary: ClassVar[str] = "language_score"

    replies: int = Field(6, ge=1)
    max_new_tokens: int = 512
    temperature: float = 1.0
    seed: int = 0

    def roles(self) -> tuple[str, ...]:
        return (*self.inner.roles(), JUDGE_ROLE)

    def query(self, sample: Sample, prediction: Prediction, answer: str) -> str:
        reasoning = prediction.details.get("reasoning")
        if not isinstance(reasoning, str):
            reasoning = prediction.text or ""
        target = (sample.target or "").strip()
        ground_truth = f"({target}) " if target in LETTERS else f"{target} "
        _, template = chef_prompts()
        return template.format(
            question=clean_question(sample.question),
            ground_truth=ground_truth,
            chain_of_thought=cut_after_last_period(reasoning),
            final_choice=final_choice(answer),
        )

    def extract_rounds(self, sample: Sample, prediction: Prediction) -> Rounds[Extraction]:
        extraction = self.inner.extract(sample, prediction)
        if extraction.answer is None:
            return extraction
        system, _ = chef_prompts()
        messages = (Message.system(system), Message.user(self.query(sample, prediction, extraction.answer)))
        requests = [
            Request(
                "generate",
                messages,
                GenerationSettings(self.max_new_tokens, self.temperature, seed=self.seed * 65536 + i),
                role=JUDGE_ROLE,
            )  # fmt: skip
            for i in range(self.replies)
        ]
        responses = yield requests
        scores = [s for s in (parse_overall_score(r.text) for r in responses) if s is not None]
        # the replies themselves are in the record's exchanges
        details = {**extraction.details, "language_performance": {"scores": scores}}
        return replace(extraction, details=details)

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        scores = super().score(sample, extraction)
        judged = (extraction.details.get("language_performance") or {}).get("scores")
        if judged:
            scores["language_score"] = sum(judged) / len(judged)
        return scores

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        inner = self.inner.aggregate(records)
        judged = mean_aggregate([r for r in records if "language_score" in r.scores], ["language_score"])
        metrics = {**judged.metrics, **inner.metrics}
        breakdown = {
            node: {**values, **judged.breakdown.get(node, {})} for node, values in inner.breakdown.items()
        }
        return Aggregate(metrics, breakdown, reliability=inner.reliability)


@register_transform("language_performance")
class LanguagePerformance(Transform):
    """ChEF's language performance: a judge rates the chain of thought 0-10 (six replies averaged)."""

    subset: int | None = 250
    replies: int = Field(6, ge=1)

    @classmethod
    def from_args(cls, args: str) -> dict[str, object]:
        if not args:
            return {}
        if args == "all":
            return {"subset": None}
        return {"subset": int(args)}

    def adapt_metric(self, metric: Metric) -> Metric:
        if type(metric).correct_key is None:
            raise ConfigError(
                "transform language_performance needs a metric that decides right/wrong per sample"
            )
        if metric.roles():
            raise ConfigError(
                "transform language_performance: the task's metric asks a judge itself; the language "
                "score needs a metric that extracts the answer by rule (a likelihood ranking's choice)"
            )
        return LanguagePerformanceMetric(inner=metric, replies=self.replies)

    def apply(self, samples: list[Sample], context: TransformContext) -> list[Sample | BadSample]:
        derived = next((s.id for s in samples if base_id(s.id) != s.id), None)
        if derived is not None:
            raise ConfigError(
                f"transform language_performance: sample {derived!r} is a rotation or rewrite made by an "
                "earlier transform (circular, leading_question); ChEF draws its questions from the "
                "questions as published: put language_performance before those transforms, or leave them out"
            )
        if self.subset is None or self.subset >= len(samples):
            return list(samples)
        chosen = sorted(random.Random(CHEF_SUBSET_SEED).sample(range(len(samples)), self.subset))
        return [samples[i] for i in chosen]
