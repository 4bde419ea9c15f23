"""POPE's official scoring (RUCAIBox/POPE evaluate.py; LLaVA's eval_pope.py is the same rule).

Extraction (``official``): keep the text before the first "."; remove commas; split on single
spaces; if one of the words is exactly ``No``, ``not`` or ``no`` the answer is "no", otherwise it
is "yes" (so an empty or unrelated response counts as "yes", as in the official script; "Not" is
not a no-word). ``lmms-eval``: the lower-cased, stripped response must be exactly "yes" or "no";
anything else is no answer (lmms_eval/tasks/pope/utils.py).

Metrics, positive = "yes": accuracy = right / all questions; precision = TP / (TP + FP); recall =
TP / (TP + FN); F1 = 2PR / (P + R); yes_ratio = share of questions whose *prediction* is "yes"
(``yes_ratio_from: answers`` gives lmms-eval's share of *reference* answers that are "yes").
A question with no answer (a failed request, or lmms-eval's non-yes/no reply) is wrong for
accuracy and counts in neither precision nor recall; a ratio with a zero denominator is 0 (as in
lmms-eval; the official script would stop with ZeroDivisionError). With several splits the
top-level numbers pool all questions (as lmms-eval's ``pope`` task does) and ``f1_avg`` /
``acc_avg`` average the per-split values (as LLaVA-1.5 reports POPE).

By likelihood (ChEF's hallucination desideratum, variant ``pope_likelihood``: the ``likelihood``
transform ranks "Yes" and "No" and answers with the word), ``zero_division: error``
stops, as ChEF's ``POPE_Metric`` does (a ZeroDivisionError there), when a split has no "yes"
prediction, no "yes" reference or no true positive (precision, recall or F1 undefined).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Literal

import numpy as np

from mmlens.core.errors import DataError
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
from mmlens.metrics.extractors import normalize_yes_no

NO_WORDS = ("No", "not", "no")


def extract_pope_official(response: str) -> Extraction:
    text = response.split(".")[0] if "." in response else response
    words = text.replace(",", "").split(" ")
    answer = "no" if any(word in words for word in NO_WORDS) else "yes"
    exact = response.strip().rstrip(".").lower() == answer
    return Extraction(answer, "exact" if exact else "rule")


def extract_pope_lmms_eval(response: str) -> Extraction:
    text = response.lower().strip()
    return Extraction(text, "exact") if text in ("yes", "no") else Extraction(None, "failed")


POPE_EXTRACTORS: dict[str, Callable[[str], Extraction]] = {
    "official": extract_pope_official,
    "lmms-eval": extract_pope_lmms_eval,
}


_OUTCOME: dict[tuple[str | None, str | None], int] = {
    ("yes", "yes"): 0,  # TP
    ("yes", "no"): 1,  # FP
    ("no", "yes"): 2,  # FN
    ("no", "no"): 3,  # TN
}


def image_counts(records: list[SampleRecord]) -> tuple[list[Leaf], list[list[float]], list[int]]:
    """One unit per image of a split: [TP, FP, FN, TN, questions, reference "yes"]; a question without
    an answer counts only in ``questions``."""
    tallies: dict[tuple[Leaf, str], list[float]] = {}
    for record in records:
        split = record.category[:1]
        tally = tallies.setdefault((split, record.group or record.id), [0.0] * 6)
        outcome = _OUTCOME.get((record.answer, record.target))
        if outcome is not None:
            tally[outcome] += 1
        tally[4] += 1
        tally[5] += record.target == "yes"
    leaves = [leaf for leaf, _ in tallies]
    counts = list(tallies.values())
    return leaves, counts, [int(tally[4]) for tally in counts]


def confusion_metrics(tally: np.ndarray, yes_ratio_from: str) -> dict[str, np.ndarray]:
    tp, fp, fn, tn, asked, reference_yes = (tally[:, column] for column in range(6))
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    return {
        "acc": ratio(tp + tn, asked),
        "precision": precision,
        "recall": recall,
        "f1": ratio(2 * precision * recall, precision + recall),
        "yes_ratio": ratio(reference_yes if yes_ratio_from == "answers" else tp + fp, asked),
    }


@metrics.register("pope")
class POPEMetrics(Metric):
    """POPE accuracy, precision, recall, F1 and yes-ratio (positive = yes), per split."""

    primary: ClassVar[str] = "f1"
    extraction: Literal["official", "lmms-eval"] = "official"
    yes_ratio_from: Literal["predictions", "answers"] = "predictions"
    resamples: int = 1000
    zero_division: Literal["zero", "error"] = "zero"

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        return extract_from_prediction(prediction, POPE_EXTRACTORS[self.extraction], normalize_yes_no)

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        return {"acc": float(extraction.answer is not None and extraction.answer == sample.target)}

    def statistic(self, sums: LeafSums) -> dict[str, np.ndarray]:
        values = confusion_metrics(np.sum(list(sums.values()), axis=0), self.yes_ratio_from)
        if len(sums) > 1:
            per_split = [confusion_metrics(tally, self.yes_ratio_from) for tally in sums.values()]
            values["f1_avg"] = np.mean([split["f1"] for split in per_split], axis=0)
            values["acc_avg"] = np.mean([split["acc"] for split in per_split], axis=0)
        return values

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        leaves, counts, questions = image_counts(records)
        if self.zero_division == "error":
            _require_defined(leaves, counts)
        return stratified_bootstrap_aggregate(leaves, counts, questions, self.statistic, self.resamples)


def _require_defined(leaves: list[Leaf], counts: list[list[float]]) -> None:
    """ChEF's POPE_Metric divides by TP + FP, TP + FN and P + R: each split needs a "yes"
    prediction, a "yes" reference and a true positive."""
    tallies: dict[Leaf, np.ndarray] = {}
    for leaf, row in zip(leaves, counts, strict=True):
        tallies[leaf] = tallies.get(leaf, np.zeros(6)) + np.asarray(row)
    for leaf, (tp, fp, fn, _tn, _asked, _yes) in sorted(tallies.items()):
        where = f"split {'/'.join(leaf)}" if leaf else "the run"
        if tp + fp == 0:
            raise DataError(f'POPE: {where} has no "yes" prediction, so precision is undefined (0/0)')
        if tp + fn == 0:
            raise DataError(f'POPE: {where} has no "yes" reference answered, so recall is undefined (0/0)')
        if tp == 0:
            raise DataError(f"POPE: {where} has no true positive, so F1 is undefined (0/0)")
