"""Aggregation helpers shared by metrics: means with CIs over the category tree, bootstrap for the rest."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from mmlens.core.parts import Aggregate, MetricValue, SampleRecord
from mmlens.metrics.stats import bootstrap_intervals, mean_interval

Statistic = Callable[[list[SampleRecord]], dict[str, float]]


def category_nodes(records: Iterable[SampleRecord]) -> dict[str, list[SampleRecord]]:
    """Every prefix of every record's category path ("perception", "perception/color") -> records."""
    nodes: dict[str, list[SampleRecord]] = {}
    for record in records:
        for depth in range(1, len(record.category) + 1):
            nodes.setdefault("/".join(record.category[:depth]), []).append(record)
    return dict(sorted(nodes.items()))


def mean_metrics(records: list[SampleRecord], names: Iterable[str] | None = None) -> dict[str, MetricValue]:
    """Mean of each per-sample score, with a 95% CI (clustered by group)."""
    if names is None:
        names = sorted({name for record in records for name in record.scores})
    result = {}
    for name in names:
        scored = [r for r in records if name in r.scores]
        values = [r.scores[name] for r in scored]
        if not values:
            result[name] = MetricValue(math.nan, n=0)
            continue
        low, high = mean_interval(values, [r.group for r in scored])
        result[name] = MetricValue(sum(values) / len(values), low, high, len(values))
    return result


def mean_aggregate(records: list[SampleRecord], names: Iterable[str] | None = None) -> Aggregate:
    names = list(names) if names is not None else None
    breakdown = {node: mean_metrics(subset, names) for node, subset in category_nodes(records).items()}
    return Aggregate(mean_metrics(records, names), breakdown)


def bootstrapped(
    records: list[SampleRecord], statistic: Statistic, resamples: int = 300
) -> dict[str, MetricValue]:
    """``statistic`` on all records, with percentile-bootstrap CIs resampling whole groups."""
    values = statistic(records)
    intervals = bootstrap_intervals(records, statistic, lambda r: r.group, resamples=resamples)
    return {
        name: MetricValue(value, *intervals.get(name, (math.nan, math.nan)), n=len(records))
        for name, value in values.items()
    }


def bootstrap_aggregate(records: list[SampleRecord], statistic: Statistic, resamples: int = 300) -> Aggregate:
    breakdown = {
        node: bootstrapped(subset, statistic, resamples) for node, subset in category_nodes(records).items()
    }
    return Aggregate(bootstrapped(records, statistic, resamples), breakdown)
