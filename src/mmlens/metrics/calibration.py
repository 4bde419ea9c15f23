"""Calibration of a likelihood ranking: expected calibration error (ECE) and its reliability diagram.

ChEF's ``compute_ECE`` (``src/ChEF/metric/desiderata.py`` L7-39, identical in Coach257/ChEF@54df7bb
and OpenGVLab/LAMM@ea57136) is the default, reproduced operation for operation:

- confidence of a sample = ``max(softmax(option scores))`` in float64 (ChEF's PPL inferencer with
  ``calib``: ``torch.from_numpy(ppl_results).softmax(-1)``, ``prob = max(probs)``); an answer is
  correct when the ranking's choice is the gold option;
- the samples are sorted by confidence with a *stable* sort (``sorted(answers, key=prob)``): equal
  confidences keep the order the records come in, which in mmlens is the order the scenario yields
  the samples (ChEF: file order for ScienceQA, ascending ``int(id)`` for MMBench);
- 10 bins by count: the first ``N % 10`` bins hold ``N // 10 + 1`` samples, the others ``N // 10``
  (so N < 10 gives N one-sample bins); ``ECE = sum_b n_b * |mean(prob_b) - mean(correct_b)| / N``;
  N = 0 is an error (ChEF divides by zero).

Other binnings, by name: ``helm_equal_mass`` is HELM's ``ece_10_bin`` (``calibration.get_ece_em``
of p-lambda's uncertainty-calibration on the max probabilities: bin edges are midpoints between
the equal-count groups of the sorted confidences, a sample goes to the first bin whose edge is >=
its confidence, so equal confidences always share a bin); ``equal_width`` is the same package's
``get_ece`` (edges 0.1, 0.2, ..., 1.0; a bin holds (edge_{b-1}, edge_b]). Both weight each bin's
|mean confidence - accuracy| by its share of samples, as ChEF does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, get_args

import numpy as np
from pydantic import field_validator

from mmlens.core.parts import Aggregate, MetricValue, SampleRecord
from mmlens.core.results import OptionScores, Reliability, ReliabilityBin
from mmlens.metrics.originals import first_occurrences
from mmlens.metrics.wrapped import WrappedMetric

Binning = Literal["chef_equal_mass_count", "helm_equal_mass", "equal_width"]
BINNINGS: tuple[str, ...] = get_args(Binning)
DEFAULT_BINNING: Binning = "chef_equal_mass_count"


class CalibrationError(ValueError):
    """ECE of no samples, or inputs that do not pair up."""


@dataclass(frozen=True)
class CalibrationResult:
    """ECE (0-1) and the reliability diagram's non-empty bins, lowest confidence first."""

    ece: float
    bins: list[ReliabilityBin]
    binning: str
    n: int

    def reliability(self) -> Reliability:
        return Reliability(binning=self.binning, ece=self.ece, n=self.n, bins=self.bins)


def confidence(option_scores: OptionScores | Sequence[float]) -> float:
    """ChEF's confidence: the largest softmax probability over the per-option scores (float64)."""
    scores = option_scores if isinstance(option_scores, OptionScores) else _scores(option_scores)
    return max(scores.probabilities())


def _scores(values: Sequence[float]) -> OptionScores:
    values = [float(v) for v in values]
    chosen = max(range(len(values)), key=values.__getitem__) if values else 0
    return OptionScores(logprobs=values, normalization="sum", chosen=chosen)


def expected_calibration_error(
    confidences: Sequence[float],
    correct: Sequence[bool | int],
    binning: str = DEFAULT_BINNING,
    num_bins: int = 10,
) -> CalibrationResult:
    """ECE of ``confidences`` (0-1) against ``correct`` (right/wrong), in the order given (the
    order decides the bins of equal confidences under ``chef_equal_mass_count``)."""
    if len(confidences) != len(correct):
        raise CalibrationError(f"{len(confidences)} confidences but {len(correct)} right/wrong values")
    if not confidences:
        raise CalibrationError("ECE of no samples is undefined (ChEF's compute_ECE divides by zero)")
    if num_bins < 1:
        raise CalibrationError(f"num_bins must be at least 1 (got {num_bins})")
    probs = [float(p) for p in confidences]
    hits = [int(bool(c)) for c in correct]
    if binning == "chef_equal_mass_count":
        return _chef(probs, hits, num_bins)
    if binning == "helm_equal_mass":
        return _plugin(probs, hits, _helm_equal_edges(probs, num_bins), binning)
    if binning == "equal_width":
        return _plugin(probs, hits, [i * 1.0 / num_bins for i in range(1, num_bins + 1)], binning)
    raise CalibrationError(f"unknown binning {binning!r} (known: {', '.join(BINNINGS)})")


def _chef(probs: list[float], hits: list[int], num_bins: int) -> CalibrationResult:
    # compute_ECE: bins filled in order of a stable sort by confidence; the first N % num_bins
    # bins hold one sample more. Each sum runs in sorted order, as the official loop's does.
    order = sorted(range(len(probs)), key=probs.__getitem__)
    least, extra = divmod(len(probs), num_bins)
    sizes = [least + 1] * extra + [least] * (num_bins - extra)
    ece = 0.0
    bins = []
    start = 0
    for size in (s for s in sizes if s):
        members = order[start : start + size]
        start += size
        bin_probs = [probs[i] for i in members]
        bin_hits = [hits[i] for i in members]
        avg_p = sum(bin_probs) * 1.0 / len(bin_hits)
        avg_a = sum(bin_hits) * 1.0 / len(bin_hits)
        ece += len(bin_probs) * abs(avg_p - avg_a)
        bins.append(ReliabilityBin(count=size, confidence=avg_p, accuracy=avg_a))
    return CalibrationResult(ece / len(probs), bins, "chef_equal_mass_count", len(probs))


def _helm_equal_edges(probs: list[float], num_bins: int) -> list[float]:
    # calibration.get_equal_bins: equal-count groups of the sorted confidences (np.array_split),
    # an edge halfway between neighbouring groups, 1.0 last, duplicates dropped.
    sorted_probs = sorted(probs)
    groups = [list(g) for g in np.array_split(sorted_probs, min(num_bins, len(sorted_probs)))]
    edges = [(groups[i][-1] + groups[i + 1][0]) / 2.0 for i in range(len(groups) - 1)]
    edges.append(1.0)
    return sorted(set(edges))


def _plugin(probs: list[float], hits: list[int], edges: list[float], binning: str) -> CalibrationResult:
    # calibration.fast_bin + plugin_ce(power=1): bin b holds (edges[b-1], edges[b]]; each bin's
    # |mean confidence - mean label| weighted by its share, with the package's numpy calls.
    prob_label = np.array(list(zip(probs, hits, strict=True)))
    bin_indices = np.searchsorted(edges, prob_label[:, 0])
    bin_sort_indices = np.argsort(bin_indices)
    sorted_bins = bin_indices[bin_sort_indices]
    splits = np.searchsorted(sorted_bins, list(range(1, len(edges))))
    binned = np.split(prob_label[bin_sort_indices], splits)
    shares = [len(b) * 1.0 / len(probs) for b in binned]
    errors = [abs(np.mean(b[:, 0]) - np.mean(b[:, 1])) if len(b) else 0.0 for b in binned]
    ece = float(np.dot(shares, errors) ** (1.0 / 1))
    bins = [
        ReliabilityBin(count=len(b), confidence=float(np.mean(b[:, 0])), accuracy=float(np.mean(b[:, 1])))
        for b in binned
        if len(b)
    ]
    return CalibrationResult(ece, bins, binning, len(probs))


def calibration_of_records(
    records: list[SampleRecord],
    binning: str = DEFAULT_BINNING,
    num_bins: int = 10,
    rotation_groups: bool = False,
) -> CalibrationResult:
    """ECE of a likelihood-ranked run's records: the questions as published (the first record of
    each base id, ``mmlens.metrics.originals``), those with per-option scores (a failed sample has
    none and is left out), in record order; right/wrong is the record's ``correct``."""
    ranked = [r for r in first_occurrences(records, rotation_groups) if r.option_scores is not None]
    unjudged = [r.id for r in ranked if r.correct is None]
    if unjudged:
        raise CalibrationError(f"sample {unjudged[0]} has no right/wrong (calibration needs one per sample)")
    return expected_calibration_error(
        [confidence(r.option_scores) for r in ranked if r.option_scores is not None],
        [bool(r.correct) for r in ranked],
        binning,
        num_bins,
    )


class CalibrationMetric(WrappedMetric):
    """The task's own metric, plus ``ece`` (0-1, lower is better; n = samples with option scores)
    and the reliability diagram (results' ``reliability``). Made by the ``calibration`` transform."""

    primary: ClassVar[str] = "ece"

    binning: Binning = DEFAULT_BINNING
    num_bins: int = 10

    @field_validator("num_bins")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("num_bins must be at least 1")
        return value

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        inner = self.inner.aggregate(records)
        rotation_groups = type(self.inner).scores_rotations
        ranked = [r for r in first_occurrences(records, rotation_groups) if r.option_scores is not None]
        if not ranked:  # every sample failed: no ECE to give (never a made-up one)
            return Aggregate({**inner.metrics, "ece": MetricValue(float("nan"), n=0)}, inner.breakdown)
        result = calibration_of_records(records, self.binning, self.num_bins, rotation_groups)
        metrics = {**inner.metrics, "ece": MetricValue(result.ece, n=result.n)}
        return Aggregate(metrics, inner.breakdown, reliability=result.reliability())
