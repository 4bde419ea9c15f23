"""MME-VideoOCR's scorer (DogNeverSleep/MME-VideoOCR@e97c491: evaluation/automated_evaluation/
mme_videoocr/utils.py ``mme_videoocr_process_results``, the default; evaluation/manual_evaluation/
process_results.py as the ``videoocr_manual`` profile).

- containment_match: tasks trajectory_recognition and scrambled_recognition need ``pred == gt``
  (gt stripped, pred not); others lower-case both and ``’`` -> ``'``, then every ``;``-part of the
  gt (stripped) must be a substring of pred, else the whole gt. Manual profile: the gt's
  lower-casing is not assigned (``ground_truth.replace(...).lower()`` alone), so the gt keeps its
  case and its ``’`` while pred is lower-cased.
- multiple_choice: ``extract_characters_regex`` with its own prefixes (first capital A-D).
- gpt_assisted_scoring: the translation prompt to the judge role (system "You are a helpful
  assistant.", temperature 0, 1024 tokens); 1 if "correct" is in its reply (lower-cased; so
  "incorrect" counts too), else 0 ("wrong", or neither: the official retries a deterministic
  judge and then scores 0).
Overall = sum of scores / 2000 (hard-coded, ``total``); per task and task_type: mean.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from mmlens.core.messages import Message
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
from mmlens.metrics.aggregation import mean_metrics

EXACT_TASKS = frozenset({"trajectory_recognition", "scrambled_recognition"})
PREFIXES = [
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option is",
    "The correct option is",
    "Best answer:",
    "Best option:",
    "Answer",
    "Answer is",
]
JUDGE_SYSTEM = "You are a helpful assistant."
JUDGE_PROMPT = """You are a professional bilingual translation evaluator.
Here are two sentences: one in Chinese and one in English.

Sentence 1: SENTENCE_1
Sentence 2: SENTENCE_2

Please evaluate whether the two sentences convey the same meaning and can be considered accurate translations of each other.

If the meanings are equivalent and the translation is accurate, respond with "correct".
If there are significant differences in meaning or inaccuracies in translation, respond with "wrong".

You must only respond with one word: "correct" or "wrong". Do not provide any explanations, comments, or additional text.
Focus solely on semantic equivalence, not grammar or style. Ignore minor differences as long as the meaning is preserved."""  # noqa: E501


def extract_characters_regex(text: str) -> str:
    text = text.strip()
    for prefix in PREFIXES:
        text = text.replace(prefix, "")
    if len(text.split()) > 10 and not re.search("[ABCD]", text):
        return ""
    match = re.search(r"[ABCD]", text)
    return match[0] if match else ""


def containment_score(pred: str, ground_truth: str, task: str, manual: bool = False) -> float:
    ground_truth = ground_truth.strip()
    if task in EXACT_TASKS:
        return float(pred == ground_truth)
    if not manual:
        ground_truth = ground_truth.replace("’", "'").lower()
    pred = pred.replace("’", "'").lower()
    if ";" in ground_truth:
        parts = [part.strip().replace("’", "'") for part in ground_truth.split(";")]
        return float(all(part in pred for part in parts))
    return float(ground_truth in pred)


@metrics.register("mme_videoocr")
class MMEVideoOCRScore(Metric):
    """Fields: ``containment`` (auto: utils.py; manual: process_results.py), ``total`` (the
    hard-coded overall denominator), ``role`` (the translation judge)."""

    primary: ClassVar[str] = "acc"
    correct_key: ClassVar[str | None] = "score"

    containment: Literal["auto", "manual"] = "auto"
    total: int = 2000
    role: str = "judge"
    judge_max_new_tokens: int = 1024

    def roles(self) -> tuple[str, ...]:
        return (self.role,)

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        groups = {"task": sample.metadata.get("task"), "task_type": sample.metadata.get("task_type")}
        method = sample.metadata["eval_method"]
        groups["eval_method"] = method
        if prediction.text is None:
            return Extraction(None, "failed", details=groups)
        if method == "multiple_choice":
            letter = extract_characters_regex(prediction.text)
            return Extraction(letter or None, "rule" if letter else "failed", details=groups)
        assert sample.target is not None
        manual = self.containment == "manual"
        score = containment_score(prediction.text, sample.target, str(sample.metadata.get("task")), manual)
        return Extraction(prediction.text, "rule", details={**groups, "score": score})

    def extract_rounds(self, sample: Sample, prediction: Prediction) -> Rounds[Extraction]:
        if sample.metadata["eval_method"] != "gpt_assisted_scoring" or prediction.text is None:
            return self.extract(sample, prediction)
        assert sample.target is not None
        prompt = JUDGE_PROMPT.replace("SENTENCE_1", sample.target.strip()).replace(
            "SENTENCE_2", prediction.text
        )
        settings = GenerationSettings(max_new_tokens=self.judge_max_new_tokens, temperature=0.0)
        messages = (Message.system(JUDGE_SYSTEM), Message.user(prompt))
        (reply,) = yield [Request("generate", messages, settings=settings, role=self.role)]
        if reply.error is not None:
            return Extraction(None, "error", error=reply.error, failed_role=self.role)
        verdict = (reply.text or "").lower()
        score = 1.0 if "correct" in verdict else 0.0
        details = {
            "task": sample.metadata.get("task"),
            "task_type": sample.metadata.get("task_type"),
            "eval_method": "gpt_assisted_scoring",
            "judge_reply": reply.text,
            "score": score,
        }
        return Extraction(prediction.text, "judge", details=details)

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        if extraction.answer is None:
            return {"score": 0.0}
        if sample.metadata["eval_method"] == "multiple_choice":
            return {"score": float(extraction.answer == (sample.target or "").strip())}
        return {"score": float(extraction.details.get("score", 0.0))}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        total = sum(record.scores.get("score", 0.0) for record in records)
        headline = {
            "acc": MetricValue(total / self.total, n=self.total),
            "acc_of_run": mean_metrics(records, ["score"])["score"],
            "sum": MetricValue(total, n=len(records)),
        }
        breakdown: dict[str, dict[str, MetricValue]] = {}
        for field in ("task_type", "task", "eval_method"):
            groups: dict[str, list[SampleRecord]] = {}
            for record in records:
                groups.setdefault(str(record.details.get(field)), []).append(record)
            for value, group in sorted(groups.items()):
                breakdown[f"{field}/{value}"] = mean_metrics(group, ["score"])
        return Aggregate(headline, breakdown)
