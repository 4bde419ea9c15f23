"""Confidence intervals: analytic for means (clustered when questions come in groups), bootstrap otherwise."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

Z95 = 1.959963984540054
R = TypeVar("R")


def wilson_interval(successes: float, n: int) -> tuple[float, float]:
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denominator = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(values: Sequence[float], groups: Sequence[str | None] | None = None) -> tuple[float, float]:
    """95% CI of a mean. Binary values without groups: Wilson. With groups: cluster-robust normal CI,
    because questions that share an image (or a rotated copy) are not independent."""
    n = len(values)
    if n == 0:
        return (math.nan, math.nan)
    array = np.asarray(values, dtype=float)
    mean = float(array.mean())
    has_groups = groups is not None and any(g is not None for g in groups)
    if not has_groups:
        if np.all((array == 0) | (array == 1)):
            return wilson_interval(float(array.sum()), n)
        if n < 2:
            return (math.nan, math.nan)  # no spread to estimate from one value
        half = Z95 * float(array.std(ddof=1)) / math.sqrt(n)
        return (mean - half, mean + half)
    assert groups is not None
    residual_sums: dict[str, float] = {}
    for index, (value, group) in enumerate(zip(array, groups, strict=True)):
        key = group if group is not None else f"\0{index}"
        residual_sums[key] = residual_sums.get(key, 0.0) + float(value) - mean
    clusters = len(residual_sums)
    if clusters < 2:
        return (math.nan, math.nan)  # one group: its questions say nothing about the spread
    variance = sum(s * s for s in residual_sums.values()) / (n * n) * clusters / (clusters - 1)
    half = Z95 * math.sqrt(variance)
    low, high = mean - half, mean + half
    if np.all((array == 0) | (array == 1)):
        low, high = max(0.0, low), min(1.0, high)
    return (low, high)


def bootstrap_intervals(
    items: Sequence[R],
    statistic: Callable[[list[R]], dict[str, float]],
    group_of: Callable[[R], str | None] | None = None,
    resamples: int = 500,
    seed: int = 0,
    relabel: Callable[[R, int], R] | None = None,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap 95% CIs of every value ``statistic`` returns, resampling whole groups.

    ``relabel(item, j)`` gives the items of the j-th drawn group a fresh group identity, so that a
    group drawn twice counts as two groups for statistics that look at groups (MME's acc+)."""
    if not items:
        return {}
    clusters: dict[str, list[R]] = {}
    for index, item in enumerate(items):
        group = group_of(item) if group_of else None
        clusters.setdefault(group if group is not None else f"\0{index}", []).append(item)
    keys = list(clusters)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(resamples):
        chosen = rng.integers(0, len(keys), size=len(keys))
        if relabel is None:
            sample = [item for c in chosen for item in clusters[keys[c]]]
        else:
            sample = [relabel(item, j) for j, c in enumerate(chosen) for item in clusters[keys[c]]]
        for name, value in statistic(sample).items():
            draws.setdefault(name, []).append(value)
    intervals = {}
    for name, values in draws.items():
        finite = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
        if finite.size == 0:
            intervals[name] = (math.nan, math.nan)
        else:
            intervals[name] = (float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5)))
    return intervals
