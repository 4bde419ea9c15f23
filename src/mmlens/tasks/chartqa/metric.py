"""ChartQA's relaxed accuracy as the reference implementation computes it.

ChartQA's repository (vis-nlp/ChartQA@3dab8e8) has no scorer; the paper's rule is
``relaxed_correctness`` in google-research/pix2struct@945f27e ``pix2struct/metrics.py``: a string
ending in "%" is ``float(text.rstrip("%")) / 100``, any other is ``float(text)`` (Python's float:
surrounding whitespace, "1e3", "1_000", "inf", "nan" and non-ASCII decimal digits parse; "1,000",
"$5" and "12 kg" do not); when the prediction parses and the target parses to a non-zero number,
right iff ``|p - t| / |t| <= 0.05`` (plain float arithmetic, no extra tolerance); otherwise right
iff ``prediction.lower() == target.lower()`` (no strip). lmms-eval computes the same.

Profiles (``variant``): ``vlmevalkit`` strips the prediction first; ``qwen_vl`` (Qwen-VL
``evaluate_vqa.py``) strips it and passes it as the *target*: the tolerance is relative to the
prediction, and a prediction of 0 or a non-number falls back to the string comparison.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from mmlens.core.parts import Aggregate, Extraction, Metric, Prediction, SampleRecord, metrics
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import mean_aggregate

RelaxedVariant = Literal["official", "vlmevalkit", "qwen_vl"]
MAX_RELATIVE_CHANGE = 0.05


def to_float(text: str) -> float | None:
    """pix2struct's ``_to_float``: a percentage is divided by 100; None when float() refuses."""
    try:
        if text.endswith("%"):
            return float(text.rstrip("%")) / 100.0
        return float(text)
    except ValueError:
        return None


def relaxed_correctness(
    target: str, prediction: str, max_relative_change: float = MAX_RELATIVE_CHANGE
) -> bool:
    prediction_float = to_float(prediction)
    target_float = to_float(target)
    if prediction_float is not None and target_float:
        return abs(prediction_float - target_float) / abs(target_float) <= max_relative_change
    return prediction.lower() == target.lower()


def chartqa_correct(prediction: str, target: str, variant: RelaxedVariant = "official") -> bool:
    if variant == "vlmevalkit":
        return relaxed_correctness(target, prediction.strip())
    if variant == "qwen_vl":
        return relaxed_correctness(prediction.strip(), target)
    return relaxed_correctness(target, prediction)


@metrics.register("chartqa")
class ChartQARelaxedAccuracy(Metric):
    """relaxed_accuracy = share of questions right under the relaxed rule; per split in the breakdown."""

    primary: ClassVar[str] = "relaxed_accuracy"
    correct_key: ClassVar[str | None] = "relaxed_accuracy"
    variant: RelaxedVariant = "official"

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None:
            return Extraction(None, "failed")
        return Extraction(prediction.text, "exact")  # the whole response is compared

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        correct = extraction.answer is not None and chartqa_correct(
            extraction.answer, sample.target or "", self.variant
        )
        return {"relaxed_accuracy": float(correct)}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        return mean_aggregate(records, ["relaxed_accuracy"])
