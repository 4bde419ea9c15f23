"""Which runs a command means: ids, id prefixes and names, narrowed by task, model, tag, status and age.

Shared by ``show``, ``report``/``view``, ``export``, ``rm``/``prune``, ``tag`` and ``push``. A reference
is an exact run id, a run's name, or a prefix of run ids; where a command takes several runs a prefix
selects every run it matches, where it takes one the match must be unique.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mmlens.core.errors import DataError, MmlensError
from mmlens.core.results import Provenance
from mmlens.runner.provenance import process_is_gone
from mmlens.store.sqlite import RunRow, Store

# What --status accepts: a finished run is done (complete) or incomplete (some requests failed or
# some samples have no prediction); the others are how a run that did not finish ended.
STATUSES = ("done", "incomplete", "failed", "interrupted", "killed", "running")

_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """``90s``, ``30m``, ``12h``, ``7d``, ``2w`` (or a sum such as ``1d12h``) -> seconds."""
    cleaned = text.strip().lower()
    parts = _AGE.findall(cleaned)
    if not parts or _AGE.sub("", cleaned).strip():
        raise MmlensError(f"--older-than: expected an age such as 30m, 12h, 7d or 2w, got {text!r}")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def row_provenance(run: RunRow) -> Provenance:
    """The row's provenance; one that cannot be read counts as empty here (a listing and a status
    line should not fail on it: ``mmlens show RUN`` reports an unreadable result itself)."""
    try:
        return run.typed_provenance()
    except DataError:
        return Provenance()


def run_status(run: RunRow) -> str:
    """A run marked running whose process is gone was killed (kill -9, a crash, a lost machine),
    also when its pid now belongs to another process (the start time recorded tells them apart)."""
    if run.status != "running":
        return run.status
    return "killed" if process_is_gone(row_provenance(run).process) else run.status


def status_of(run: RunRow) -> str:
    """One of ``STATUSES``: ``run_status``, with a finished run that is not complete ``incomplete``."""
    status = run_status(run)
    if status == "done" and isinstance(run.results, dict) and run.results.get("complete") is False:
        return "incomplete"
    return status


def is_finished(run: RunRow) -> bool:
    return run.status == "done" and run.results is not None


@dataclass
class RunQuery:
    """What a command was asked for. Empty lists select everything; patterns are shell globs
    (``--model 'hf:*'``); several values of one option are alternatives (any may match)."""

    references: list[str] = field(default_factory=list)  # ids, names, id prefixes
    tasks: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)  # ids, names, id prefixes or tags left out
    statuses: list[str] = field(default_factory=list)
    older_than: float | None = None  # seconds since the run was last updated

    @property
    def narrows(self) -> bool:
        return bool(self.tasks or self.models or self.tags or self.statuses or self.older_than is not None)


def _matches(run: RunRow, reference: str, names: dict[str, tuple[str | None, list[str]]]) -> bool:
    return run.run_id.startswith(reference) or names.get(run.run_id, (None, []))[0] == reference


def referenced(
    runs: Sequence[RunRow], reference: str, names: dict[str, tuple[str | None, list[str]]]
) -> list[RunRow]:
    """The runs a reference means: the run with that exact id, else the runs of that name, else the
    runs whose id starts with it."""
    exact = [run for run in runs if run.run_id == reference]
    if exact:
        return exact
    named = [run for run in runs if names.get(run.run_id, (None, []))[0] == reference]
    return named or [run for run in runs if run.run_id.startswith(reference)]


def find(store: Store, query: RunQuery) -> list[RunRow]:
    """The runs ``query`` selects, newest first; a reference that matches no run is an error."""
    runs = store.find_runs()
    names = store.run_names_and_tags()
    if query.references:
        chosen: dict[str, RunRow] = {}
        for reference in query.references:
            matches = referenced(runs, reference, names)
            if not matches:
                raise MmlensError(f"no run {reference!r} in {store.path} (mmlens show lists the runs)")
            for run in matches:
                chosen.setdefault(run.run_id, run)
        runs = [run for run in runs if run.run_id in chosen]
    now = time.time()
    selected = []
    for run in runs:
        tags = names.get(run.run_id, (None, []))[1]
        if query.tasks and not any(fnmatch.fnmatchcase(run.task, p) for p in query.tasks):
            continue
        if query.models and not any(fnmatch.fnmatchcase(run.model, p) for p in query.models):
            continue
        if query.tags and not set(query.tags) & set(tags):
            continue
        if query.statuses and status_of(run) not in query.statuses:
            continue
        if query.older_than is not None and now - run.updated < query.older_than:
            continue
        if any(_matches(run, ref, names) or ref in tags for ref in query.exclude):
            continue
        selected.append(run)
    return selected


def find_one(store: Store, reference: str) -> RunRow:
    """The one run ``reference`` (id, name or unique id prefix) means."""
    runs = referenced(store.find_runs(), reference, store.run_names_and_tags())
    if not runs:
        raise MmlensError(f"no run {reference!r} in {store.path} (mmlens show lists the runs)")
    if len(runs) > 1:
        shown = ", ".join(run.run_id for run in runs[:5])
        raise MmlensError(f"{reference!r} matches {len(runs)} runs ({shown}); give more of the run id")
    return runs[0]


def check_statuses(values: Iterable[str]) -> list[str]:
    statuses = [part.strip() for value in values for part in value.split(",") if part.strip()]
    unknown = [status for status in statuses if status not in STATUSES]
    if unknown:
        raise MmlensError(f"--status {unknown[0]!r}: expected one of {', '.join(STATUSES)}")
    return statuses
