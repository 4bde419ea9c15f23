"""Which runs go into a report, and what the report needs to know about each of them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mmlens.core.errors import MmlensError
from mmlens.store.sqlite import RunRow, Store

# Per-sample outcomes, exclusive: an error or a failed extraction is not also counted as wrong.
OUTCOMES = ("right", "wrong", "failed", "error", "scored")


@dataclass
class ReportRun:
    row: RunRow
    label: str  # the model's name in the report; unique among the report's models
    records: list[dict[str, Any]]
    score_name: str | None  # the per-sample score behind right / wrong
    binary: bool  # every per-sample score_name value is 0 or 1
    outcomes: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.row.run_id

    @property
    def task(self) -> str:
        return self.row.task

    @property
    def results(self) -> dict[str, Any]:
        assert self.row.results is not None
        return self.row.results

    @property
    def primary(self) -> str | None:
        return self.results.get("primary_metric")


def resolve_run(store: Store, reference: str) -> RunRow:
    """A run id or a unique prefix of one; the run must have finished."""
    matches = store.find_runs(reference)
    exact = [run for run in matches if run.run_id == reference]
    if exact:
        matches = exact
    if not matches:
        raise MmlensError(f"no run {reference!r} in {store.path} (mmlens show lists the runs)")
    if len(matches) > 1:
        shown = ", ".join(run.run_id for run in matches[:5])
        raise MmlensError(f"{reference!r} matches {len(matches)} runs ({shown}); give more of the run id")
    run = matches[0]
    if run.status != "done" or run.results is None:
        raise MmlensError(f"run {run.run_id} is {run.status}, not finished; rerun its command to finish it")
    return run


def select_runs(store: Store, references: Iterable[str]) -> list[RunRow]:
    """The runs named (ids or unique prefixes), in the order given; none named: every finished run."""
    references = list(references)
    if not references:
        runs = [run for run in store.find_runs() if run.status == "done" and run.results is not None]
        if not runs:
            raise MmlensError(f"no finished runs in {store.path}; evaluate a model first (mmlens run TASK)")
        return sorted(runs, key=lambda run: (run.task, run.created))
    selected: dict[str, RunRow] = {}
    for reference in references:
        run = resolve_run(store, reference)
        selected.setdefault(run.run_id, run)
    return list(selected.values())


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def model_labels(runs: list[RunRow]) -> dict[str, str]:
    """run id -> model name; models that share a label get the fingerprint fields that tell them apart."""
    fingerprints = {
        run.run_id: _flatten(run.provenance.get("model", {}).get("fingerprint", {})) for run in runs
    }
    by_label: dict[str, list[RunRow]] = {}
    for run in runs:
        by_label.setdefault(run.model, []).append(run)
    labels: dict[str, str] = {}
    for label, group in by_label.items():
        distinct = {json.dumps(fingerprints[run.run_id], sort_keys=True, default=str) for run in group}
        if len(distinct) <= 1:
            labels.update({run.run_id: label for run in group})
            continue
        keys = sorted({key for run in group for key in fingerprints[run.run_id]})
        differing = [
            key for key in keys if len({repr(fingerprints[run.run_id].get(key)) for run in group}) > 1
        ]
        for run in group:
            shown = ", ".join(
                f"{key.removeprefix('args.')}={fingerprints[run.run_id].get(key)}" for key in differing
            )
            labels[run.run_id] = f"{label} ({shown})"
    return labels


def outcome_score_name(primary: str | None, records: list[dict[str, Any]]) -> tuple[str | None, bool]:
    """The per-sample score that says right or wrong: the primary metric if samples carry it,
    else the first per-sample score that is 0 or 1 everywhere, else the first one."""
    names: dict[str, bool] = {}
    for record in records:
        for name, value in record.get("scores", {}).items():
            binary = value in (0, 1)
            names[name] = names.get(name, True) and binary
    if not names:
        return None, False
    if primary in names:
        return primary, names[primary]
    for name, binary in names.items():
        if binary:
            return name, True
    first = next(iter(names))
    return first, False


def outcome_of(record: dict[str, Any], score_name: str | None, binary: bool) -> str:
    if record.get("extraction") == "error" or record.get("error"):
        return "error"
    if record.get("extraction") == "failed":
        return "failed"
    value = record.get("scores", {}).get(score_name) if score_name else None
    if value is None or not binary:
        return "scored"
    return "right" if value >= 1 else "wrong"


def load_runs(store: Store, rows: list[RunRow]) -> list[ReportRun]:
    labels = model_labels(rows)
    runs = []
    for row in rows:
        records = list(store.iter_records(row.run_id))
        primary = (row.results or {}).get("primary_metric")
        score_name, binary = outcome_score_name(primary, records)
        run = ReportRun(row, labels[row.run_id], records, score_name, binary)
        run.outcomes = [outcome_of(record, score_name, binary) for record in records]
        runs.append(run)
    return runs
