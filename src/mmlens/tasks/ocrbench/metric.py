"""OCRBench's official scorer (Yuliang-Liu/MultimodalOCR@794c36d, OCRBench/example.py).

Right when any reference answer, normalised, is a substring of the normalised prediction (no word
boundary): for ``HME100k`` both are stripped, newlines become spaces and every space is removed
(case kept); for every other dataset both are lower-cased, stripped and newlines become spaces.
An empty prediction is scored (and wrong); a sample without a prediction is not scored.
With all 1,000 questions the official number is the Final Score: the count of right answers
(0-1000), with the sums per type and "Text Recognition" (the six recognition types, 300).

Fields: ``fold_fullwidth`` (lmms-eval: full-width ASCII and the ideographic space folded to ASCII
before matching, not for HME100k); ``final_score``: ``count`` (official) or ``per_1000``
(lmms-eval: the count divided by 1,000 whatever the number of questions).
"""

from __future__ import annotations

from typing import Literal

from mmlens.core.parts import Aggregate, Extraction, Metric, MetricValue, Prediction, SampleRecord, metrics
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import mean_aggregate

HME_DATASET = "HME100k"


def fold_fullwidth_ascii(text: str) -> str:
    """U+FF01..U+FF5E -> ASCII and U+3000 -> space, nothing else (lmms-eval's ``_fold_fullwidth_ascii``)."""
    return "".join(
        chr(ord(char) - 0xFEE0) if 0xFF01 <= ord(char) <= 0xFF5E else " " if char == "\u3000" else char
        for char in text
    )


def normalize_ocrbench(text: str, dataset_name: str, fold_fullwidth: bool = False) -> str:
    if dataset_name == HME_DATASET:
        return text.strip().replace("\n", " ").replace(" ", "")
    if fold_fullwidth:
        text = fold_fullwidth_ascii(text)
    return text.lower().strip().replace("\n", " ")


def ocrbench_correct(
    prediction: str, answers: str | list[str], dataset_name: str, fold_fullwidth: bool = False
) -> bool:
    """Whether any answer is contained in the prediction after the official normalisation."""
    predict = normalize_ocrbench(prediction, dataset_name, fold_fullwidth)
    candidates = [answers] if isinstance(answers, str) else answers
    return any(normalize_ocrbench(answer, dataset_name, fold_fullwidth) in predict for answer in candidates)


@metrics.register("ocrbench")
class OCRBenchAccuracy(Metric):
    """final_score = number of right answers (official, 0-1000 on the full set); acc = their share."""

    primary = "final_score"
    correct_key = "acc"

    fold_fullwidth: bool = False
    final_score: Literal["count", "per_1000"] = "count"

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None:
            return Extraction(None, "failed")
        return Extraction(prediction.text, "exact")  # the whole response is matched

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        if extraction.answer is None:
            return {"acc": 0.0}
        answers = sample.metadata.get("answers", sample.target or "")
        name = str(sample.metadata.get("dataset_name", ""))
        return {"acc": float(ocrbench_correct(extraction.answer, answers, name, self.fold_fullwidth))}

    def _total(self, accuracy: MetricValue) -> MetricValue:
        """The count of right answers (per-sample scores are 0/1, so round() only removes float noise)
        with the accuracy's interval scaled to counts; divided by 1,000 for ``per_1000``."""
        n = accuracy.n or 0
        divisor = 1000 if self.final_score == "per_1000" else 1

        def scaled(value: float | None) -> float | None:
            return None if value is None else value * n / divisor

        count = round(accuracy.value * n) if n else 0
        return MetricValue(count / divisor, scaled(accuracy.ci_low), scaled(accuracy.ci_high), n)

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        aggregate = mean_aggregate(records, ["acc"])
        aggregate.metrics["final_score"] = self._total(aggregate.metrics["acc"])
        for values in aggregate.breakdown.values():
            values["final_score"] = self._total(values["acc"])
        return aggregate
