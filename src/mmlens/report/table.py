"""Honest leaderboards: models x tasks, where a cell only ever holds runs made the same way.

A run's *variant* is what it changed from the task's official recipe that can change its number: a
profile, a ``--limit`` (a partial run), transforms, generation settings other than the task's, a role
(judge) other than the task's default, judge replies replayed from a file. A leaderboard row is a
model with one variant, so a ``--limit 2`` smoke run or a circular run never lands in the cell of
the full run. Several runs of one row and task (reruns, another task version, other data) share the
cell: the one shown is the run asked for (``--run``), else the newest complete one, else the newest;
the others are listed with it. Used by the HTML report, ``mmlens show --table`` and ``mmlens export``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mmlens.core.errors import MmlensError
from mmlens.core.results import MetricSummary, Provenance, RunResults
from mmlens.store.sqlite import RunRow

MODEL_ROLE_NAMES = ("model",)


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _inferencer_defaults(config: dict[str, Any]) -> dict[str, Any] | None:
    """The settings the task's own inferencer (as its YAML gives it) runs with; None when its type
    is not one mmlens can build here (a benchmark's own part whose folder is not imported)."""
    from mmlens.core import parts

    name = config.get("type")
    if not isinstance(name, str):
        return None
    try:
        cls = parts.inferencers.get(name)
        options = {key: value for key, value in config.items() if key != "type"}
        return dict(cls.model_validate(options).model_dump(mode="json"))
    except (MmlensError, ValueError, TypeError):
        return None


def generation_changes(provenance: Provenance) -> dict[str, Any]:
    """Generation settings of the run that differ from the task's own (what the YAML gives, with the
    inferencer's defaults for the rest); a seed only where generation samples."""
    generation = provenance.generation
    if not generation:
        return {}
    task_config = provenance.task.inferencer
    defaults = _inferencer_defaults(task_config) or {}
    changed: dict[str, Any] = {}
    for key, value in generation.items():
        if key == "seed":
            continue
        if key in task_config and key != "type":
            default = task_config[key]
        elif key in defaults:
            default = defaults[key]
        else:
            continue
        if _shown(value) != _shown(default):
            changed[key] = value
    overrides = getattr(provenance, "generation_overrides", None) or (provenance.model_extra or {}).get(
        "generation_overrides"
    )
    if isinstance(overrides, dict):  # recorded as given on the command line, where a run records them
        changed.update({str(k): v for k, v in overrides.items() if str(k) not in changed})
    temperature = generation.get("temperature")
    if isinstance(temperature, int | float) and temperature > 0 and provenance.seed not in (None, 0):
        changed["seed"] = provenance.seed
    return changed


def run_variant(provenance: Provenance) -> list[str]:
    """What the run changed from the task's official recipe, in a fixed order; [] for a full,
    official run."""
    parts: list[str] = []
    task = provenance.task
    if task.profile:
        parts.append(f"profile={task.profile}")
    parts += list(task.transforms)
    parts += [f"{key}={_shown(value)}" for key, value in generation_changes(provenance).items()]
    for name, role in sorted(provenance.roles.items()):
        if role.source == "replayed":
            parts.append(f"{name} replies replayed")
        elif role.source == "given" and not role.is_task_default:
            parts.append(f"{name}={role.label or '?'}")
    if provenance.dataset.limit is not None:
        parts.append(f"limit={provenance.dataset.limit}")
    return parts


def variant_text(variant: Iterable[str]) -> str:
    return ", ".join(variant)


def with_variant(label: str, variant: list[str]) -> str:
    """A leaderboard row's label: the model, then its variant in brackets (nothing for a full run)."""
    return f"{label} [{variant_text(variant)}]" if variant else label


@dataclass
class TableRun:
    """One finished run as a leaderboard sees it."""

    row: RunRow
    results: RunResults
    model_label: str
    variant: list[str]
    name: str | None = None
    tags: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.row.run_id

    @property
    def task(self) -> str:
        return self.row.task

    @property
    def row_label(self) -> str:
        return with_variant(self.model_label, self.variant)

    @property
    def partial(self) -> int | None:
        """The --limit of a partial run, else None."""
        return self.results.provenance.dataset.limit if self.results.provenance.dataset.limit else None

    @property
    def complete(self) -> bool:
        return self.results.complete

    @property
    def primary(self) -> MetricSummary | None:
        return self.results.primary

    @property
    def value(self) -> float | None:
        entry = self.primary
        if entry is None or not math.isfinite(entry.value):
            return None
        return float(entry.value)


@dataclass
class TableCell:
    runs: list[TableRun]  # the run shown first, then the others (newest first)

    @property
    def shown(self) -> TableRun:
        return self.runs[0]

    @property
    def others(self) -> list[TableRun]:
        return self.runs[1:]


@dataclass
class TableRow:
    label: str
    model_label: str
    variant: list[str]
    cells: dict[str, TableCell]


@dataclass
class Table:
    tasks: list[tuple[str, str]]  # (task, its primary metric)
    rows: list[TableRow]


def _preference(run: TableRun, chosen: set[str]) -> tuple[int, int, float]:
    return (0 if run.run_id in chosen else 1, 0 if run.complete else 1, -run.row.updated)


def build_table(runs: Iterable[TableRun], chosen: Iterable[str] = ()) -> Table:
    """Rows = model x variant, columns = tasks (sorted), sorted by the first task's value (best first)."""
    chosen_ids = set(chosen)
    tasks: dict[str, str] = {}
    grouped: dict[str, dict[str, list[TableRun]]] = {}
    rows_meta: dict[str, tuple[str, list[str]]] = {}
    runs = sorted(runs, key=lambda run: len(run.variant))  # a column's metric: the full runs' one
    for run in runs:
        tasks.setdefault(run.task, run.results.primary_metric)
        grouped.setdefault(run.row_label, {}).setdefault(run.task, []).append(run)
        rows_meta.setdefault(run.row_label, (run.model_label, run.variant))
    rows = []
    for label, by_task in grouped.items():
        cells = {
            task: TableCell(sorted(group, key=lambda r: _preference(r, chosen_ids)))
            for task, group in by_task.items()
        }
        model_label, variant = rows_meta[label]
        rows.append(TableRow(label, model_label, variant, cells))
    task_names = sorted(tasks)
    first = task_names[0] if task_names else None

    def sort_key(row: TableRow) -> tuple[int, float, str]:
        cell = row.cells.get(first) if first else None
        value = cell.shown.value if cell is not None else None
        return (len(row.variant) and 1, -(value if value is not None else -math.inf), row.label)

    rows.sort(key=sort_key)
    return Table([(name, tasks[name]) for name in task_names], rows)


def table_runs(
    rows: list[RunRow], names: dict[str, tuple[str | None, list[str]]] | None = None
) -> list[TableRun]:
    """Finished rows as TableRuns (model labels told apart by fingerprint where they collide)."""
    from mmlens.report.runs import model_labels

    finished = [row for row in rows if row.status == "done" and row.results is not None]
    labels = model_labels(finished)
    names = names or {}
    result = []
    for row in finished:
        results = row.typed_results()
        assert results is not None
        provenance = merged_provenance(row, results)
        name, tags = names.get(row.run_id, (None, []))
        result.append(TableRun(row, results, labels[row.run_id], run_variant(provenance), name, tags))
    return result


def merged_provenance(row: RunRow, results: RunResults) -> Provenance:
    """The row's provenance (written when the run began) with the results' (the finished one) over it."""
    try:
        merged = {**row.typed_provenance().to_dict(), **results.provenance.to_dict()}
        return Provenance.load(merged, f"run {row.run_id}")
    except MmlensError:
        return results.provenance
