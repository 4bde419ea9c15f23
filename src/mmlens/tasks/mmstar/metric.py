"""MMStar's official scorer (MMStar-Benchmark/MMStar, eval/vlmeval/evaluate/mmstar.py).

The response is lower-cased, stripped and its newlines become spaces; it is right when its first
character is the answer letter, or it starts with "(x", "option x" or "the answer is x" where x is
the answer letter. Only those positions are read: "B is wrong, A is right" answers B.
Overall = micro accuracy over all questions; per category and per l2_category likewise.
"""

from __future__ import annotations

import string
from typing import Literal

from mmlens.core.parts import Aggregate, Extraction, Metric, MetricValue, Prediction, SampleRecord, metrics
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import category_nodes, mean_aggregate, mean_metrics

_PREFIXES = (("(", 1), ("option ", 7), ("the answer is ", 14))


def extract_mmstar_letter(response: str) -> Extraction:
    """The one character MMStar's scorer compares with the answer (upper-cased), or failed."""
    predict = response.lower().strip().replace("\n", " ")
    position = next((offset for prefix, offset in _PREFIXES if predict.startswith(prefix)), 0)
    if len(predict) <= position or predict[position] not in string.ascii_lowercase:
        return Extraction(None, "failed")
    return Extraction(predict[position].upper(), "exact" if len(predict) == 1 else "rule")


@metrics.register("mmstar")
class MMStarAccuracy(Metric):
    """acc = share of questions whose response passes MMStar's first-letter rule.

    overall: "micro" (official: over all questions) or "l2_mean" (lmms-eval: the mean of the
    l2_category accuracies).
    """

    overall: Literal["micro", "l2_mean"] = "micro"

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None:
            return Extraction(None, "failed")
        return extract_mmstar_letter(prediction.text)

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        target = (sample.target or "").lower().strip().replace("\n", " ")
        correct = extraction.answer is not None and extraction.answer.lower() == target
        return {"acc": float(correct)}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        aggregate = mean_aggregate(records, ["acc"])
        if self.overall == "l2_mean":
            leaves = [subset for node, subset in category_nodes(records).items() if node.count("/") == 1]
            means = [mean_metrics(subset, ["acc"])["acc"].value for subset in leaves]
            aggregate.metrics["acc"] = (
                MetricValue(sum(means) / len(means), n=len(records))
                if means
                else (MetricValue(float("nan"), n=0))
            )
        return aggregate
