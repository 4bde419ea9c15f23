"""``harness_mcq``: option-letter accuracy under one harness's rule (see ``harness_rules``).

AI2D, ScienceQA-IMG and RealWorldQA have no official scorer; each rule reproduces one harness
exactly, and ``rule`` names it. A response from which the rule reads no letter (or, for
RealWorldQA's open answers, nothing) is a failed extraction, scored wrong, as the harness scores it.
Aggregate: micro accuracy with a Wilson 95% interval, per category node too.
"""

from __future__ import annotations

import re
from typing import Literal

from mmlens.core.options import LETTERS
from mmlens.core.parts import Aggregate, Extraction, Metric, Prediction, SampleRecord, metrics
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import mean_aggregate
from mmlens.tasks.ai2d.harness_rules import (
    PUNCTUATION_DELETION,
    lmms_eval_ai2d_filter,
    lmms_eval_realworldqa_correct,
    vlmevalkit_extraction,
)

Rule = Literal["lmms_eval_ai2d", "lmms_eval_scienceqa", "lmms_eval_realworldqa", "vlmevalkit"]
_LINE_OPTION = re.compile(r"^([A-Z])\.\s+(.*?)\s*$", re.MULTILINE)


def sample_options(sample: Sample) -> dict[str, str]:
    """letter -> option text: the sample's choices, else the "A. ..." lines of its question."""
    if sample.choices:
        return {LETTERS[i]: choice for i, choice in enumerate(sample.choices)}
    return {letter: text for letter, text in _LINE_OPTION.findall(sample.question)}


def extract_ai2d_lmms_eval(response: str) -> Extraction:
    compared = lmms_eval_ai2d_filter(response)
    normalized = compared.lower().translate(PUNCTUATION_DELETION)
    if len(normalized) == 1 and normalized.isalpha():
        return Extraction(normalized.upper(), "exact" if response.strip() == normalized.upper() else "rule")
    return Extraction(None, "failed", details={"compared": compared})


def extract_scienceqa_lmms_eval(response: str) -> Extraction:
    pred = response.strip()
    if len(pred) == 1 and pred.lower() != pred.upper():
        return Extraction(pred.upper(), "exact")
    if len(pred) >= 2 and pred[0].isupper() and pred[1] == ".":
        return Extraction(pred[0].upper(), "rule")
    return Extraction(None, "failed")


def extract_realworldqa_lmms_eval(response: str, target: str) -> Extraction:
    compared, _ = lmms_eval_realworldqa_correct(response, target)
    if not compared:
        return Extraction(None, "failed")
    return Extraction(compared, "exact" if response.strip() == compared else "rule")


@metrics.register("harness_mcq")
class HarnessMultipleChoice(Metric):
    """acc = share of questions the harness rule ``rule`` scores right (see the module doc)."""

    rule: Rule

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None or not prediction.text.strip():
            return Extraction(None, "failed")
        text = prediction.text
        if self.rule == "lmms_eval_ai2d":
            return extract_ai2d_lmms_eval(text)
        if self.rule == "lmms_eval_scienceqa":
            return extract_scienceqa_lmms_eval(text)
        if self.rule == "lmms_eval_realworldqa":
            return extract_realworldqa_lmms_eval(text, sample.target or "")
        return vlmevalkit_extraction(text, sample_options(sample))

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        target = (sample.target or "").strip()
        answer = extraction.answer
        if answer is None:
            return {"acc": 0.0}
        if self.rule == "lmms_eval_realworldqa" and target.upper() not in ("A", "B", "C", "D"):
            return {"acc": float(answer == target.lower())}
        return {"acc": float(answer.lower() == target.lower())}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        return mean_aggregate(records, ["acc"])
