"""MMDU's judge and aggregation (Liuziyu77/MMDU@98a1a39 ``scores/prompt.py``, ``scores/statistic.py``).

Judge, per turn j of a dialogue (``prompt.py``): ``judge_prompt.txt`` (the script's ``meta_prompt``
byte for byte) + ``"[Question]\\n" + question_j + "\\n\\n[The Start of Reference Answer]\\n" +
reference_j + "\\n[The End of Reference Answer]\\n\\n[The Start of Assistant’s Answer]\\n" +
answer_j + "\\n[The End of Assistant’s Answer]"``; system "You are a helpful assistant.", the
dialogue's images after the text, ``max_tokens=4096`` and no temperature (the API's default, 1.0).

Reading a reply (``prompt.py``): ``reply[reply.find('{'):reply.rfind('}') + 1]`` evaluated
(here ``ast.literal_eval``: literals only, never code), then ``scores += result["Overall Score"]``:
a reply whose span is not a dict literal, or whose "Overall Score" is missing or not a number, is
dropped by the script's ``except`` (here: the turn is ``unparsed``, counted in
``judging.failures.unparsed`` through the record).

Aggregation (``statistic.py``), per dialogue file then over all files:

- a kept turn lacking one of the six dimensions adds nothing and is not counted (``assert k in item``);
- otherwise the seven values are added one by one in the script's order (Creativity, Richness,
  Visual Perception, Logical Coherence, Answer Accuracy, Image Relationship Understanding, Overall
  Score); a value that is not a number raises there, after the earlier ones were added: partial
  sums stay, the turn is not counted;
- a dialogue with no counted turn contributes nothing (its partial sums are dropped too);
- each dimension's average = its total over all dialogues / the number of counted turns (a micro
  mean over turns), on the judge's 1-10 scale, not rounded, not clipped. ``scale`` multiplies them
  (profile ``paper``: x 10, the scale the paper's tables use).

``protocol: vlmevalkit`` (VLMEvalKit ``vlmeval/dataset/utils/mmdu.py`` ``mmdu_score`` and
``MMDUDataset.calculat_metric``): the same prompt as the only message (no system message, no
images), temperature 0; a reply that does not evaluate counts as all seven values None; per
dimension and turn, a value present and not None is ``int()``-ed and clipped to 0-10 (else not
valid); headline = sum / turns x 10 (VLMEvalKit's ``all`` row), breakdown ``valid`` = sum / valid
values x 10.
"""

from __future__ import annotations

import ast
import math
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from mmlens.core.messages import ImagePart, Message, TextPart
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
from mmlens.metrics.judge_governance import JUDGE_PARSE_KEY, parsed_reply, unparsed_reply

JUDGE_ROLE = "judge"
PROMPT_FILE = Path(__file__).resolve().parent / "judge_prompt.txt"
SYSTEM = "You are a helpful assistant."
DIMENSIONS = (
    "Creativity",
    "Richness",
    "Visual Perception",
    "Logical Coherence",
    "Answer Accuracy",
    "Image Relationship Understanding",
)
OVERALL = "Overall Score"
SUMMED = (*DIMENSIONS, OVERALL)  # statistic.py's order of additions


def metric_name(key: str) -> str:
    return key.lower().replace(" ", "_")


@cache
def meta_prompt() -> str:
    return PROMPT_FILE.read_text(encoding="utf-8")


def judge_text(question: str, reference: str, answer: str) -> str:
    return (
        meta_prompt()
        + "[Question]\n"
        + question
        + "\n\n[The Start of Reference Answer]\n"
        + reference
        + "\n[The End of Reference Answer]\n\n[The Start of Assistant’s Answer]\n"
        + answer
        + "\n[The End of Assistant’s Answer]"
    )


def _is_number(value: Any) -> bool:
    # ``scores += value`` / ``total += value`` with an int or float total (bool is an int)
    return isinstance(value, int | float)


def parse_verdict(reply: str | None) -> dict[Any, Any] | None:
    """The dict prompt.py keeps from a reply, or None where its ``try`` fails (the turn is dropped)."""
    if reply is None:
        return None
    span = reply[reply.find("{") : reply.rfind("}") + 1]
    try:
        value = ast.literal_eval(span)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if not isinstance(value, dict) or OVERALL not in value or not _is_number(value[OVERALL]):
        return None
    return value


def turn_sums(verdict: dict[Any, Any]) -> tuple[dict[str, float], bool]:
    """What statistic.py adds for one kept turn, and whether the turn is counted."""
    if any(key not in verdict for key in DIMENSIONS):
        return {}, False
    added: dict[str, float] = {}
    for key in SUMMED:
        value = verdict.get(key)
        if not isinstance(value, int | float):  # ``total += value`` raises: the turn stops here
            return added, False
        added[key] = float(value)
    return added, True


@metrics.register("mmdu")
class MMDUJudge(Metric):
    """Six dimensions and the judge's overall score per turn; micro means over counted turns.

    Fields: judge_max_new_tokens (4096), judge_temperature (1.0: the script sets none), scale (1:
    the 1-10 averages statistic.py prints; profile ``paper``: 10)."""

    primary: ClassVar[str] = "overall_score"
    correct_key: ClassVar[str | None] = None
    judge_max_new_tokens: int = Field(4096, ge=1)
    judge_temperature: float = Field(1.0, ge=0.0)
    scale: float = 1.0
    protocol: Literal["official", "vlmevalkit"] = "official"

    def roles(self) -> tuple[str, ...]:
        return (JUDGE_ROLE,)

    def judge_prompt_templates(self) -> dict[str, str]:
        return {"judge_prompt.txt": meta_prompt(), "system": SYSTEM}

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        raise NotImplementedError("MMDU is judged per turn in extract_rounds")

    def extract_rounds(self, sample: Sample, prediction: Prediction) -> Rounds[Extraction]:
        questions = [message.text for message in sample.messages if message.role == "user"]
        references = list(sample.metadata.get("references") or [])
        answers = list((prediction.details or {}).get("turns") or [])
        if not answers and prediction.text is not None:
            answers = [prediction.text]
        if len(answers) != len(questions):
            return Extraction(
                None,
                "failed",
                details={"turns": [], "why": f"{len(answers)} answers for {len(questions)} turns"},
            )
        images = tuple(ImagePart(image) for image in sample.images)
        settings = GenerationSettings(
            max_new_tokens=self.judge_max_new_tokens, temperature=self.judge_temperature
        )

        def messages(text: str) -> tuple[Message, ...]:
            if self.protocol == "vlmevalkit":  # model.generate(prompt): text only
                return (Message.user(text),)
            return (Message.system(SYSTEM), Message("user", (TextPart(text), *images)))

        requests = [
            Request("generate", messages(judge_text(q, r, a)), settings=settings, role=JUDGE_ROLE)
            for q, r, a in zip(questions, references, answers, strict=True)
        ]
        replies = yield requests
        if self.protocol == "vlmevalkit":
            return vlmevalkit_turns([reply.text for reply in replies])
        turns: list[dict[str, Any]] = []
        for reply in replies:
            verdict = parse_verdict(reply.text)
            if verdict is None:
                turns.append({"judge_parse": "unparsed"})
                continue
            added, is_counted = turn_sums(verdict)
            turns.append({"judge_parse": "parsed", "added": added, "counted": is_counted})
        raw = [reply.text for reply in replies]
        if all(turn["judge_parse"] == "unparsed" for turn in turns):
            return unparsed_reply(raw[0] if len(raw) == 1 else None, judge_replies=raw, turns=turns)
        parse = "unparsed" if any(turn["judge_parse"] == "unparsed" for turn in turns) else "parsed"
        counted = [turn["added"][OVERALL] for turn in turns if turn.get("counted")]
        summary = repr(sum(counted) / len(counted)) if counted else "no counted turn"
        extraction = parsed_reply(summary, raw[0] if len(raw) == 1 else None, judge_replies=raw, turns=turns)
        extraction.details[JUDGE_PARSE_KEY] = parse
        return extraction

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        turns = extraction.details.get("turns") or []
        if self.protocol == "vlmevalkit":
            valid = [t["values"][OVERALL] for t in turns if (t.get("values") or {}).get(OVERALL) is not None]
            overall = sum(valid) / len(valid) * 10 if valid else math.nan
            return {"overall_score": overall, "turns": float(len(turns))}
        counted = [turn["added"][OVERALL] for turn in turns if turn.get("counted")]
        overall = sum(counted) / len(counted) * self.scale if counted else math.nan
        return {"overall_score": overall, "counted_turns": float(len(counted)), "turns": float(len(turns))}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        if self.protocol == "vlmevalkit":
            return vlmevalkit_aggregate(records)
        totals: dict[str, float] = defaultdict(float)
        count = 0
        judged = unparsed = 0
        for record in records:
            file_totals: dict[str, float] = defaultdict(float)
            file_count = 0
            for turn in (record.details or {}).get("turns") or []:
                judged += 1
                if turn.get("judge_parse") != "parsed":
                    unparsed += 1
                    continue
                for key, value in turn["added"].items():
                    file_totals[key] += value
                file_count += 1 if turn["counted"] else 0
            if file_count:
                for key, value in file_totals.items():
                    totals[key] += value
                count += file_count
        values: dict[str, MetricValue] = {}
        for key in SUMMED:
            mean = totals[key] / count * self.scale if count and key in totals else math.nan
            values[metric_name(key)] = MetricValue(mean, n=count)
        values["counted_turns"] = MetricValue(float(count), n=judged)
        values["unparsed_turns"] = MetricValue(float(unparsed), n=judged)
        return Aggregate(values, {})


def vlmevalkit_value(value: Any) -> int | None:
    """``np.clip(int(line[k]), 0, 10)``, or None where the value is missing, None or ``int()`` fails."""
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return min(max(number, 0), 10)


def vlmevalkit_turns(replies: list[str | None]) -> Extraction:
    turns: list[dict[str, Any]] = []
    for reply in replies:
        span = "" if reply is None else reply[reply.find("{") : reply.rfind("}") + 1]
        try:
            verdict = ast.literal_eval(span)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            verdict = None
        if not isinstance(verdict, dict):  # the except branch: {d: None for d in DIMS}
            turns.append({"judge_parse": "unparsed", "values": dict.fromkeys(SUMMED)})
            continue
        values = {key: vlmevalkit_value(verdict.get(key)) for key in SUMMED}
        turns.append({"judge_parse": "parsed", "values": values})
    raw = [r for r in replies]
    if all(turn["judge_parse"] == "unparsed" for turn in turns):
        return unparsed_reply(raw[0] if len(raw) == 1 else None, judge_replies=raw, turns=turns)
    extraction = parsed_reply("judged", raw[0] if len(raw) == 1 else None, judge_replies=raw, turns=turns)
    if any(turn["judge_parse"] == "unparsed" for turn in turns):
        extraction.details[JUDGE_PARSE_KEY] = "unparsed"
    return extraction


def vlmevalkit_aggregate(records: list[SampleRecord]) -> Aggregate:
    sums: dict[str, float] = defaultdict(float)
    valid: dict[str, int] = defaultdict(int)
    total = 0
    for record in records:
        for turn in (record.details or {}).get("turns") or []:
            total += 1
            for key, value in (turn.get("values") or {}).items():
                if value is not None:
                    sums[key] += value
                    valid[key] += 1
    headline = {
        metric_name(k): MetricValue(sums[k] / total * 10 if total else math.nan, n=total) for k in SUMMED
    }
    valid_set = {
        metric_name(k): MetricValue(sums[k] / valid[k] * 10 if valid[k] else math.nan, n=valid[k])
        for k in SUMMED
    }
    return Aggregate(headline, {"valid": valid_set})
