"""MME's official scoring (eval_tool/calculation.py of the MME repository).

Extraction (``official``): the response is lower-cased, not stripped; exactly "yes" or "no" is
that answer, else "yes" and then "no" is looked for in its first four characters, else the
answer is "other" and wrong. ``lmms-eval`` first strips the response and removes every ".", and
maps a lone "y"/"n" to yes/no (lmms_eval/tasks/mme/utils.py).

Per subtask: acc = share of questions right, acc+ = share of images with both questions right,
score = 100·acc + 100·acc+ (max 200). perception = sum of the 10 perception subtask scores (max
2000), cognition = sum of the 4 cognition ones (max 800). Every node of the breakdown reports acc
and acc_plus pooled over its questions/images and ``score`` = the sum of its subtasks' scores.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Literal

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
from mmlens.metrics.aggregation import Leaf, LeafSums, stratified_bootstrap_aggregate
from mmlens.metrics.extractors import normalize_yes_no

MMEExtraction = Literal["official", "lmms-eval"]


def _yes_or_no_in_first_four(text: str) -> Extraction:
    prefix = text[:4]
    if "yes" in prefix:
        return Extraction("yes", "rule")
    if "no" in prefix:
        return Extraction("no", "rule")
    return Extraction(None, "failed")


def extract_mme_official(response: str) -> Extraction:
    text = response.lower()
    if text in ("yes", "no"):
        return Extraction(text, "exact")
    return _yes_or_no_in_first_four(text)


def extract_mme_lmms_eval(response: str) -> Extraction:
    text = response.lower().strip().replace(".", "")
    if text in ("yes", "no"):
        return Extraction(text, "exact")
    if len(text) == 1:
        single = {"y": "yes", "n": "no"}.get(text)
        return Extraction(single, "rule") if single else Extraction(None, "failed")
    return _yes_or_no_in_first_four(text)


MME_EXTRACTORS: dict[str, Callable[[str], Extraction]] = {
    "official": extract_mme_official,
    "lmms-eval": extract_mme_lmms_eval,
}


def image_counts(records: list[SampleRecord]) -> tuple[list[Leaf], list[list[float]], list[int]]:
    """One unit per image: [questions right, questions asked, all right (0|1), 1]."""
    tallies: dict[tuple[Leaf, str], list[int]] = {}
    for record in records:
        tally = tallies.setdefault((record.category, record.group or record.id), [0, 0])
        tally[0] += record.scores.get("acc") == 1.0
        tally[1] += 1
    leaves = [leaf for leaf, _ in tallies]
    counts = [[right, asked, float(right == asked), 1.0] for right, asked in tallies.values()]
    return leaves, counts, [asked for _, asked in tallies.values()]


def mme_statistic(sums: LeafSums) -> dict[str, np.ndarray]:
    """acc and acc_plus pooled over the node's questions/images; score = the sum of its subtask scores."""
    return _mme_values(sums, with_totals=False)


def mme_totals_statistic(sums: LeafSums) -> dict[str, np.ndarray]:
    """mme_statistic plus perception and cognition (sums of their subtask scores), for kinds present."""
    return _mme_values(sums, with_totals=True)


def _mme_values(sums: LeafSums, with_totals: bool) -> dict[str, np.ndarray]:
    pooled = np.sum(list(sums.values()), axis=0)
    totals: dict[str, np.ndarray] = {}
    for leaf, tally in sums.items():
        subtask_score = 100.0 * tally[:, 0] / tally[:, 1] + 100.0 * tally[:, 2] / tally[:, 3]
        kind = leaf[0] if leaf else ""
        totals[kind] = totals[kind] + subtask_score if kind in totals else subtask_score
    values = {
        "acc": pooled[:, 0] / pooled[:, 1],
        "acc_plus": pooled[:, 2] / pooled[:, 3],
        "score": np.sum(list(totals.values()), axis=0),
    }
    if with_totals:
        values.update({kind: totals[kind] for kind in ("perception", "cognition") if kind in totals})
    return values


@metrics.register("mme")
class MMEScore(Metric):
    """MME acc / acc+ / score per subtask, perception and cognition totals (official eval_tool rules)."""

    primary: ClassVar[str] = "score"
    extraction: MMEExtraction = "official"
    resamples: int = 1000

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        return extract_from_prediction(prediction, MME_EXTRACTORS[self.extraction], normalize_yes_no)

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        return {"acc": float(extraction.answer is not None and extraction.answer == sample.target)}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        leaves, counts, questions = image_counts(records)
        return stratified_bootstrap_aggregate(
            leaves, counts, questions, mme_statistic, self.resamples, root_statistic=mme_totals_statistic
        )
