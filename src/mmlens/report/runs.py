"""Which runs go into a report, and what the report needs to know about each of them.

Runs and records are read through the typed models (``RunResults``, ``SampleRecord``), so a
record's right/wrong is its ``correct`` and a numeric metric's per-sample value its ``score``;
nothing is guessed from score names here. Rows of schema 1 (mmlens 0.1) get ``correct`` from the
metric's ``correct_key`` where the metric is known, else by the documented schema-1 rule.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from mmlens.core.errors import DataError, MmlensError
from mmlens.core.results import RunResults, SampleRecord
from mmlens.report.table import merged_provenance, run_variant, with_variant
from mmlens.selection import RunQuery, find, find_one, is_finished, referenced
from mmlens.store.sqlite import RunRow, Store
from mmlens.summary import incomplete_reason

# Per-sample outcomes, exclusive: an error or a failed extraction is not also counted as wrong.
OUTCOMES = ("right", "wrong", "failed", "error", "scored")


@dataclass
class ReportRun:
    row: RunRow
    results: RunResults
    label: str  # the model's name (told apart by fingerprint where names collide)
    records: list[SampleRecord]
    outcomes: list[str] = field(default_factory=list)
    variant: list[str] = field(default_factory=list)  # what changes its number (report.table.run_variant)
    name: str | None = None
    tags: list[str] = field(default_factory=list)
    shown_label: str = ""  # what the page calls it: row_label, with the run id's digest where needed

    @property
    def row_label(self) -> str:
        """The leaderboard row: the model and its variant (several runs of one cell share it)."""
        return with_variant(self.label, self.variant)

    @property
    def display(self) -> str:
        """The run's name on the page: unique among the runs of its task."""
        return self.shown_label or self.row_label

    @property
    def limit(self) -> int | None:
        return self.results.provenance.dataset.limit

    @property
    def run_id(self) -> str:
        return self.row.run_id

    @property
    def task(self) -> str:
        return self.row.task

    @property
    def primary(self) -> str:
        return self.results.primary_metric

    @property
    def complete(self) -> bool:
        return self.results.complete

    @property
    def incomplete_reason(self) -> str | None:
        return incomplete_reason(self.results)

    @property
    def binary(self) -> bool:
        """Every record that has a per-sample value has a right/wrong (``correct``)."""
        valued = [record for record in self.records if sample_value(record) is not None]
        return bool(valued) and all(record.correct is not None for record in valued)

    @property
    def value_name(self) -> str | None:
        """What the per-sample value is: ``correct`` (1 right, 0 wrong) or the primary metric's
        per-sample score; None when no record has either."""
        if self.binary:
            return "correct"
        if any(record.score is not None for record in self.records):
            return self.primary
        return None


def sample_value(record: SampleRecord) -> float | None:
    """1.0 / 0.0 for a right / wrong record, else its numeric ``score`` (None when it has neither
    or the score is not finite)."""
    if record.correct is not None:
        return 1.0 if record.correct else 0.0
    if record.score is not None and math.isfinite(record.score):
        return float(record.score)
    return None


def resolve_run(store: Store, reference: str) -> RunRow:
    """A run id, a run's name or a unique prefix of one; the run must have finished."""
    run = find_one(store, reference)
    if not is_finished(run):
        raise MmlensError(f"run {run.run_id} is {run.status}, not finished; rerun its command to finish it")
    return run


def select_runs(store: Store, references: Iterable[str], query: RunQuery | None = None) -> list[RunRow]:
    """The finished runs named (ids, names or prefixes: a prefix selects every run it matches),
    narrowed by ``query`` (task, model, tag, exclusions); none named: every finished run. Ordered by
    the reference that named them, then task and age. A reference that matches only unfinished
    runs is refused, saying why."""
    references = list(references)
    query = replace(query or RunQuery(), references=references)
    found = find(store, query)
    runs = [run for run in found if is_finished(run)]
    names = store.run_names_and_tags()
    for reference in references:
        matches = referenced(found, reference, names)
        if matches and not any(is_finished(run) for run in matches):
            run = matches[0]
            raise MmlensError(
                f"run {run.run_id} is {run.status}, not finished; rerun its command to finish it"
            )
    if not runs and (references or query.narrows or query.exclude):
        raise MmlensError(f"no finished run in {store.path} matches the runs and filters given")
    if not runs:
        raise MmlensError(f"no finished runs in {store.path}; evaluate a model first (mmlens run TASK)")
    position: dict[str, int] = {}
    for index, reference in enumerate(references):
        for run in referenced(runs, reference, names):
            position.setdefault(run.run_id, index)
    return sorted(runs, key=lambda run: (position.get(run.run_id, 0), run.task, run.created))


def unfinished_runs(
    store: Store, references: Iterable[str], query: RunQuery | None = None
) -> list[dict[str, Any]]:
    """The runs the selection names that have no final results (failed, interrupted, killed, still
    running), newest first, for the report's list of runs left out: what they are and how to resume."""
    from mmlens.selection import row_provenance, status_of

    query = replace(query or RunQuery(), references=[])
    references = list(references)
    names = store.run_names_and_tags()
    found = find(store, query)
    if references:
        found = [run for run in found if any(run in referenced(found, ref, names) for ref in references)]
    return [
        {
            "run_id": run.run_id,
            "task": run.task,
            "model": run.model,
            "status": status_of(run),
            "variant": ", ".join(run_variant(row_provenance(run))),
            "resume": row_provenance(run).resume or "",
        }
        for run in found
        if not is_finished(run)
    ]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def model_labels(runs: list[RunRow]) -> dict[str, str]:
    """run id -> model name; models that share a label get the fingerprint fields that tell them apart."""
    fingerprints = {run.run_id: _flatten(run.typed_provenance().model.fingerprint) for run in runs}
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


def outcome_of(record: SampleRecord) -> str:
    if record.extraction == "error" or record.error:
        return "error"
    if record.extraction == "failed":
        return "failed"
    if record.correct is None:
        return "scored"
    return "right" if record.correct else "wrong"


def legacy_correct_key(results: RunResults) -> str | None:
    """For schema-1 records: the ``correct_key`` of the metric the run was scored with, where that
    metric is one mmlens knows (None, and the schema-1 rule of ``SampleRecord.from_dict`` decides,
    for a metric it does not know, such as one from a task's hooks file)."""
    from mmlens.core.parts import metrics

    name = results.provenance.task.metric.get("type")  # the metric's own options: a plain dict
    if not isinstance(name, str):
        return None
    try:
        return metrics.get(name).correct_key
    except MmlensError:
        return None


def typed_run(row: RunRow) -> RunResults:
    results = row.typed_results()
    if results is None:
        raise MmlensError(f"run {row.run_id} has no results; rerun its command to finish it")
    return results


def load_records(store: Store, run_id: str, correct_key: str | None) -> list[SampleRecord]:
    records = []
    for data in store.iter_records(run_id):
        if not isinstance(data, dict):
            raise DataError(f"run {run_id}: a sample record is not a JSON object")
        try:
            records.append(SampleRecord.from_dict(data, correct_key))
        except DataError as error:
            raise DataError(f"run {run_id}: {error}") from None
    return records


def load_runs(store: Store, rows: list[RunRow]) -> list[ReportRun]:
    """The runs with their records; a run's label is its model with its variant, and the run id's
    digest where several runs of one task would share it."""
    labels = model_labels(rows)
    names = store.run_names_and_tags()
    runs = []
    for row in rows:
        results = typed_run(row)
        records = load_records(store, row.run_id, legacy_correct_key(results))
        variant = run_variant(merged_provenance(row, results))
        name, tags = names.get(row.run_id, (None, []))
        run = ReportRun(row, results, labels[row.run_id], records, [], variant, name, tags)
        run.outcomes = [outcome_of(record) for record in records]
        runs.append(run)
    shared: dict[tuple[str, str], int] = {}
    for run in runs:
        shared[(run.task, run.row_label)] = shared.get((run.task, run.row_label), 0) + 1
    for run in runs:
        if shared[(run.task, run.row_label)] > 1:
            run.shown_label = f"{run.row_label} #{run.run_id.rsplit('__', 1)[-1][:6]}"
    return runs
