"""MMR's official scoring (evaluation/models/calculation.py of BAAI-DCAI/Multimodal-Robustness-Benchmark).

Extraction: keep the text before the first "."; replace commas with spaces; split on single
spaces; the answer is "A" if "A" is one of the words, else "B", else "C", else "D" (a fixed order,
not the first letter in the text; case-sensitive, so "(B)" or "b" is no answer); else no answer
(the official "E"), which is wrong.

Per pair (the positive and the leading negative question about one image, scored together):
both right -> robust; exactly one right and it is the positive question -> misled.
RA (robustness accuracy) = robust pairs / pairs; MR (misleading rate) = misled / (robust +
misled), 0 when that is 0 (the official per-category printout). Both by category and overall;
``acc`` is the plain question-level accuracy.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mmlens.core.parts import (
    Aggregate,
    Extraction,
    Metric,
    Prediction,
    SampleRecord,
    extract_from_prediction,
    metrics,
)
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import Leaf, LeafSums, ratio, stratified_bootstrap_aggregate

LETTER_ORDER = ("A", "B", "C", "D")


def extract_mmr_letter(response: str) -> Extraction:
    # The official model scripts strip the decoded output before calculation.py reads it.
    response = response.strip()
    text = response.split(".")[0] if "." in response else response
    words = text.replace(",", " ").split(" ")
    for letter in LETTER_ORDER:
        if letter in words:
            return Extraction(letter, "exact" if response.strip().rstrip(".") == letter else "rule")
    return Extraction(None, "failed")


def pair_counts(records: list[SampleRecord]) -> tuple[list[Leaf], list[list[float]], list[int]]:
    """One unit per pair: [robust (0|1), misled (0|1), questions right, questions, 1]."""
    pairs: dict[str, list[SampleRecord]] = {}
    for record in records:
        pairs.setdefault(record.group or record.id, []).append(record)
    leaves, counts = [], []
    for questions in pairs.values():
        right = [q for q in questions if q.scores.get("acc") == 1.0]
        robust = len(right) == len(questions)
        misled = not robust and len(right) == 1 and right[0].scores.get("positive_question") == 1.0
        leaves.append(questions[0].category)
        counts.append([float(robust), float(misled), float(len(right)), float(len(questions)), 1.0])
    return leaves, counts, [int(tally[3]) for tally in counts]


def pair_statistic(sums: LeafSums) -> dict[str, np.ndarray]:
    robust, misled, right, asked, pairs = (np.sum(list(sums.values()), axis=0)[:, i] for i in range(5))
    return {"ra": robust / pairs, "mr": ratio(misled, robust + misled), "acc": right / asked}


@metrics.register("mmr")
class MMRMetrics(Metric):
    """MMR robustness accuracy (RA) and misleading rate (MR) over question pairs, by category."""

    primary: ClassVar[str] = "ra"
    resamples: int = 1000

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        return extract_from_prediction(prediction, extract_mmr_letter, lambda answer: answer.strip().upper())

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        # positive_question travels with the record so that the pair rule can be applied at aggregation.
        return {
            "acc": float(extraction.answer is not None and extraction.answer == sample.target),
            "positive_question": float(sample.metadata.get("question_type") == "POS"),
        }

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        leaves, counts, questions = pair_counts(records)
        return stratified_bootstrap_aggregate(leaves, counts, questions, pair_statistic, self.resamples)
