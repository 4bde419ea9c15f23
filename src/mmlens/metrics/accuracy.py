"""Accuracy with a named extractor: the generic metric for closed-form answers."""

from __future__ import annotations

from mmlens.core.parts import (
    Aggregate,
    Extraction,
    Metric,
    Prediction,
    SampleRecord,
    extract_from_prediction,
    metrics,
)
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import mean_aggregate
from mmlens.metrics.extractors import extractors


@metrics.register("accuracy")
class Accuracy(Metric):
    """acc = share of samples whose extracted answer equals the target (case-insensitive)."""

    extractor: str = "choice_or_yes_no"

    def model_post_init(self, __context: object) -> None:
        extractors.get(self.extractor)  # fail at load time on an unknown extractor name

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        extractor = extractors.get(self.extractor)
        return extract_from_prediction(prediction, lambda text: extractor(sample, text), lambda a: a)

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        correct = (
            extraction.answer is not None
            and sample.target is not None
            and extraction.answer.strip().lower() == sample.target.strip().lower()
        )
        return {"acc": float(correct)}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        return mean_aggregate(records, ["acc"])
