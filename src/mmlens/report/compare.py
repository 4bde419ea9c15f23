"""Comparing two runs of one task on the samples both scored: flips, a paired test, per-category deltas.

Right and wrong are read from each record's ``correct``. Samples right or wrong in both runs are
compared with McNemar's exact test; when no sample is, samples with a numeric ``score`` in both runs
are compared by the paired bootstrap of the mean difference. Every paired sample left out of the
test is counted in ``left_out`` with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mmlens.core.errors import MmlensError
from mmlens.core.results import SampleRecord
from mmlens.metrics.aggregation import category_node
from mmlens.report.runs import ReportRun
from mmlens.report.stats import mcnemar_exact, paired_bootstrap_interval


@dataclass
class PairedCounts:
    """Counts over paired samples; for right/wrong samples the values are 1 (right) and 0 (wrong;
    a failed extraction is wrong)."""

    n: int = 0
    sum_a: float = 0.0
    sum_b: float = 0.0
    both_right: int = 0
    both_wrong: int = 0
    right_to_wrong: int = 0  # right in A, wrong in B
    wrong_to_right: int = 0

    def add(self, a: float, b: float) -> None:
        self.n += 1
        self.sum_a += a
        self.sum_b += b
        right_a, right_b = a >= 1, b >= 1
        if right_a and right_b:
            self.both_right += 1
        elif not right_a and not right_b:
            self.both_wrong += 1
        elif right_a:
            self.right_to_wrong += 1
        else:
            self.wrong_to_right += 1

    def to_dict(self, binary: bool) -> dict[str, Any]:
        mean_a = self.sum_a / self.n if self.n else None
        mean_b = self.sum_b / self.n if self.n else None
        data: dict[str, Any] = {
            "n": self.n,
            "a": mean_a,
            "b": mean_b,
            "delta": None if mean_a is None or mean_b is None else mean_b - mean_a,
        }
        if binary:
            data.update(
                both_right=self.both_right,
                both_wrong=self.both_wrong,
                right_to_wrong=self.right_to_wrong,
                wrong_to_right=self.wrong_to_right,
                p_value=mcnemar_exact(self.right_to_wrong, self.wrong_to_right),
            )
        return data


@dataclass
class Comparison:
    a: ReportRun
    b: ReportRun
    binary: bool  # compared by right/wrong (McNemar), else by numeric score (paired bootstrap)
    score_name: str  # what is compared per sample: "correct", or the numeric score's metric
    overall: dict[str, Any]
    categories: list[dict[str, Any]]
    flipped: dict[str, list[str]] = field(default_factory=dict)  # right_to_wrong / wrong_to_right -> ids
    only_in_a: int = 0
    only_in_b: int = 0
    left_out: list[dict[str, Any]] = field(default_factory=list)  # {"count", "reason"}: paired, not tested

    @property
    def test(self) -> str:
        return "McNemar exact (two-sided)" if self.binary else "paired bootstrap of the mean difference"


def _score(record: SampleRecord) -> float | None:
    score = record.score
    return float(score) if score is not None and math.isfinite(score) else None


def compare_runs(a: ReportRun, b: ReportRun) -> Comparison:
    """Pair the samples of two runs of one task by id; A is the baseline, B the contender."""
    if a.task != b.task:
        raise MmlensError(
            f"cannot compare runs of different tasks: {a.run_id} ({a.task}) and {b.run_id} ({b.task})"
        )
    records_a = {record.id: record for record in a.records}
    records_b = {record.id: record for record in b.records}
    paired_ids = [sample_id for sample_id in records_a if sample_id in records_b]
    right_wrong = [
        i for i in paired_ids if records_a[i].correct is not None and records_b[i].correct is not None
    ]
    numeric = [
        i
        for i in paired_ids
        if records_a[i].correct is None
        and records_b[i].correct is None
        and _score(records_a[i]) is not None
        and _score(records_b[i]) is not None
    ]
    binary = bool(right_wrong)
    used = right_wrong if binary else numeric
    if not used:
        raise MmlensError(
            f"cannot compare {a.run_id} and {b.run_id}: no sample has a right/wrong or a numeric score "
            f"in both runs ({len(paired_ids)} samples in both)"
        )
    left_out = _left_out(paired_ids, set(used), records_a, records_b, binary)
    overall = PairedCounts()
    nodes: dict[str, PairedCounts] = {}
    flipped: dict[str, list[str]] = {"right_to_wrong": [], "wrong_to_right": []}
    values_a, values_b = [], []
    for sample_id in used:
        record_a, record_b = records_a[sample_id], records_b[sample_id]
        if binary:
            value_a, value_b = float(bool(record_a.correct)), float(bool(record_b.correct))
            if record_a.correct != record_b.correct:
                flipped["right_to_wrong" if record_a.correct else "wrong_to_right"].append(sample_id)
        else:
            value_a, value_b = float(_score(record_a) or 0.0), float(_score(record_b) or 0.0)
        values_a.append(value_a)
        values_b.append(value_b)
        overall.add(value_a, value_b)
        category = record_a.category
        for depth in range(1, len(category) + 1):
            nodes.setdefault(category_node(category[:depth]), PairedCounts()).add(value_a, value_b)
    overall_dict = overall.to_dict(binary)
    if not binary:
        overall_dict["delta_ci95"] = paired_bootstrap_interval(values_a, values_b)
    categories = [{"node": node, **counts.to_dict(binary)} for node, counts in sorted(nodes.items())]
    return Comparison(
        a=a,
        b=b,
        binary=binary,
        score_name="correct" if binary else a.primary,
        overall=overall_dict,
        categories=categories,
        flipped=flipped if binary else {},
        only_in_a=len(records_a) - len(paired_ids),
        only_in_b=len(records_b) - len(paired_ids),
        left_out=left_out,
    )


def _kind(record: SampleRecord) -> str:
    if record.correct is not None:
        return "right/wrong"
    return "numeric score" if _score(record) is not None else "neither right/wrong nor a score"


def _left_out(
    paired_ids: list[str],
    used: set[str],
    records_a: dict[str, SampleRecord],
    records_b: dict[str, SampleRecord],
    binary: bool,
) -> list[dict[str, Any]]:
    """Why each paired sample outside the test is left out, counted by reason."""
    needs = "McNemar needs right/wrong in both runs" if binary else "the bootstrap needs a score in both runs"
    reasons: dict[str, int] = {}
    for sample_id in paired_ids:
        if sample_id not in used:
            kinds = (_kind(records_a[sample_id]), _kind(records_b[sample_id]))
            shown = (
                f"{kinds[0]} in both runs" if kinds[0] == kinds[1] else f"{kinds[0]} in A, {kinds[1]} in B"
            )
            reason = f"{shown}: {needs}"
            reasons[reason] = reasons.get(reason, 0) + 1
    return [{"count": count, "reason": reason} for reason, count in reasons.items()]
