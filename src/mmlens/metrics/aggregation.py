"""Aggregation helpers shared by metrics: means with CIs over the category tree, bootstrap for the rest."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from mmlens.core.parts import Aggregate, MetricValue, SampleRecord
from mmlens.metrics.stats import bootstrap_intervals, mean_interval

Statistic = Callable[[list[SampleRecord]], dict[str, float]]


# A "/" inside a category name is written as U+2215 (division slash) in node names: "a/b" then never
# merges with the sub-category b of a, and every node's depth is its count of "/" plus one.
NAME_SLASH = "\u2215"


def category_node(path: Sequence[str]) -> str:
    """A category path as a node name: ("perception", "color") -> "perception/color"."""
    return "/".join(part.replace("/", NAME_SLASH) for part in path)


def category_nodes(records: Iterable[SampleRecord]) -> dict[str, list[SampleRecord]]:
    """Every prefix of every record's category path ("perception", "perception/color") -> records."""
    nodes: dict[str, list[SampleRecord]] = {}
    for record in records:
        for depth in range(1, len(record.category) + 1):
            nodes.setdefault(category_node(record.category[:depth]), []).append(record)
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


def _with_draw_group(record: SampleRecord, draw: int) -> SampleRecord:
    return record if record.group is None else record.model_copy(update={"group": f"{record.group}#{draw}"})


def bootstrapped(
    records: list[SampleRecord], statistic: Statistic, resamples: int = 300
) -> dict[str, MetricValue]:
    """``statistic`` on all records, with percentile-bootstrap CIs resampling whole groups."""
    values = statistic(records)
    intervals = bootstrap_intervals(
        records, statistic, lambda r: r.group, resamples=resamples, relabel=_with_draw_group
    )
    return {
        name: MetricValue(value, *intervals.get(name, (math.nan, math.nan)), n=len(records))
        for name, value in values.items()
    }


def bootstrap_aggregate(records: list[SampleRecord], statistic: Statistic, resamples: int = 300) -> Aggregate:
    breakdown = {
        node: bootstrapped(subset, statistic, resamples) for node, subset in category_nodes(records).items()
    }
    return Aggregate(bootstrapped(records, statistic, resamples), breakdown)


Leaf = tuple[str, ...]
LeafSums = dict[Leaf, np.ndarray]  # leaf -> (k, d) sums of unit counts, k = 1 (point) or resamples
CountStatistic = Callable[[LeafSums], dict[str, np.ndarray]]


def stratified_bootstrap_aggregate(
    leaves: list[Leaf],
    counts: list[list[float]],
    questions: list[int],
    statistic: CountStatistic,
    resamples: int,
    root_statistic: CountStatistic | None = None,
    seed: int = 0,
) -> Aggregate:
    """Metrics per node of the category tree from additive per-unit counts, with 95% percentile
    bootstrap CIs.

    A unit is what the benchmark scores together (an MME image, an MMR pair, a POPE image) and
    ``counts[i]`` its additive tallies; ``statistic`` maps the per-leaf sums (leaf = full category
    path) to metric arrays. Units are resampled within their leaf (a subtask, split or category
    has a fixed size by design), with the same draws for every node, vectorised: 1,000 resamples
    of MME's 1,187 images take milliseconds.
    """
    rng = np.random.default_rng(seed)
    table = np.asarray(counts, dtype=float)
    members: dict[Leaf, list[int]] = {}
    for index, leaf in enumerate(leaves):
        members.setdefault(leaf, []).append(index)
    point: LeafSums = {}
    draws: LeafSums = {}
    asked: dict[Leaf, int] = {}
    for leaf, indices in sorted(members.items()):
        rows = table[indices]
        weights = rng.multinomial(len(indices), np.full(len(indices), 1.0 / len(indices)), size=resamples)
        point[leaf] = rows.sum(axis=0, keepdims=True)
        draws[leaf] = weights @ rows
        asked[leaf] = sum(questions[i] for i in indices)

    def summarise(node_leaves: list[Leaf], function: CountStatistic) -> dict[str, MetricValue]:
        values = function({leaf: point[leaf] for leaf in node_leaves})
        sampled = function({leaf: draws[leaf] for leaf in node_leaves})
        n = sum(asked[leaf] for leaf in node_leaves)
        result = {}
        for name, value in values.items():
            finite = sampled[name][np.isfinite(sampled[name])]
            low, high = (
                (float(q) for q in np.percentile(finite, [2.5, 97.5])) if finite.size else (math.nan,) * 2
            )
            result[name] = MetricValue(float(value[0]), low, high, n)
        return result

    nodes: dict[str, list[Leaf]] = {}
    for leaf in point:
        for depth in range(1, len(leaf) + 1):
            nodes.setdefault(category_node(leaf[:depth]), []).append(leaf)
    breakdown = {node: summarise(node_leaves, statistic) for node, node_leaves in sorted(nodes.items())}
    return Aggregate(summarise(list(point), root_statistic or statistic), breakdown)


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0."""
    return np.divide(
        numerator, denominator, out=np.zeros_like(numerator, dtype=float), where=denominator != 0
    )
