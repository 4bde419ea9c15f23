"""``mmlens show [RUN]``: the runs in the store, or one run's summary or results.json."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mmlens.cli.registry import command
from mmlens.core.errors import DataError, MmlensError
from mmlens.core.results import Provenance, RunResults
from mmlens.runner.provenance import process_is_gone
from mmlens.store.sqlite import RunRow, Store
from mmlens.summary import format_summary, format_table, headline, load_results_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", nargs="?", help="run id or prefix; omitted: list the runs")
    parser.add_argument("--json", action="store_true", help="print results.json")


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


def run_headline(run: RunRow) -> str:
    """The primary metric, marked when the run is incomplete; a row that cannot be read says so."""
    try:
        results = run.typed_results()
    except MmlensError as error:
        return f"unreadable ({error})"
    return headline(results) if results is not None else ""


@command("show", "show a run from the store (id, unique id prefix, or run folder)", add_arguments)
def show_command(args: argparse.Namespace) -> int:
    results: RunResults | None
    if args.run and Path(args.run, "results.json").is_file():
        results = load_results_file(args.run)
    else:
        with Store(args.store, read_only=True) as store:  # writes nothing: read-only media work
            runs = store.find_runs(args.run or "")
            if not args.run:
                rows = [["run", "status", "task", "model", "headline"]] + [
                    [r.run_id, run_status(r), r.task, r.model, run_headline(r)] for r in runs
                ]
                print(format_table(rows) if runs else f"no runs in {store.path}")
                return 0
            exact = [r for r in runs if r.run_id == args.run]
            if exact:
                runs = exact
            if not runs:
                raise MmlensError(f"no run {args.run!r} in {store.path} (mmlens show lists the runs)")
            if len(runs) > 1:
                raise MmlensError(
                    f"{args.run!r} matches {len(runs)} runs: " + ", ".join(r.run_id for r in runs[:5])
                )
            run = runs[0]
            status = run_status(run)
            results = run.typed_results()
            if status != "done" or results is None:
                hint = row_provenance(run).resume or "rerun its command"
                print(f"run {run.run_id}: {status}; {hint} to resume it")
                return 0
    print(json.dumps(results.to_dict(), indent=2) if args.json else format_summary(results))
    return 0
