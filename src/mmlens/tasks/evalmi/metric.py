"""LMM4LMM's metrics (IntMeGroup/LMM4LMM@5ee2b4e ``internvl/train/eval_scores.py`` and
``eval_qa.py``, ``save_and_evaluate``).

Scores (``evalmi_correlation``): scipy ``spearmanr``, ``pearsonr`` and ``kendalltau`` of (MOS,
predicted score), raw: no logistic fit before PLCC. The official loader stores the MOS as a
bfloat16 tensor and reads it back with ``.item()``, so the MOS it correlates is rounded to
bfloat16 (8 significant bits: 3.14 -> 3.140625); ``mos_precision: float`` uses the published
value. The prediction is the first number in the response (the scalar of a ``reward`` request,
or a number a judge wrote); a response without one is a failed extraction, left out of the
correlations and counted (``unparsed``).

QA (``evalmi_qa``): both the answer and the output are normalised, ``'yes' in x.lower()`` -> Yes,
elif ``'no' in x.lower()`` -> No (a substring: "not", "know", "cannot" map to No), else kept as
they are; right when ``output in answer`` (a substring test, so an empty output is right);
accuracy = right / total (0-1).
"""

from __future__ import annotations

import math
import struct
import warnings
from typing import ClassVar, Literal

from mmlens.core.parts import Aggregate, Extraction, Metric, MetricValue, Prediction, SampleRecord, metrics
from mmlens.core.sample import Sample
from mmlens.metrics.accuracy import NUMBER
from mmlens.metrics.stats import mean_interval


def bfloat16(value: float) -> float:
    """``torch.tensor(value, dtype=torch.bfloat16).item()``: float32, then round to nearest even
    on the top 16 bits."""
    (bits,) = struct.unpack("<I", struct.pack("<f", value))
    if math.isnan(value):
        return value
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    (rounded,) = struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))
    return float(rounded)


def first_number(text: str) -> float | None:
    match = NUMBER.search(text)
    return float(match.group()) if match else None


def correlations(mos: list[float], predicted: list[float]) -> dict[str, float]:
    try:
        from scipy.stats import kendalltau, pearsonr, spearmanr
    except ImportError:  # pragma: no cover - scipy ships with the metrics extra
        from mmlens.core.errors import ConfigError

        raise ConfigError("evalmi's correlations need scipy: pip install scipy") from None
    if len(mos) < 2:
        return {"srcc": math.nan, "plcc": math.nan, "krcc": math.nan}
    with warnings.catch_warnings():  # a constant input gives nan, which is reported as it is
        warnings.simplefilter("ignore")
        return {
            "srcc": float(spearmanr(mos, predicted)[0]),
            "plcc": float(pearsonr(mos, predicted)[0]),
            "krcc": float(kendalltau(mos, predicted)[0]),
        }


@metrics.register("evalmi_correlation")
class EvalMiCorrelation(Metric):
    """SRCC / PLCC / KRCC of predicted scores against MOS. Field: mos_precision (bfloat16, float)."""

    primary: ClassVar[str] = "srcc"
    correct_key: ClassVar[str | None] = None
    score_key: ClassVar[str | None] = "predicted"
    mos_precision: Literal["bfloat16", "float"] = "bfloat16"

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None:
            return Extraction(None, "failed")
        value = first_number(prediction.text)
        if value is None or not math.isfinite(value):
            return Extraction(None, "failed", details={"why": "no number in the response"})
        return Extraction(repr(value), "rule")

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        mos = float(sample.metadata["mos"])
        if self.mos_precision == "bfloat16":
            mos = bfloat16(mos)
        if extraction.answer is None:
            return {"mos": mos}
        return {"mos": mos, "predicted": float(extraction.answer)}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        pairs = [(r.scores["mos"], r.scores["predicted"]) for r in records if "predicted" in r.scores]
        values = correlations([m for m, _ in pairs], [p for _, p in pairs])
        result = {name: MetricValue(value, n=len(pairs)) for name, value in values.items()}
        result["unparsed"] = MetricValue(float(len(records) - len(pairs)))
        return Aggregate(result)


def normalise_yes_no(text: str) -> str:
    lowered = text.lower()
    if "yes" in lowered:
        return "Yes"
    if "no" in lowered:
        return "No"
    return text


@metrics.register("evalmi_qa")
class EvalMiQA(Metric):
    """The official yes/no normalisation and substring match; accuracy 0-1."""

    primary: ClassVar[str] = "accuracy"
    correct_key: ClassVar[str | None] = "accuracy"

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None:
            return Extraction(None, "failed")
        return Extraction(normalise_yes_no(prediction.text), "rule")

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        answer = normalise_yes_no(str(sample.metadata["answer"]))
        return {"accuracy": float(extraction.answer is not None and extraction.answer in answer)}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        values = [r.scores.get("accuracy", 0.0) for r in records]
        if not values:
            return Aggregate({"accuracy": MetricValue(math.nan, n=0)})
        low, high = mean_interval(values)
        return Aggregate({"accuracy": MetricValue(sum(values) / len(values), low, high, len(values))})
