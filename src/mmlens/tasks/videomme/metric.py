"""Video-MME's scorer (thanku-all/parse_answer@afd52cf ``eval_your_results.py``, linked from
MME-Benchmarks/Video-MME).

Extraction ``extract_characters_regex``: strip; remove each answer prefix wherever it occurs (the
list has two missing commas, so ``"The best option isThe correct option is"`` and
``"Best answer:Best option:"`` are single never-matching entries); more than 10 words and no
capital A-D -> ""; else the first capital A-D anywhere (inside words too), else "".
Denominator: only answered questions (non-empty extraction) count; ``acc`` = correct / answered,
overall and per duration, domain, sub-category and task type (sums over durations, as the
script's whole-dataset lines). ``acc_all`` divides by every question; ``n_unparsed`` counts the
rest. Profiles: the 2024-06-03 first scorer (fewer prefixes), lmms-eval <= 0.7.1 (that regex,
every question counts), lmms-eval >= 0.7.2 (``extract_mcq_answer``, every question counts),
VLMEvalKit ('' becomes 'Z', wrong, every question counts).

lmms-eval 0.7.2 (EvolvingLMMs-Lab/lmms-eval@cb45ac4 = v0.7.2, unchanged at 75571cf)
tasks/videomme/utils.py:256 ``extract_characters_regex`` returns
``extract_mcq_answer(s, choices=["A", "B", "C", "D"])`` (tasks/_task_utils/mcq_extract.py: the
highest-priority format, start 10 > end 9 > answer phrase 7 > "(A)" 6 > "A." 5 > "A:" 4 > "A)" 3 >
"A " 2, the last occurrence within it, any capital A-D only where no format matched); the
aggregation counts every result (``answered += 1`` per question). That rule is shared with
RealWorldQA's lmms-eval profile (mmlens.tasks.ai2d.harness_rules.extract_mcq_answer).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from mmlens.core.parts import (
    Aggregate,
    Extraction,
    ExtractionMethod,
    Metric,
    MetricValue,
    Prediction,
    SampleRecord,
    metrics,
)
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import mean_metrics
from mmlens.tasks.ai2d.harness_rules import extract_mcq_answer

FIRST_PREFIXES = [
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option isThe correct option is",  # noqa: ISC001 - the official missing comma
    "Best answer:Best option:",  # noqa: ISC001 - the official missing comma
]
OFFICIAL_PREFIXES = [*FIRST_PREFIXES, "Answer:", "Option:", "The correct answer", "The correct option"]
PREFIXES = {"official": OFFICIAL_PREFIXES, "videomme_20240603": FIRST_PREFIXES}
BREAKDOWNS = ("duration", "domain", "sub_category", "task_type")


def extract_characters_regex(text: str, prefixes: list[str] = OFFICIAL_PREFIXES) -> str:
    text = text.strip()
    for prefix in prefixes:
        text = text.replace(prefix, "")
    if len(text.split()) > 10 and not re.search("[ABCD]", text):
        return ""
    match = re.search(r"[ABCD]", text)
    return match[0] if match else ""


def lmms_eval_mcq(text: str, prefixes: list[str]) -> str:
    """lmms-eval >= 0.7.2's Video-MME extraction (no prefixes: its answer phrases are its own)."""
    return extract_mcq_answer(text, ("A", "B", "C", "D"))


# extractor name -> (response, answer prefixes) -> letter or ""
EXTRACTORS: dict[str, Callable[[str, list[str]], str]] = {
    "regex": extract_characters_regex,
    "lmms_eval_mcq": lmms_eval_mcq,
}


@metrics.register("videomme")
class VideoMMEAccuracy(Metric):
    """Fields: ``extractor`` (regex: the official ``extract_characters_regex``; lmms_eval_mcq:
    lmms-eval >= 0.7.2), ``prefixes`` of the regex (official, videomme_20240603),
    ``denominator`` (answered: the official rule; all: lmms-eval / VLMEvalKit), ``unparsed_as_z``
    (VLMEvalKit)."""

    primary = "acc"
    correct_key = "correct"

    extractor: Literal["regex", "lmms_eval_mcq"] = "regex"
    prefixes: Literal["official", "videomme_20240603"] = "official"
    denominator: Literal["answered", "all"] = "answered"
    unparsed_as_z: bool = False

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        groups = {field: sample.metadata.get(field) for field in BREAKDOWNS}  # for the breakdowns
        if prediction.text is None:
            return Extraction(None, "failed", details=groups)
        letter = EXTRACTORS[self.extractor](prediction.text, PREFIXES[self.prefixes])
        if not letter:
            answer = "Z" if self.unparsed_as_z else None
            return Extraction(answer, "failed", details={**groups, "extracted": ""})
        method: ExtractionMethod = "exact" if prediction.text.strip() == letter else "rule"
        return Extraction(letter, method, details=groups)

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        correct = float(extraction.answer is not None and extraction.answer == sample.target)
        answered = extraction.method != "failed"
        scores = {"correct": correct, "acc_all": correct}
        if answered or self.denominator == "all":
            scores["acc"] = correct
        return scores

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        names = ["acc", "acc_all"]
        headline = mean_metrics(records, names)
        unparsed = sum(1 for record in records if record.extraction == "failed")
        headline["n_unparsed"] = MetricValue(float(unparsed), n=len(records))
        headline["n_answered"] = MetricValue(float(len(records) - unparsed), n=len(records))
        breakdown: dict[str, dict[str, MetricValue]] = {}
        for field in BREAKDOWNS:
            groups: dict[str, list[SampleRecord]] = {}
            for record in records:
                groups.setdefault(str(record.details.get(field)), []).append(record)
            for value, group in sorted(groups.items()):
                breakdown[f"{field}/{value}"] = mean_metrics(group, names)
        return Aggregate(headline, breakdown)
