"""MathVista's official answer extraction and scoring (lupantech/MathVista@53d5258,
evaluation/extract_answer.py and evaluation/calculate_score.py), ported line by line.

Extraction (``extract_answer``): an empty response -> ""; a multi_choice response that is one of
the choices -> it; answer_type integer and ``int(response)`` works -> ``str(int(response))``;
float and ``float(response)`` works -> ``str(float(response))``; with ``quick_extract`` (off by
default, as the script's flag) ``The answer is "(.*)"\\.`` -> the quoted text; else the judge (role
``judge``) gets ``demo_prompt.strip() + "\\n\\n" + query + "\\n\\n" + response + "\\n\\nExtracted answer: "``
and its stripped reply is the extraction. Field ``extraction: rules`` (profile ``rules``) asks no
judge: the shortcuts and quick_extract, else the extraction failed (counted wrong).

Scoring (``normalize_extracted_answer`` + ``safe_equal``): multi_choice: strip, "(x)" -> X, a
letter A.. -> that choice, else the Levenshtein-closest choice (the first of equals);
integer ``str(int(float(x)))``; float ``str(round(float(x), int(precision)))``; list ``str(x)``;
a failed conversion -> None (wrong). Right when equal to the answer string.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from mmlens.core.messages import Message, TextPart
from mmlens.core.parts import Aggregate, Extraction, Metric, Prediction, Rounds, SampleRecord, metrics
from mmlens.core.requests import GenerationSettings, Request
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import mean_aggregate, mean_metrics
from mmlens.tasks.mathvista.ext_ans import DEMO_PROMPT

JUDGE_ROLE = "judge"
QUICK_PATTERN = re.compile(r'The answer is "(.*)"\.')
_LETTER_IN_PARENS = re.compile(r"\(([a-zA-Z])\)")


def create_test_prompt(query: str, response: str, demo_prompt: str = DEMO_PROMPT) -> str:
    """``create_test_prompt``: the few-shot examples, the problem's query, the response."""
    return f"{demo_prompt.strip()}\n\n{query}\n\n{response}\n\nExtracted answer: "


def rule_extraction(
    response: str, question_type: str, answer_type: str, choices: list[str] | None, quick_extract: bool
) -> str | None:
    """``extract_answer`` before its judge call: the extraction, or None where the judge is asked."""
    if response == "":
        return ""
    if question_type == "multi_choice" and response in (choices or []):
        return response
    if answer_type == "integer":
        try:
            return str(int(response))
        except ValueError:
            pass
    if answer_type == "float":
        try:
            return str(float(response))
        except ValueError:
            pass
    if quick_extract:
        match = QUICK_PATTERN.search(response)
        if match:
            return match.group(1)
    return None


def levenshtein(a: str, b: str) -> int:
    """Edit distance with unit costs (``Levenshtein.distance``)."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def get_most_similar(prediction: str, choices: list[str]) -> str:
    distances = [levenshtein(prediction, choice) for choice in choices]
    return choices[distances.index(min(distances))]


def normalize_extracted_answer(
    extraction: Any,
    choices: list[str] | None,
    question_type: str,
    answer_type: str,
    precision: float | None,
    ignore_empty_extractions: bool = False,
) -> str | None:
    if question_type == "multi_choice":
        extraction = extraction.strip() if isinstance(extraction, str) else str(extraction)
        if ignore_empty_extractions and not extraction:
            return None
        letter = _LETTER_IN_PARENS.findall(extraction)
        if letter:
            extraction = letter[0].upper()
        options = choices or []
        sequential = [chr(ord("A") + i) for i in range(len(options))]
        if extraction in sequential:
            return options[sequential.index(extraction)]
        return get_most_similar(extraction, options)
    try:
        if answer_type == "integer":
            return str(int(float(extraction)))
        if answer_type == "float":
            return str(round(float(extraction), int(precision)))  # type: ignore[arg-type]
        if answer_type == "list":
            return str(extraction)
    except (ValueError, TypeError, OverflowError):
        return None
    return str(extraction)  # free-form text: the official script has no branch (UnboundLocalError)


@metrics.register("mathvista")
class MathVistaAccuracy(Metric):
    """acc = share of problems whose normalised extraction equals the answer; breakdowns by
    question_type, answer_type, language, source, category, task, context, grade and skills."""

    extraction: Literal["judge", "rules"] = "judge"
    quick_extract: bool = False
    ignore_empty_extractions: bool = False
    max_new_tokens: int = Field(1024, ge=1)  # models/gpt.py: max_tokens=1024, temperature=0
    temperature: float = Field(0.0, ge=0.0)

    def roles(self) -> tuple[str, ...]:
        return (JUDGE_ROLE,) if self.extraction == "judge" else ()

    def _details(self, sample: Sample, **extra: Any) -> dict[str, Any]:
        return {"mathvista": sample.metadata.get("mathvista_breakdown", {}), **extra}

    def _rules(self, sample: Sample, prediction: Prediction) -> Extraction | None:
        if prediction.text is None:
            return Extraction(None, "failed", details=self._details(sample))
        quick = self.quick_extract or self.extraction == "rules"
        found = rule_extraction(
            prediction.text,
            str(sample.metadata.get("question_type")),
            str(sample.metadata.get("answer_type")),
            sample.choices,
            quick,
        )
        if found is not None:
            return Extraction(
                found, "exact" if found == prediction.text else "rule", details=self._details(sample)
            )
        if self.extraction == "rules":
            return Extraction(None, "failed", details=self._details(sample))
        return None

    def judge_request(self, sample: Sample, response: str) -> Request:
        text = create_test_prompt(sample.question, response)
        settings = GenerationSettings(max_new_tokens=self.max_new_tokens, temperature=self.temperature)
        return Request("generate", (Message("user", (TextPart(text),)),), settings=settings, role=JUDGE_ROLE)

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        settled = self._rules(sample, prediction)
        if settled is not None:
            return settled
        return Extraction(
            None, "failed", details=self._details(sample, judge="not asked: scored without rounds")
        )

    def extract_rounds(self, sample: Sample, prediction: Prediction) -> Rounds[Extraction]:
        settled = self._rules(sample, prediction)
        if settled is not None:
            return settled
        assert prediction.text is not None
        (reply,) = yield [self.judge_request(sample, prediction.text)]
        extraction = (reply.text or "").strip()
        if not extraction:  # the official client retries until the reply is not empty
            return Extraction(None, "failed", details=self._details(sample, judge_reply=reply.text))
        return Extraction(extraction, "judge", details=self._details(sample))

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        if extraction.answer is None:
            return {"acc": 0.0}
        prediction = normalize_extracted_answer(
            extraction.answer,
            sample.choices,
            str(sample.metadata.get("question_type")),
            str(sample.metadata.get("answer_type")),
            sample.metadata.get("precision"),
            self.ignore_empty_extractions,
        )
        extraction.details["prediction"] = prediction
        return {"acc": float(prediction is not None and prediction == sample.target)}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        aggregate = mean_aggregate(records, ["acc"])
        groups: dict[str, list[SampleRecord]] = {}
        for record in records:
            for key, value in (record.details.get("mathvista") or {}).items():
                for item in value if isinstance(value, list) else [value]:
                    groups.setdefault(f"{key}={item}", []).append(record)
        aggregate.breakdown = {node: mean_metrics(subset, ["acc"]) for node, subset in sorted(groups.items())}
        return aggregate
