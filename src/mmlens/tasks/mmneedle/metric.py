"""MMNeedle's single-needle scoring (Wang-ML-Lab/multimodal-needle-in-a-haystack@debcaae:evaluate.py).

Per record: a null response is left out of every denominator (``empty_ids``); otherwise
``pred = pred.replace('\\n', '').strip().strip('.').strip()``; the ground truth "i, r, c" becomes
"-1" when i is "0" (negative). index = the first ``", "`` field of pred equals the gt index string;
exact = pred equals gt; exist = (gt == '-1') == (pred == '-1'). Only exactly "-1" means absent.

The official script prints index and exact accuracy only for positive response files (ids < 5000;
the published runs score positives and negatives as separate files). Here ``exist_accuracy`` is
over every answered record, ``index_accuracy`` / ``exact_accuracy`` over the answered positives,
and ``negative_exact_accuracy`` (pred == "-1") over the answered negatives; positive and negative
breakdowns hold each file's own numbers. 0-1 scale.
"""

from __future__ import annotations

from mmlens.core.parts import Aggregate, Extraction, Metric, MetricValue, Prediction, SampleRecord, metrics
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import mean_aggregate


def clean_prediction(text: str) -> str:
    """evaluate.py: replace('\\n', '').strip(), strip('.'), strip()."""
    return text.replace("\n", "").strip().strip(".").strip()


def official_gt(target: str) -> tuple[str, str]:
    """(gt index string, gt as compared): negatives ("0, ...") compare as "-1"."""
    gt_index = target.split(", ")[0]
    return gt_index, "-1" if gt_index == "0" else target


def needle_scores(target: str, prediction: str) -> dict[str, float]:
    gt_index, gt = official_gt(target)
    pred = clean_prediction(prediction)
    return {
        "exist": float((gt == "-1") == (pred == "-1")),
        "index": float(gt_index == pred.split(", ")[0]),
        "exact": float(gt == pred),
    }


@metrics.register("mmneedle")
class MMNeedleAccuracy(Metric):
    primary = "exact_accuracy"
    correct_key = "exact"  # per record: pred == gt (the official exact_match list, every record)

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None:
            return Extraction(None, "failed", details={"empty_id": True})
        cleaned = clean_prediction(prediction.text)
        method = "exact" if cleaned == prediction.text else "rule"
        return Extraction(cleaned, method)

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        if extraction.answer is None or sample.target is None:
            return {}  # official: a null response leaves every denominator
        values = needle_scores(sample.target, extraction.answer)
        scores = {"exist_accuracy": values["exist"], "exact": values["exact"]}
        if sample.target.startswith("0, "):
            scores["negative_exact_accuracy"] = values["exact"]
        else:
            scores["index_accuracy"] = values["index"]
            scores["exact_accuracy"] = values["exact"]
        return scores

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        names = ["exact", "exist_accuracy", "index_accuracy", "exact_accuracy", "negative_exact_accuracy"]
        aggregate = mean_aggregate(records, names)
        empty = sum(1 for r in records if r.details.get("empty_id"))
        aggregate.metrics["empty_ids"] = MetricValue(float(empty), n=len(records))
        return aggregate
