"""``mmlens show [RUN]``: the runs in the store, or one run's summary or results.json."""

from __future__ import annotations

import argparse
import json
import os
import socket
from pathlib import Path

from mmlens.cli.registry import command
from mmlens.core.errors import MmlensError
from mmlens.store.sqlite import RunRow, Store
from mmlens.summary import format_summary, format_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", nargs="?", help="run id or prefix; omitted: list the runs")
    parser.add_argument("--json", action="store_true", help="print results.json")


def run_status(run: RunRow) -> str:
    """A run marked running whose process is gone was killed (kill -9, a crash, a lost machine)."""
    process = run.provenance.get("process") or {}
    if run.status == "running" and process.get("host") == socket.gethostname():
        try:
            os.kill(int(process["pid"]), 0)
        except (OSError, KeyError, ValueError):
            return "killed"
    return run.status


def headline(run: RunRow) -> str:
    results = run.results or {}
    entry = results.get("metrics", {}).get(results.get("primary_metric", ""), {})
    value = entry.get("value")
    return f"{results['primary_metric']} {value:.4f}" if isinstance(value, float) else ""


@command("show", "show a run from the store (id, unique id prefix, or run folder)", add_arguments)
def show_command(args: argparse.Namespace) -> int:
    if args.run and Path(args.run, "results.json").is_file():
        results = json.loads(Path(args.run, "results.json").read_text())
    else:
        with Store(args.store) as store:
            runs = store.find_runs(args.run or "")
            if not args.run:
                rows = [["run", "status", "task", "model", "headline"]] + [
                    [r.run_id, run_status(r), r.task, r.model, headline(r)] for r in runs
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
            if status != "done" or run.results is None:
                hint = run.provenance.get("resume") or "rerun its command"
                print(f"run {run.run_id}: {status}; {hint} to resume it")
                return 0
            results = run.results
    print(json.dumps(results, indent=2) if args.json else format_summary(results))
    return 0
