"""M-BEIR's recall (``TIGER-AI-Lab/UniIR@98dc570:src/common/mbeir_retriever.py``).

``compute_recall_at_k`` is a hit rate: 1.0 if any relevant candidate is among the top k retrieved,
else 0.0 (0.0 when the query has no relevant one). Retrieval is FAISS inner product over
L2-normalised embeddings (cosine) of the whole pool; mmlens ranks by a stable sort, so equal
scores keep pool order (FAISS follows no such rule among equal scores: see the README). Per dataset and
task: the mean, rounded to 4 decimals. The paper reports Recall@5, and Recall@10 for Fashion200K
and FashionIQ; ``recall`` is that number per dataset and its unweighted mean over datasets.
"""

from __future__ import annotations

import math

from mmlens.core.parts import Aggregate, Extraction, Metric, MetricValue, Prediction, SampleRecord, metrics
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import category_node

KS = (1, 5, 10)
RECALL_AT_10 = ("fashion200k", "fashioniq")


def compute_recall_at_k(relevant: list[int], retrieved: list[int], k: int) -> float:
    """UniIR's compute_recall_at_k (the CLIP/BLIP hit rate)."""
    if not relevant:
        return 0.0
    return 1.0 if set(relevant) & set(retrieved[:k]) else 0.0


def reported_k(dataset: str) -> int:
    return 10 if dataset.split("_task")[0] in RECALL_AT_10 else 5


@metrics.register("mbeir")
class MBEIRRecall(Metric):
    """Per query recall@1/5/10 (hit rates); ``recall`` = the paper's recall@k per dataset
    (k = 10 for Fashion200K and FashionIQ, else 5), averaged over datasets."""

    primary = "recall"
    correct_key = "recall"

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if "top_stable" not in prediction.details:
            return Extraction(None, "failed")
        top = [int(i) for i in prediction.details["top_stable"]]
        return Extraction(str(top[0]), "exact", details={"retrieved": top})

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        retrieved = extraction.details.get("retrieved", []) if extraction.answer is not None else []
        relevant = list(sample.metadata.get("relevant") or [])
        scores = {f"recall@{k}": compute_recall_at_k(relevant, retrieved, k) for k in KS}
        scores["recall"] = scores[f"recall@{reported_k(sample.category[-1])}"]
        return scores

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        names = ["recall", *(f"recall@{k}" for k in KS)]
        groups: dict[tuple[str, str], list[SampleRecord]] = {}
        for record in records:
            groups.setdefault((record.category[0], record.category[-1]), []).append(record)
        breakdown: dict[str, dict[str, MetricValue]] = {}
        reported: list[float] = []
        for key, subset in groups.items():
            values = {
                name: MetricValue(
                    round(sum(r.scores.get(name, 0.0) for r in subset) / len(subset), 4), n=len(subset)
                )
                for name in names
            }
            breakdown[category_node(key)] = values
            reported.append(values["recall"].value)
        overall = sum(reported) / len(reported) if reported else math.nan
        return Aggregate({"recall": MetricValue(overall, n=len(records))}, dict(sorted(breakdown.items())))
