"""Comparing two runs of one task on the samples both scored: flips, a paired test, per-category deltas."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmlens.core.errors import MmlensError
from mmlens.report.runs import ReportRun
from mmlens.report.stats import mcnemar_exact, paired_bootstrap_interval


@dataclass
class PairedCounts:
    """Counts over paired samples; for binary scores, 'right' means score 1 (failed extraction = wrong)."""

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
    score_name: str
    binary: bool
    overall: dict[str, Any]
    categories: list[dict[str, Any]]
    flipped: dict[str, list[str]] = field(default_factory=dict)  # right_to_wrong / wrong_to_right -> ids
    only_in_a: int = 0
    only_in_b: int = 0

    @property
    def test(self) -> str:
        return "McNemar exact (two-sided)" if self.binary else "paired bootstrap of the mean difference"


def compare_runs(a: ReportRun, b: ReportRun) -> Comparison:
    """Pair the samples of two runs of one task by id; A is the baseline, B the contender."""
    if a.task != b.task:
        raise MmlensError(
            f"cannot compare runs of different tasks: {a.run_id} ({a.task}) and {b.run_id} ({b.task})"
        )
    if a.score_name is None or a.score_name != b.score_name:
        raise MmlensError(
            f"cannot compare {a.run_id} and {b.run_id}: they have no per-sample score in common "
            f"({a.score_name} vs {b.score_name})"
        )
    score_name = a.score_name
    scores_a = {r["id"]: r for r in a.records if score_name in r.get("scores", {})}
    scores_b = {r["id"]: r for r in b.records if score_name in r.get("scores", {})}
    paired_ids = [sample_id for sample_id in scores_a if sample_id in scores_b]
    binary = a.binary and b.binary
    overall = PairedCounts()
    nodes: dict[str, PairedCounts] = {}
    flipped: dict[str, list[str]] = {"right_to_wrong": [], "wrong_to_right": []}
    values_a, values_b = [], []
    for sample_id in paired_ids:
        record_a, record_b = scores_a[sample_id], scores_b[sample_id]
        value_a, value_b = float(record_a["scores"][score_name]), float(record_b["scores"][score_name])
        values_a.append(value_a)
        values_b.append(value_b)
        overall.add(value_a, value_b)
        if binary and (value_a >= 1) != (value_b >= 1):
            flipped["right_to_wrong" if value_a >= 1 else "wrong_to_right"].append(sample_id)
        category = record_a.get("category") or []
        for depth in range(1, len(category) + 1):
            nodes.setdefault("/".join(category[:depth]), PairedCounts()).add(value_a, value_b)
    overall_dict = overall.to_dict(binary)
    if not binary:
        overall_dict["delta_ci95"] = paired_bootstrap_interval(values_a, values_b)
    categories = [{"node": node, **counts.to_dict(binary)} for node, counts in sorted(nodes.items())]
    return Comparison(
        a=a,
        b=b,
        score_name=score_name,
        binary=binary,
        overall=overall_dict,
        categories=categories,
        flipped=flipped if binary else {},
        only_in_a=len(scores_a) - len(paired_ids),
        only_in_b=len(scores_b) - len(paired_ids),
    )
