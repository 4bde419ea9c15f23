"""LLaVA-Bench's GPT-4 review (haotian-liu/LLaVA@181a2f8 ``llava/eval/eval_gpt_review_bench.py``,
``summarize_gpt_review.py``, ``table/rule.json``) through the ``judge`` role.

Review request: system "You are a helpful and precise assistant for checking the quality of the
answer.", user ``[Context]\\n{caption}\\n\\n[Question]\\n{question}\\n\\n[Assistant 1]\\n{GPT-4
answer}\\n\\n[End of Assistant 1]\\n\\n[Assistant 2]\\n{answer}\\n\\n[End of Assistant 2]\\n\\n
[System]\\n{rule}\\n\\n`` with the rule of ``llava_bench_<category>`` (``rule.json`` in this folder),
temperature 0.2, ``max_tokens`` 1024. ``caption`` is ``"\\n".join(context["caption"])`` (official:
a string caption is joined character by character; ``caption_join: lmms_eval`` joins lists only).

``parse_score``: the first line, commas -> spaces, ``split(" ")``: exactly two tokens -> two floats,
else (or a float error) ``[-1, -1]``. A ``[-1, -1]`` review is extraction ``failed`` (counted) and
**kept in the means**, as the official summary keeps it.

Summary per category and ``all``: the column means of the pairs, each rounded to 3 places
(``rounding: official``; ``vlmevalkit``: not rounded), relative score
``round(model / reference * 100, 1)``.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal

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

JUDGE_ROLE = "judge"
RULE_FILE = Path(__file__).resolve().parent / "rule.json"
SYSTEM = "You are a helpful and precise assistant for checking the quality of the answer."
CATEGORIES = ("conv", "detail", "complex")


@cache
def rules() -> dict[str, dict[str, str]]:
    return json.loads(RULE_FILE.read_text(encoding="utf-8"))


def parse_score(review: str | None) -> list[float]:
    """The official ``parse_score``: two floats from the first line, else ``[-1, -1]``."""
    try:
        pair = review.split("\n")[0].replace(",", " ").split(" ")  # type: ignore[union-attr]
        if len(pair) == 2:
            return [float(pair[0]), float(pair[1])]
        return [-1, -1]
    except (AttributeError, ValueError):
        return [-1, -1]


def join_caption(caption: Any, mode: str) -> str:
    if mode == "lmms_eval" and not isinstance(caption, list):
        return str(caption)
    return "\n".join(caption)


def review_content(caption: str, question: str, reference: str, answer: str, category: str) -> str:
    rule = rules()[f"llava_bench_{category}"]
    role, prompt = rule["role"], rule["prompt"]
    return (
        f"[Context]\n{caption}\n\n"
        f"[Question]\n{question}\n\n"
        f"[{role} 1]\n{reference}\n\n[End of {role} 1]\n\n"
        f"[{role} 2]\n{answer}\n\n[End of {role} 2]\n\n"
        f"[System]\n{prompt}\n\n"
    )


def relative(pairs: list[tuple[float, float]], round_means: bool) -> dict[str, MetricValue]:
    if not pairs:
        return {"relative": MetricValue(math.nan, n=0)}
    reference = sum(p[0] for p in pairs) / len(pairs)
    model = sum(p[1] for p in pairs) / len(pairs)
    if round_means:
        reference, model = round(reference, 3), round(model, 3)
    value = round(model / reference * 100, 1) if reference else math.nan
    n = len(pairs)
    return {
        "relative": MetricValue(value, n=n),
        "reference_score": MetricValue(reference, n=n),
        "model_score": MetricValue(model, n=n),
    }


@metrics.register("llava_bench")
class LlavaBenchReview(Metric):
    """Relative score = model / GPT-4 mean review score x 100, per category and overall.

    Fields: judge_max_new_tokens (1024), judge_temperature (0.2), rounding (official: means to 3
    places first; vlmevalkit: not), caption_join (official, lmms_eval)."""

    primary: ClassVar[str] = "relative"
    correct_key: ClassVar[str | None] = None
    judge_max_new_tokens: int = Field(1024, ge=1)
    judge_temperature: float = Field(0.2, ge=0.0)
    rounding: Literal["official", "vlmevalkit"] = "official"
    caption_join: Literal["official", "lmms_eval"] = "official"

    def roles(self) -> tuple[str, ...]:
        return (JUDGE_ROLE,)

    def review_request(self, sample: Sample, answer: str) -> Request:
        category = str(sample.metadata["category"])
        caption = join_caption(sample.metadata["caption"], self.caption_join)
        text = review_content(caption, sample.question, str(sample.target), answer, category)
        settings = GenerationSettings(
            max_new_tokens=self.judge_max_new_tokens, temperature=self.judge_temperature
        )
        messages = (Message.system(SYSTEM), Message("user", (TextPart(text),)))
        return Request("generate", messages, settings=settings, role=JUDGE_ROLE)

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        raise NotImplementedError("LLaVA-Bench is reviewed by the judge in extract_rounds")

    def extract_rounds(self, sample: Sample, prediction: Prediction) -> Rounds[Extraction]:
        (reply,) = yield [self.review_request(sample, prediction.text or "")]
        pair = parse_score(reply.text)
        details = {"review": reply.text, "tuple": pair, "category": sample.metadata["category"]}
        if pair == [-1, -1]:
            return Extraction(None, "failed", details=details)
        return Extraction(f"{pair[0]:g} {pair[1]:g}", "judge", details=details)

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        pair = parse_score(extraction.answer) if extraction.answer is not None else [-1, -1]
        return {
            "reference_score": pair[0],
            "model_score": pair[1],
            "relative": pair[1] / pair[0] * 100 if pair[0] else math.nan,
        }

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        round_means = self.rounding == "official"

        def pairs(subset: list[SampleRecord]) -> list[tuple[float, float]]:
            return [(r.scores["reference_score"], r.scores["model_score"]) for r in subset]

        values = relative(pairs(records), round_means)
        breakdown = {}
        for category in CATEGORIES:
            subset = [r for r in records if r.category[:1] == (category,)]
            if subset:
                breakdown[category] = relative(pairs(subset), round_means)
                values[f"relative_{category}"] = breakdown[category]["relative"]
        return Aggregate(values, breakdown)
