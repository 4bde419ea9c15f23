"""``mmlens show [RUN]``: the runs in the store, one run's summary or results.json, or ``--table``
(models x tasks, as the report's leaderboard: a partial or variant run never in the full run's cell)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mmlens.cli.registry import command
from mmlens.cli.run_filters import add_filter_options, query_from
from mmlens.core.errors import MmlensError
from mmlens.core.results import RunResults
from mmlens.report.table import run_variant, variant_text
from mmlens.selection import find, find_one, row_provenance, run_status
from mmlens.store.sqlite import RunRow, Store
from mmlens.summary import format_summary, format_table, headline, load_results_file

__all__ = ["row_provenance", "run_status", "show_command"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run", nargs="?", help="run id, name, unique id prefix or run folder; omitted: list the runs"
    )
    parser.add_argument("--json", action="store_true", help="print results.json")
    parser.add_argument(
        "--table",
        action="store_true",
        help="models x tasks: each task's primary metric and 95%% CI, one row per model and variant",
    )
    add_filter_options(parser, status=True)


def run_headline(run: RunRow) -> str:
    """The primary metric, marked when the run is incomplete; a row that cannot be read says so."""
    try:
        results = run.typed_results()
    except MmlensError as error:
        return f"unreadable ({error})"
    return headline(results) if results is not None else ""


def _list_runs(store: Store, args: argparse.Namespace) -> int:
    query = query_from(args, [args.run] if args.run else [])
    runs = find(store, query)
    if args.table:
        from mmlens.report.export import to_text
        from mmlens.report.table import build_table, table_runs

        table = build_table(table_runs(runs, store.run_names_and_tags()))
        print(to_text(table) if table.rows else f"no finished runs in {store.path}")
        return 0
    names = store.run_names_and_tags()
    rows = [["run", "status", "task", "model", "variant", "name/tags", "headline"]]
    for run in runs:
        name, tags = names.get(run.run_id, (None, []))
        labels = ", ".join(([name] if name else []) + [f"#{tag}" for tag in tags])
        variant = variant_text(run_variant(row_provenance(run)))
        rows.append([run.run_id, run_status(run), run.task, run.model, variant, labels, run_headline(run)])
    if not runs:
        narrowed = " match" if query.narrows or query.exclude else ""
        print(f"no runs{narrowed} in {store.path}")
    else:
        print(format_table(rows))
    return 0


@command(
    "show", "show the runs in the store, one run (id, name, prefix or run folder), or --table", add_arguments
)
def show_command(args: argparse.Namespace) -> int:
    results: RunResults | None
    if args.run and Path(args.run, "results.json").is_file():
        results = load_results_file(args.run)
    else:
        with Store(args.store, read_only=True) as store:  # writes nothing: read-only media work
            if not args.run or args.table:
                return _list_runs(store, args)
            run = find_one(store, args.run)
            status = run_status(run)
            results = run.typed_results()
            if status != "done" or results is None:
                provenance = row_provenance(run)
                hint = provenance.resume or "rerun its command"
                why = f" ({provenance.failure})" if status == "failed" and provenance.failure else ""
                print(f"run {run.run_id}: {status}{why}; {hint} to resume it")
                return 0
    print(json.dumps(results.to_dict(), indent=2) if args.json else format_summary(results))
    return 0
