"""MMEB's scorers.

V1 (``TIGER-AI-Lab/VLM2Vec@358bb43:eval.py``, ``evaluation/eval_utils.py::get_pred``): cosine of
the query with each of its own candidates, ``pred = np.argmax(scores)`` (the first maximum, so a
tie with the positive, candidate 0, counts as right); acc = n_correct / rows.
V2 (``@6e1e1d4:src/utils/eval_utils/metrics.py::RankingMetrics``): the ranking is
``np.argsort(-scores)`` (numpy's default sort, not stable beyond 16 candidates, so a tie may go
either way), label [0]; the reported score is precision@1, with hit/ndcg(linear)/mrr @5 and @10.
The code writes per-dataset scores only; meta-task and overall are the paper's unweighted means
over datasets (and IND / OOD over the paper's 20 / 16).
"""

from __future__ import annotations

import math
from typing import Literal

from mmlens.core.parts import Aggregate, Extraction, Metric, MetricValue, Prediction, SampleRecord, metrics
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import category_node, mean_metrics
from mmlens.tasks.mmeb.datasets import META_TASKS, OUT_OF_DISTRIBUTION

V2_METRICS = ("hit@5", "hit@10", "ndcg@5", "ndcg@10", "mrr@10")


def ranking_scores(top: list[int], positive: int = 0) -> dict[str, float]:
    """RankingMetrics with one relevant item: precision@1, hit@k, linear ndcg@k, mrr@k."""
    rank = top.index(positive) if positive in top else None
    scores = {"acc": float(rank == 0)}
    for k in (5, 10):
        hit = rank is not None and rank < k
        scores[f"hit@{k}"] = float(hit)
        scores[f"ndcg@{k}"] = 1.0 / math.log2(rank + 2) if hit and rank is not None else 0.0
    scores["mrr@10"] = 1.0 / (rank + 1) if rank is not None and rank < 10 else 0.0
    return scores


def dataset_mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


@metrics.register("mmeb")
class MMEBPrecision(Metric):
    """acc = Precision@1 of each query over its own candidates (protocol v1: argmax, ties to the
    positive; v2: argsort(-scores)[0]). Metrics: overall, each meta-task, ind, ood (means over
    datasets); breakdown: each meta-task and dataset."""

    protocol: Literal["v1", "v2"] = "v1"

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.answer is None or "top" not in prediction.details:
            return Extraction(None, "failed")
        answer = prediction.answer if self.protocol == "v1" else str(prediction.details["top"][0])
        return Extraction(answer, "exact", details=dict(prediction.details))

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        if extraction.answer is None:
            return {"acc": 0.0, **({name: 0.0 for name in V2_METRICS} if self.protocol == "v2" else {})}
        if self.protocol == "v1":
            return {"acc": float(extraction.answer == "0")}
        return ranking_scores([int(i) for i in extraction.details["top"]])

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        names = ["acc", *V2_METRICS] if self.protocol == "v2" else ["acc"]
        by_dataset: dict[tuple[str, str], list[SampleRecord]] = {}
        for record in records:
            by_dataset.setdefault((record.category[0], record.category[-1]), []).append(record)
        breakdown: dict[str, dict[str, MetricValue]] = {}
        dataset_means: dict[tuple[str, str], dict[str, float]] = {}
        for (task, dataset), subset in by_dataset.items():
            values = mean_metrics(subset, names)
            breakdown[category_node((task, dataset))] = values
            dataset_means[(task, dataset)] = {name: value.value for name, value in values.items()}

        def mean_over(keys: list[tuple[str, str]]) -> dict[str, MetricValue]:
            n = sum(len(by_dataset[key]) for key in keys)
            return {
                name: MetricValue(dataset_mean([dataset_means[key][name] for key in keys]), n=n)
                for name in names
            }

        keys = list(by_dataset)
        headline = mean_over(keys)
        result = {name: value for name, value in headline.items()}
        for task in META_TASKS:
            chosen = [key for key in keys if key[0] == task]
            if chosen:
                breakdown[task] = mean_over(chosen)
                result[task] = breakdown[task]["acc"]
        for split, wanted in (("ind", False), ("ood", True)):
            chosen = [key for key in keys if (key[1] in OUT_OF_DISTRIBUTION) == wanted]
            if chosen:
                result[split] = mean_over(chosen)["acc"]
        return Aggregate(result, dict(sorted(breakdown.items())))
