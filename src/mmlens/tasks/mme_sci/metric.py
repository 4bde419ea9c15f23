"""MME-SCI's extraction, judge and accuracy (JCruan519/MME-SCI@3c5eeb7 ``model_eval/get_judge_res.py``,
``EvalPromptFiles.py``, ``get_metrices_res.py``) through the ``judge`` role.

Extraction (``--w_extraction``, set by the official run script): ``if '_zh' or '_en' in name`` is
always true, so every language uses ``\\\\boxed\\{(.*)\\}|最终答案\\s*(.*)|Final Answer\\s*(.*)`` with
``re.DOTALL`` (``extraction: official``); the first non-empty group, stripped; no match or only
empty groups -> the whole response. ``extraction: per_language`` (the intended branches, not
official) uses the language's own marker (Réponse finale, Respuesta final, 最終答え).

Judge: system ``judge_system.txt``, user ``judge_prompt.txt`` with the question and its first four
options joined by spaces, the answer and the extracted response; temperature 0, ``max_tokens`` 256.
Verdict: ``0 if 'incorrect' in reply.strip().lower() else 1`` (so any reply without "incorrect",
an empty one too, is correct). A reply the official code cannot read (None) is a counted failure:
the item is left out of the accuracy, as the official script leaves out items whose judge failed.

Accuracy: correct / judged x 100, per ``course`` and overall, 2 decimals (the printed ``:.2f``).
"""

from __future__ import annotations

import math
import re
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
FOLDER = Path(__file__).resolve().parent
OFFICIAL_PATTERN = re.compile(r"\\boxed\{(.*)\}|最终答案\s*(.*)|Final Answer\s*(.*)", re.DOTALL)
LANGUAGE_PATTERNS = {
    "fr": re.compile(r"\\boxed\{(.*)\}|Réponse finale\s*(.*)|Final Answer\s*(.*)", re.DOTALL),
    "es": re.compile(r"\\boxed\{(.*)\}|Respuesta final\s*(.*)|Final Answer\s*(.*)", re.DOTALL),
    "ja": re.compile(r"\\boxed\{(.*)\}|最終答え\s*(.*)|Final Answer\s*(.*)", re.DOTALL),
}


@cache
def judge_texts() -> tuple[str, str]:
    return (
        (FOLDER / "judge_system.txt").read_text(encoding="utf-8"),
        (FOLDER / "judge_prompt.txt").read_text(encoding="utf-8"),
    )


def extract_answer(response: str, pattern: re.Pattern[str] = OFFICIAL_PATTERN) -> tuple[str, bool]:
    """(the text the judge sees, whether the pattern gave it)."""
    match = pattern.search(response)
    if match:
        found = next((group for group in match.groups() if group), None)
        if found and found.strip():
            return found.strip(), True
        if found:  # a group of spaces: .strip() leaves "", which the official code still sends
            return "", True
    return response, False


def verdict(reply: str) -> int:
    return 0 if "incorrect" in reply.strip().lower() else 1


@metrics.register("mme_sci")
class MMESciJudge(Metric):
    """Judged accuracy in % (see the module doc). Fields: extraction (official, per_language, none),
    language (for per_language), judge_max_new_tokens (256)."""

    primary: ClassVar[str] = "acc"
    correct_key: ClassVar[str | None] = "acc"
    extraction: Literal["official", "per_language", "none"] = "official"
    language: Literal["image", "zh", "en", "fr", "es", "ja"] = "en"
    judge_max_new_tokens: int = Field(256, ge=1)

    def roles(self) -> tuple[str, ...]:
        return (JUDGE_ROLE,)

    def pattern(self) -> re.Pattern[str]:
        if self.extraction == "per_language":
            return LANGUAGE_PATTERNS.get(self.language, OFFICIAL_PATTERN)
        return OFFICIAL_PATTERN

    def judge_request(self, sample: Sample, answer: str) -> Request:
        system, template = judge_texts()
        text = template.format(
            question=sample.metadata["raw_question_and_options"],
            standard_answer=sample.target,
            ai_respond=answer,
        )
        settings = GenerationSettings(max_new_tokens=self.judge_max_new_tokens, temperature=0.0)
        return Request(
            "generate",
            (Message.system(system), Message("user", (TextPart(text),))),
            settings=settings,
            role=JUDGE_ROLE,
        )

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        raise NotImplementedError("MME-SCI is judged in extract_rounds")

    def extract_rounds(self, sample: Sample, prediction: Prediction) -> Rounds[Extraction]:
        if prediction.text is None:  # the official script writes no line for a failed model call
            return Extraction(None, "failed", details={"judge": "not asked: no response"})
        if self.extraction == "none":
            answer, matched = prediction.text, False
        else:
            answer, matched = extract_answer(prediction.text, self.pattern())
        (reply,) = yield [self.judge_request(sample, answer)]
        details = {"extracted": answer, "pattern_matched": matched, "judge_reply": reply.text}
        if reply.text is None:
            return Extraction(None, "failed", details={**details, "judge": "no reply text: left out"})
        code = verdict(reply.text)
        return Extraction(
            "correct" if code else "incorrect", "judge", details={**details, "judge_answer": code}
        )

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        judged = extraction.answer is not None
        return {"acc": float(extraction.answer == "correct"), "judged": float(judged)}

    @staticmethod
    def _accuracy(records: list[SampleRecord]) -> MetricValue:
        values = [r.scores["acc"] for r in records if r.scores.get("judged") == 1.0]
        if not values:
            return MetricValue(math.nan, n=0)
        low, high = mean_interval(values)
        return MetricValue(round(sum(values) / len(values) * 100, 2), low * 100, high * 100, len(values))

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        courses: dict[str, list[SampleRecord]] = {}
        for record in records:
            courses.setdefault(record.category[0] if record.category else "", []).append(record)
        values = {"acc": self._accuracy(records)}
        values["left_out"] = MetricValue(float(sum(1 for r in records if r.scores.get("judged") != 1.0)))
        return Aggregate(
            values, {course: {"acc": self._accuracy(subset)} for course, subset in courses.items()}
        )
