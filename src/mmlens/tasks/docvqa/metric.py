"""DocVQA / InfographicVQA scoring: ANLS per question (``anls.py``), the mean over questions, and the
breakdown by the published type columns.

Breakdown: one node per ``<column>/<type>`` (a question counts in each of its types), as the
InfographicVQA script's ``--answer_types`` loop sums answer_type, evidence and operation/reasoning;
DocVQA's ``question_types`` are summed the same way. A question without a prediction counts in the
overall mean, not in the type nodes.
"""

from __future__ import annotations

from typing import ClassVar

from mmlens.core.parts import Aggregate, Extraction, Metric, Prediction, SampleRecord, metrics
from mmlens.core.sample import AcceptedAnswers, Sample
from mmlens.metrics.aggregation import category_node, mean_aggregate, mean_metrics
from mmlens.tasks.docvqa.anls import ANLSVariant, anls


def sample_answers(sample: Sample) -> list[str]:
    if isinstance(sample.reference, AcceptedAnswers):
        return list(sample.reference.answers)
    return [sample.target] if sample.target is not None else []


@metrics.register("anls")
class ANLSMetric(Metric):
    """anls = mean ANLS over questions (0-1). ``variant``: official | pix2struct | minicpm_v | mmf."""

    primary: ClassVar[str] = "anls"
    correct_key: ClassVar[str | None] = None
    variant: ANLSVariant = "official"
    threshold: float = 0.5

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None:
            return Extraction(None, "failed")
        types = sample.metadata.get("types") or {}
        return Extraction(prediction.text, "exact", details={"types": types} if types else {})

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        if extraction.answer is None:
            return {"anls": 0.0}
        return {"anls": anls(extraction.answer, sample_answers(sample), self.variant, self.threshold)}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        aggregate = mean_aggregate(records, ["anls"])
        by_type: dict[str, list[SampleRecord]] = {}
        for record in records:
            for column, names in (record.details.get("types") or {}).items():
                for name in names:
                    by_type.setdefault(category_node((column, name)), []).append(record)
        for node, subset in sorted(by_type.items()):
            aggregate.breakdown[node] = mean_metrics(subset, ["anls"])
        return aggregate
