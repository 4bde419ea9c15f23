"""MME-RealWorld's official scorer (yfzhang114/MME-RealWorld, evaluation/eval_your_results.py).

``extract_characters_regex``: strip; delete the answer prefixes (the list keeps the official
script's missing commas, so "The best option isThe correct option is" and "Best answer:Best option:"
are single entries); more than 10 words and no A-E capital -> no answer; else the first capital
A-E anywhere in the text; else the first option whose "(X) text" contains the lower-cased response
(an empty response is contained in every option, so it answers "A", as officially). Right when
equal to the ground truth; accuracy is micro over questions at every level of the path.
"""

from __future__ import annotations

import re

from mmlens.core.parts import Aggregate, Extraction, Metric, Prediction, SampleRecord, metrics
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import mean_aggregate

ANSWER_PREFIXES = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option isThe correct option is",  # sic: the official list lacks a comma here
    "Best answer:Best option:",  # sic: and here
)
_LETTER = re.compile(r"[ABCDE]")


def extract_mme_realworld_letter(response: str, choice_lines: list[str]) -> Extraction:
    text = response.strip()
    for prefix in ANSWER_PREFIXES:
        text = text.replace(prefix, "")
    if len(text.split()) > 10 and not _LETTER.search(text):
        return Extraction(None, "failed")
    match = _LETTER.search(text)
    if match is not None:
        return Extraction(match.group(0), "exact" if response.strip() == match.group(0) else "rule")
    for line in choice_lines:
        if text.lower() in line.lower():
            return Extraction(line[1], "rule")
    return Extraction(None, "failed")


@metrics.register("mme_realworld")
class MMERealWorldAccuracy(Metric):
    """acc = share of questions whose extracted letter equals the ground truth (micro at every level)."""

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None:
            return Extraction(None, "failed")
        return extract_mme_realworld_letter(prediction.text, list(sample.metadata.get("choice_lines", [])))

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        return {"acc": float(extraction.answer is not None and extraction.answer == sample.target)}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        return mean_aggregate(records, ["acc"])
