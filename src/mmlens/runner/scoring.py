"""Scoring: outcomes (prediction + extraction) -> typed per-sample records -> typed results."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from mmlens.core.parts import Extraction, Prediction, SampleRecord
from mmlens.core.results import SCHEMA_VERSION, BadSampleEntry, Counts, Exchange, Provenance, RunResults
from mmlens.core.sample import BadSample, Sample
from mmlens.core.select import AXES_KEY, selected_axes, with_axis_breakdown
from mmlens.core.task import Task

NO_PREDICTION = "no prediction for this sample"


def score_outcome(
    task: Task,
    sample: Sample,
    prediction: Prediction,
    extraction: Extraction,
    prompt: list[dict[str, Any]],
    exchanges: list[Exchange] | None = None,
) -> SampleRecord:
    metric = task.metric
    scores = metric.score(sample, extraction)
    correct_key = type(metric).correct_key
    correct = bool(scores[correct_key] == 1.0) if correct_key is not None and correct_key in scores else None
    primary = scores.get(type(metric).score_key or type(metric).primary) if correct is None else None
    details = dict(prediction.details)
    applied = sample.metadata.get("transform_details")  # what a transform did (a corruption's steps)
    if applied:
        details["transforms"] = applied
    if extraction.details:
        details.update(extraction.details)
    axes = sample.metadata.get(AXES_KEY)  # the sample's place on the benchmark's axes (core.select)
    if axes:
        details[AXES_KEY] = axes
    return SampleRecord.build(
        schema_version=SCHEMA_VERSION,
        id=sample.id,
        category=sample.category,
        group=sample.group,
        target=sample.target,
        prompt=prompt,
        response=prediction.text,
        answer=extraction.answer,
        extraction=extraction.method,
        scores=scores,
        correct=correct,
        score=primary,
        error=prediction.error or extraction.error,
        failed_role=extraction.failed_role,
        details=details,
        option_scores=prediction.option_scores,
        exchanges=exchanges or [],
    )


def count_outcomes(records: Iterable[SampleRecord], bad_samples: list[BadSample]) -> Counts:
    records = list(records)
    methods = Counter(record.extraction for record in records)
    missing = sum(1 for record in records if record.error == NO_PREDICTION)
    role_errors = sum(1 for record in records if record.failed_role is not None)
    return Counts(
        samples=len(records) + len(bad_samples),
        scored=len(records),
        bad_samples=len(bad_samples),
        errors=methods.get("error", 0) - missing,
        failed_extraction=methods.get("failed", 0),
        extraction=dict(sorted(methods.items())),
        role_errors=role_errors,
    )


def build_results(
    task: Task, records: list[SampleRecord], bad_samples: list[BadSample], provenance: Provenance
) -> RunResults:
    aggregate = task.metric.aggregate(records)
    axes = selected_axes(task.transforms)
    if axes:
        aggregate = with_axis_breakdown(
            aggregate, records, axes, lambda rows: task.metric.aggregate(rows).metrics
        )
    counts = count_outcomes(records, bad_samples)
    return RunResults.model_validate(
        {
            "task": task.name,
            "primary_metric": type(task.metric).primary,
            **aggregate.to_dict(),
            "counts": counts,
            "complete": counts.errors == 0 and not any(r.error == NO_PREDICTION for r in records),
            "bad_samples": [BadSampleEntry(id=b.id, reason=b.reason) for b in bad_samples[:1000]],
            "provenance": provenance,
        }
    )
