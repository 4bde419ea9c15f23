"""``mmlens compare-reported [RUN ...]``: each run's number next to what papers report for its model
on its task (mmlens.core.reported), the difference with its 95% CI and whether the gap is within
noise (mmlens.analyses.reported)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mmlens.analyses.reported import WITHIN, ReportedComparison, compare_run
from mmlens.cli.registry import command
from mmlens.cli.run_filters import add_filter_options, query_from
from mmlens.core.reported import ReportedResult, load_reported
from mmlens.core.results import RunResults
from mmlens.selection import find, is_finished
from mmlens.store.sqlite import Store
from mmlens.summary import format_table, load_results_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "runs",
        nargs="*",
        metavar="RUN",
        help="run ids, names, id prefixes or run folders (none: every finished run)",
    )
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="PATH",
        help="more reported results: YAML files with a reported: list, suite files; repeatable",
    )
    parser.add_argument(
        "--reported-model",
        metavar="NAME",
        help="compare with the results published for NAME (whatever the run's model is)",
    )
    parser.add_argument(
        "--all-models", action="store_true", help="compare with every published model of the run's task"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a gap is beyond noise (or has no CI)"
    )
    parser.add_argument("--json", action="store_true", help="print the comparisons as JSON")
    add_filter_options(parser)


def _number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    text = f"{value:.4f}" if abs(value) < 1 else f"{value:.2f}"
    return ("+" + text) if signed and value > 0 else text


def _interval(ci: tuple[float, float] | None, signed: bool = False) -> str:
    return f"[{_number(ci[0], signed)}, {_number(ci[1], signed)}]" if ci else ""


def format_comparisons(comparisons: list[ReportedComparison], show_run: bool = True) -> str:
    """The table (one row per run and published result) and the numbered sources under it."""
    sources: list[ReportedResult] = []
    rows = [
        (["run"] if show_run else [])
        + ["task", "model", "reported as", "metric", "reported", "measured", "95% CI", "diff", "diff 95% CI"]
        + ["verdict", "src", "notes"]
    ]
    for item in comparisons:
        if item.reported not in sources:
            sources.append(item.reported)
        cells = [item.task, item.model, item.reported.model, item.metric, _number(item.reported.value)]
        cells += [_number(item.measured), _interval(item.ci95), _number(item.difference, True)]
        cells += [
            _interval(item.difference_ci95, True),
            item.verdict,
            f"[{sources.index(item.reported) + 1}]",
        ]
        cells.append("; ".join(item.notes))
        rows.append(([item.run_id] if show_run else []) + cells)
    lines = [format_table(rows), "", "sources:"]
    for number, entry in enumerate(sources, 1):
        settings = ", ".join(f"{key}: {value}" for key, value in entry.settings.items())
        scale = f"; measured x {entry.scale:g}" if entry.scale != 1 else ""
        profile = f"; profile {entry.profile}" if entry.profile else ""
        lines.append(
            f"[{number}] {entry.source}{profile}{scale}" + (f"; settings: {settings}" if settings else "")
        )
        lines.append(f"    ({entry.origin})")
    return "\n".join(lines)


def _runs(args: argparse.Namespace) -> list[tuple[str, RunResults]]:
    """(run id, results) of each run asked for; run folders read from their results.json."""
    folders = [ref for ref in args.runs if Path(ref, "results.json").is_file()]
    references = [ref for ref in args.runs if ref not in folders]
    found: list[tuple[str, RunResults]] = []
    for folder in folders:
        from_folder = load_results_file(folder)
        found.append((from_folder.provenance.run_id or Path(folder).name, from_folder))
    if references or not folders:
        with Store(args.store, read_only=True) as store:
            for run in find(store, query_from(args, references)):
                results = run.typed_results() if is_finished(run) else None
                if results is not None:
                    found.append((run.run_id, results))
    return found


@command(
    "compare-reported",
    "each run next to what papers report for its model and task: the gap, its CI, within noise or not",
    add_arguments,
)
def compare_reported_command(args: argparse.Namespace) -> int:
    runs = _runs(args)
    sources = [results.provenance.task.source for _, results in runs]
    entries = load_reported(sources, args.include)
    comparisons: list[ReportedComparison] = []
    without: list[str] = []
    for run_id, results in runs:
        found = compare_run(run_id, results, entries, args.reported_model, args.all_models)
        comparisons += found
        if not found:
            without.append(f"{run_id} ({results.task}, {results.provenance.model.label})")
    if args.json:
        print(json.dumps([item.to_dict() for item in comparisons], indent=2))
    else:
        if comparisons:
            print(format_comparisons(comparisons))
        if without:
            hint = (
                ""
                if comparisons
                else " (published results: reported.yaml beside a task file, a suite's reported:)"
            )
            print(
                ("\n" if comparisons else "")
                + f"no reported result for the model of {len(without)} run(s){hint}:"
            )
            for line in without:
                print(f"  {line}")
        if not runs:
            print("no finished runs")
    if args.check and any(item.verdict != WITHIN for item in comparisons):
        return 1
    return 0
