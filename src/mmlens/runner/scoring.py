"""Scoring: predictions -> extracted answers -> per-sample records -> aggregate."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from mmlens.core.parts import Extraction, Prediction, SampleRecord
from mmlens.core.requests import Request
from mmlens.core.sample import BadSample, Sample
from mmlens.core.task import Task


def prompt_of(requests: list[Request]) -> list[dict[str, Any]]:
    """The prompt as sent (media referenced by content hash)."""
    return requests[0].canonical()["messages"] if requests else []


def score_prediction(
    task: Task, sample: Sample, prediction: Prediction, prompt: list[dict[str, Any]]
) -> SampleRecord:
    if prediction.error is not None:
        extraction = Extraction(None, "error")
    else:
        extraction = task.metric.extract(sample, prediction)
    scores = task.metric.score(sample, extraction)
    return SampleRecord(
        id=sample.id,
        category=sample.category,
        group=sample.group,
        target=sample.target,
        prompt=prompt,
        response=prediction.text,
        answer=extraction.answer,
        extraction=extraction.method,
        scores=scores,
        error=prediction.error,
        details=prediction.details,
    )


NO_PREDICTION = "no prediction for this sample"


def count_outcomes(records: Iterable[SampleRecord], bad_samples: list[BadSample]) -> dict[str, Any]:
    records = list(records)
    methods = Counter(record.extraction for record in records)
    missing = sum(1 for record in records if record.error == NO_PREDICTION)
    return {
        "samples": len(records) + len(bad_samples),
        "scored": len(records),
        "bad_samples": len(bad_samples),
        "errors": methods.get("error", 0) - missing,
        "failed_extraction": methods.get("failed", 0),
        "extraction": dict(sorted(methods.items())),
    }


def build_results(
    task: Task, records: list[SampleRecord], bad_samples: list[BadSample], provenance: dict[str, Any]
) -> dict[str, Any]:
    aggregate = task.metric.aggregate(records)
    counts = count_outcomes(records, bad_samples)
    return {
        "task": task.name,
        "primary_metric": type(task.metric).primary,
        **aggregate.to_dict(),
        "counts": counts,
        "complete": counts["errors"] == 0 and not any(r.error == NO_PREDICTION for r in records),
        "bad_samples": [{"id": b.id, "reason": b.reason} for b in bad_samples[:1000]],
        "provenance": provenance,
    }
