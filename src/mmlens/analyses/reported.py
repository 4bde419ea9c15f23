"""Reported vs measured: a run's number next to what a paper reports for the model on the task.

Both are put in the paper's units (the run's value times the reported result's ``scale``). The
difference is measured - reported; its 95% interval is the run's 95% interval shifted by the
reported number (the published number is taken as exact: papers give no interval), so the gap is
within noise when the reported number lies inside the run's interval. A run that cannot reproduce
the paper's number as such is said in ``notes``: an incomplete or ``--limit`` run, another number
of questions than the paper scored, another profile than the paper's scorer, transforms."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field

from mmlens.core.reported import ReportedResult
from mmlens.core.results import RunResults

WITHIN = "within noise"
ABOVE = "above reported"
BELOW = "below reported"
NO_CI = "no CI"
NO_METRIC = "metric not in run"


@dataclass
class ReportedComparison:
    run_id: str
    task: str
    model: str  # the run's model label
    reported: ReportedResult
    metric: str
    measured: float | None  # in the paper's units
    ci95: tuple[float, float] | None
    n: int | None
    verdict: str
    notes: list[str] = field(default_factory=list)

    @property
    def difference(self) -> float | None:
        return None if self.measured is None else self.measured - self.reported.value

    @property
    def difference_ci95(self) -> tuple[float, float] | None:
        if self.ci95 is None:
            return None
        return (self.ci95[0] - self.reported.value, self.ci95[1] - self.reported.value)

    def to_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "task": self.task,
            "model": self.model,
            "reported_model": self.reported.model,
            "metric": self.metric,
            "reported": self.reported.value,
            "measured": self.measured,
            "ci95": list(self.ci95) if self.ci95 else None,
            "difference": self.difference,
            "difference_ci95": list(self.difference_ci95) if self.difference_ci95 else None,
            "n": self.n,
            "verdict": self.verdict,
            "notes": self.notes,
            "scale": self.reported.scale,
            "source": self.reported.source,
            "settings": self.reported.settings,
            "profile": self.reported.profile,
            "from": self.reported.origin,
        }


def model_names(results: RunResults) -> list[str]:
    """What a ``models`` glob is matched against: the run's model label, and the label with the
    backend options of its fingerprint (``constant (text=yes,logprob=0.0)``)."""
    model = results.provenance.model
    label = model.label or ""
    options = model.fingerprint.get("args") or {}
    names = [label]
    if isinstance(options, dict) and options:
        names.append(f"{label} ({','.join(f'{key}={value}' for key, value in options.items())})")
    return names


def model_matches(entry: ReportedResult, names: Sequence[str]) -> bool:
    """Whether the run's model is the entry's: a ``models`` glob matches one of its names
    (case-insensitive), or its label is the published name."""
    lowered = [name.lower() for name in names]
    if entry.model.lower() in lowered:
        return True
    return any(fnmatch.fnmatch(name, pattern.lower()) for name in lowered for pattern in entry.models)


def compare_run(
    run_id: str,
    results: RunResults,
    entries: Sequence[ReportedResult],
    model_name: str | None = None,
    every_model: bool = False,
) -> list[ReportedComparison]:
    """The run against each reported result of its task for its model (``model_name``: the
    published model of that name instead; ``every_model``: every published model)."""
    label = results.provenance.model.label or ""
    names = model_names(results)
    chosen = []
    for entry in entries:
        if entry.task != results.task:
            continue
        if every_model or (
            entry.model.lower() == model_name.lower() if model_name else model_matches(entry, names)
        ):
            chosen.append(entry)
    return [_compare(run_id, results, label, entry) for entry in chosen]


def _compare(run_id: str, results: RunResults, label: str, entry: ReportedResult) -> ReportedComparison:
    metric = entry.metric or results.primary_metric
    summary = results.metrics.get(metric)
    notes = _notes(results, entry)
    if summary is None:
        known = ", ".join(sorted(results.metrics))
        return ReportedComparison(
            run_id,
            results.task,
            label,
            entry,
            metric,
            None,
            None,
            None,
            NO_METRIC,
            [f"run has {known}", *notes],
        )
    measured = summary.value * entry.scale
    ci = (summary.ci95[0] * entry.scale, summary.ci95[1] * entry.scale) if summary.ci95 else None
    if ci is None:
        verdict = NO_CI
    elif ci[0] <= entry.value <= ci[1]:
        verdict = WITHIN
    else:
        verdict = ABOVE if measured > entry.value else BELOW
    return ReportedComparison(
        run_id, results.task, label, entry, metric, measured, ci, summary.n, verdict, notes
    )


def _notes(results: RunResults, entry: ReportedResult) -> list[str]:
    provenance = results.provenance
    notes = []
    if not results.complete:
        notes.append("incomplete run")
    if provenance.dataset.limit is not None:
        notes.append(f"partial run (--limit {provenance.dataset.limit})")
    if entry.n is not None and results.counts.samples != entry.n:
        notes.append(f"{results.counts.samples} samples, the paper {entry.n}")
    if entry.profile is not None and provenance.task.profile != entry.profile:
        notes.append(f"profile {provenance.task.profile or 'default'}, the paper's {entry.profile}")
    if provenance.task.transforms:
        notes.append("transforms " + ", ".join(provenance.task.transforms))
    return notes
