"""Accuracy with a named extractor: the generic metric for closed-form answers."""

from __future__ import annotations

import re

from pydantic import field_validator

from mmlens.core.errors import UnknownNameError
from mmlens.core.parts import (
    Aggregate,
    Extraction,
    Metric,
    Prediction,
    SampleRecord,
    extract_from_prediction,
    metrics,
)
from mmlens.core.sample import AcceptedAnswers, NumberWithTolerance, Sample
from mmlens.metrics.aggregation import mean_aggregate
from mmlens.metrics.extractors import extractors


@metrics.register("accuracy")
class Accuracy(Metric):
    """acc = share of samples whose extracted answer equals the target (case-insensitive).

    With a structured reference: any of the accepted answers; or, for a number with a tolerance,
    the first number in the extracted answer within the tolerance."""

    # None: choice_or_yes_no, or exact for a sample with a structured reference (accepted answers,
    # a number with a tolerance), whose answers are neither letters nor yes/no.
    extractor: str | None = None

    @field_validator("extractor")
    @classmethod
    def _known_extractor(cls, name: str | None) -> str | None:
        if name is not None:  # an unknown name fails when the task loads, naming the file and key
            try:
                extractors.get(name)
            except UnknownNameError as error:
                raise ValueError(str(error)) from None
        return name

    def extractor_for(self, sample: Sample) -> str:
        if self.extractor is not None:
            return self.extractor
        return "exact" if sample.reference is not None else "choice_or_yes_no"

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        extractor = extractors.get(self.extractor_for(sample))
        return extract_from_prediction(prediction, lambda text: extractor(sample, text), lambda a: a)

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        return {"acc": float(extraction.answer is not None and answer_matches(sample, extraction.answer))}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        return mean_aggregate(records, ["acc"])


NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def answer_matches(sample: Sample, answer: str) -> bool:
    reference = sample.reference
    given = answer.strip().lower()
    if isinstance(reference, AcceptedAnswers):
        return any(given == accepted.strip().lower() for accepted in reference.answers)
    if isinstance(reference, NumberWithTolerance):
        found = NUMBER.search(answer.replace(",", ""))
        return found is not None and reference.accepts(float(found.group()))
    return sample.target is not None and given == sample.target.strip().lower()
