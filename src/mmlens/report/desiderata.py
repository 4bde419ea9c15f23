"""The report's desiderata section: ChEF's dimensions of each task and model, recomputed from the
runs in the report (``mmlens dimensions`` made them) with the same code, a radar per task and a
reliability diagram per model. Drawn by the template as inline SVG: it needs no script."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mmlens.analyses.dimensions import DimensionScore, scores_from_labelled_runs
from mmlens.core.results import SampleRecord
from mmlens.metrics.calibration import CalibrationError, calibration_of_records
from mmlens.report.runs import ReportRun

# One number per dimension on the radar, 0-100 with higher better.
RADAR_AXES: dict[str, tuple[str, str]] = {
    "calibration": ("calibration (1 − ECE)", "ece"),
    "in_context_learning": ("in-context learning (RIAM)", "riam"),
    "instruction_following": ("instruction following (MR)", "mr_pct_mean"),
    "robustness": ("robustness (mean RRM)", "rrm_"),
    "hallucination": ("hallucination (F1)", "f1"),
    "language_performance": ("language (judge score × 10)", "language_score"),
}
SIZE, RADIUS = 320, 110
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7")


def axis_value(dimension: str, scores: list[DimensionScore]) -> float | None:
    """The dimension's radar value (0-100, higher better), None where it has no score."""
    _, key = RADAR_AXES[dimension]
    values = [s.value for s in scores if s.dimension == dimension and s.name.startswith(key)]
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return None
    if dimension == "calibration":
        return (1 - values[0]) * 100
    if dimension == "hallucination":
        return values[0] * 100
    if dimension == "language_performance":
        return values[0] * 10
    return sum(values) / len(values)


@dataclass
class ModelDimensions:
    label: str
    scores: list[DimensionScore]
    reliability: dict[str, Any] | None


def _group_key(run: ReportRun) -> tuple[Any, ...]:
    provenance = run.results.provenance
    return (run.task, run.label, provenance.task.profile, provenance.dataset.limit, provenance.dataset.data)


def desiderata_view(runs: list[ReportRun]) -> list[dict[str, Any]]:
    """Per task: each model's dimension scores, the radar over the models, reliability diagrams."""
    groups: dict[tuple[Any, ...], dict[tuple[str, ...], list[SampleRecord]]] = {}
    for run in sorted(runs, key=lambda r: r.row.updated):  # the newest run of a setting wins
        labels = tuple(run.results.provenance.task.transforms)
        groups.setdefault(_group_key(run), {})[labels] = run.records
    by_task: dict[str, list[ModelDimensions]] = {}
    for key, labelled in groups.items():
        scores = scores_from_labelled_runs(labelled)
        if not scores:
            continue
        origin = labelled.get(("likelihood",)) or labelled.get(())
        by_task.setdefault(key[0], []).append(
            ModelDimensions(key[1], scores, reliability_geometry(origin) if origin else None)
        )
    return [
        {"task": task, "models": models, "radar": radar_geometry(models)}
        for task, models in sorted(by_task.items())
    ]


def radar_geometry(models: list[ModelDimensions]) -> dict[str, Any] | None:
    """The radar's geometry (the template draws it): one polygon per model over the dimensions any
    model has, three at least (else no radar)."""
    axes = [d for d in RADAR_AXES if any(axis_value(d, m.scores) is not None for m in models)]
    if len(axes) < 3:
        return None
    centre = SIZE / 2

    def point(index: int, value: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * index / len(axes)
        r = RADIUS * max(0.0, min(value, 100.0)) / 100
        return centre + r * math.cos(angle), centre + r * math.sin(angle)

    def polygon(values: list[float]) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, v) for i, v in enumerate(values)))

    shapes = []
    for number, model in enumerate(models):
        values = [axis_value(d, model.scores) for d in axes]
        shown = ", ".join(
            f"{d}: {'n/a' if v is None else f'{v:.1f}'}" for d, v in zip(axes, values, strict=True)
        )
        colour = PALETTE[number % len(PALETTE)]
        shapes.append({"label": model.label, "points": polygon([v or 0.0 for v in values]), "colour": colour,
                       "shown": shown})  # fmt: skip
    labels = [
        {"text": RADAR_AXES[d][0], "x": point(i, 118)[0], "y": point(i, 118)[1]} for i, d in enumerate(axes)
    ]
    rings = [polygon([ring] * len(axes)) for ring in (25, 50, 75, 100)]
    return {"size": SIZE, "rings": rings, "labels": labels, "models": shapes}


RELIABILITY_SIDE, RELIABILITY_PAD = 220, 24


def reliability_geometry(records: list[SampleRecord]) -> dict[str, Any] | None:
    """ChEF's reliability diagram of a likelihood-ranked run (the template draws it): accuracy
    against mean confidence of each of the 10 equal-count bins, and the diagonal of perfect
    calibration."""
    try:
        result = calibration_of_records(records)
    except CalibrationError:
        return None
    side, pad = RELIABILITY_SIDE, RELIABILITY_PAD
    plot = side - 2 * pad
    bins = [
        {
            "x": pad + b.confidence * plot,
            "y": side - pad - b.accuracy * plot,
            "r": 2 + min(6.0, math.sqrt(b.count)),
            "count": b.count,
            "confidence": b.confidence,
            "accuracy": b.accuracy,
        }  # fmt: skip
        for b in result.bins
    ]
    return {"side": side, "pad": pad, "plot": plot, "ece": result.ece, "n": result.n, "bins": bins}
