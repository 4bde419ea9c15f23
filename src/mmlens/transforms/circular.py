"""``circular``: MMBench's CircularEval on any multiple-choice task.

A question with n options is asked n times, pass k showing original option (p + k) mod n at
position p (``core.options.rotate_options``); it passes only if every pass is right. Pass 0 keeps
the sample's id (so it shares its cached answer with the plain run), pass k is ``<id>#circular<k>``.
Questions without options pass through as a single pass. A task whose metric already scores
published rotations (MMBench) keeps them: the transform leaves it unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from mmlens.core.parts import (
    Aggregate,
    Extraction,
    Metric,
    Prediction,
    Rounds,
    SampleRecord,
    Transform,
    TransformContext,
    register_transform,
)
from mmlens.core.sample import BadSample, Sample
from mmlens.metrics.aggregation import mean_aggregate
from mmlens.metrics.wrapped import WrappedMetric, with_vanilla, wrap_right_wrong
from mmlens.transforms.choices import find_options, reorder
from mmlens.transforms.options import require_multiple_choice

PASS_KEY = "circular"  # record details: {"of": original id, "pass": k, "passes": n}


def pass_id(sample_id: str, k: int) -> str:
    return sample_id if k == 0 else f"{sample_id}#circular{k}"


class CircularMetric(WrappedMetric):
    """The task's own metric per pass; ``circular_acc`` = share of questions right in every pass,
    ``vanilla_<metric>`` = the task's metrics on pass 0 alone (the plain run's questions)."""

    primary: ClassVar[str] = "circular_acc"

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        return self._tagged(sample, self.inner.extract(sample, prediction))

    @staticmethod
    def _tagged(sample: Sample, extraction: Extraction) -> Extraction:
        tag = sample.metadata.get(PASS_KEY)
        if tag is not None:
            extraction = replace(extraction, details={**extraction.details, PASS_KEY: tag})
        return extraction

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        questions: dict[str, list[SampleRecord]] = {}
        for record in records:
            tag = record.details.get(PASS_KEY) or {"of": record.id}
            questions.setdefault(str(tag["of"]), []).append(record)
        per_question = [
            SampleRecord.model_validate(
                {
                    "id": of,
                    "category": passes[0].category,
                    "group": passes[0].group,
                    "extraction": "exact",
                    "scores": {"circular_acc": float(all(r.correct for r in passes))},
                }
            )
            for of, passes in questions.items()
        ]
        circular = mean_aggregate(per_question, ["circular_acc"])
        first = [r for r in records if (r.details.get(PASS_KEY) or {"pass": 0})["pass"] == 0]
        return with_vanilla(circular, self.inner.aggregate(first))


class CircularJudgedMetric(CircularMetric):
    """CircularMetric over a metric that asks a role (a judge) to extract the answer."""

    def extract_rounds(self, sample: Sample, prediction: Prediction) -> Rounds[Extraction]:
        extraction = yield from self.inner_rounds(sample, prediction)
        return self._tagged(sample, extraction)


@register_transform("circular")
class Circular(Transform):
    """CircularEval: every multiple-choice question once per option rotation; right only if all are."""

    def adapt_metric(self, metric: Metric) -> Metric:
        if type(metric).scores_rotations or isinstance(metric, CircularMetric):
            return metric
        return wrap_right_wrong(
            metric, CircularMetric, CircularJudgedMetric, "circular", "CircularEval needs"
        )

    def apply(self, samples: list[Sample], context: TransformContext) -> list[Sample | BadSample]:
        require_multiple_choice(samples, self, context)
        return super().apply(samples, context)

    def transform_sample(self, sample: Sample) -> list[Sample]:
        if "circular_pass" in sample.metadata:  # the benchmark's published rotations (MMBench)
            return [sample]
        options = find_options(sample)
        passes = len(options.choices) if options is not None else 1
        result = []
        for k in range(passes):
            tag = {"of": sample.id, "pass": k, "passes": passes}
            rotated = sample
            if options is not None and k:
                n = len(options.choices)
                rotated = reorder(sample, options, [(p + k) % n for p in range(n)], pass_id(sample.id, k))
            result.append(
                replace(
                    rotated,
                    group=sample.group or sample.id,
                    metadata={**rotated.metadata, PASS_KEY: tag},
                )
            )
        return result
