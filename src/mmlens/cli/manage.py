"""Run management: ``mmlens rm`` and ``mmlens prune`` remove runs, ``mmlens tag`` names and tags them.

A removed run loses its store rows (run, records, name, tags) and its run folder (results.json and
samples.jsonl; the folder itself when nothing else is in it); the response cache is kept, so
rerunning its command costs nothing. A run still running (its process alive) is never removed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
from pathlib import Path

from mmlens.cli.registry import command
from mmlens.cli.run_filters import add_filter_options, query_from
from mmlens.core.errors import MmlensError
from mmlens.selection import RunQuery, find, find_one, status_of
from mmlens.store.sqlite import RunRow, Store
from mmlens.summary import format_table

RUN_FILES = ("results.json", "samples.jsonl", "results.json.tmp", "samples.jsonl.tmp")
PRUNE_DEFAULT_STATUSES = ["failed", "interrupted", "killed"]


def _add_removal_options(parser: argparse.ArgumentParser) -> None:
    add_filter_options(parser, status=True)
    parser.add_argument("--dry-run", action="store_true", help="list what would be removed; remove nothing")
    parser.add_argument("-y", "--yes", action="store_true", help="remove without asking")
    parser.add_argument(
        "--keep-files", action="store_true", help="keep the run folders (results.json, samples.jsonl)"
    )


def _rm_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "runs",
        nargs="*",
        metavar="RUN",
        help="run ids, names or id prefixes (a prefix selects every run it matches)",
    )
    _add_removal_options(parser)


def _prune_arguments(parser: argparse.ArgumentParser) -> None:
    _add_removal_options(parser)


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def _remove_files(run: RunRow) -> None:
    if not run.output_dir:
        return
    folder = Path(run.output_dir)
    if not folder.is_dir():
        return
    for name in RUN_FILES:
        (folder / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()  # only when empty: anything else put there stays


def _confirm(count: int) -> bool:
    if not sys.stdin.isatty():
        raise MmlensError(
            f"{count} run(s) would be removed; pass --yes to remove them without a terminal to ask on "
            "(or --dry-run to only list them)"
        )
    answer = input(f"remove {count} run(s)? type {count} to confirm: ").strip()
    return answer == str(count)


def remove(store_path: str | None, query: RunQuery, args: argparse.Namespace, what: str) -> int:
    with Store(store_path) as store:
        runs = find(store, query)
        running = [run for run in runs if status_of(run) == "running"]
        runs = [run for run in runs if status_of(run) != "running"]
        for run in running:
            print(f"kept {run.run_id}: it is still running", file=sys.stderr)
        if not runs:
            print(f"no runs to remove in {store.path}{what}")
            return 0
        rows = [["run", "status", "task", "model", "updated"]] + [
            [run.run_id, status_of(run), run.task, run.model, _when(run.updated)] for run in runs
        ]
        print(format_table(rows))
        if args.dry_run:
            print(f"\n{len(runs)} run(s) would be removed (dry run: nothing removed)")
            return 0
        if not args.yes and not _confirm(len(runs)):
            print("nothing removed")
            return 0
        removed = store.delete_runs(run.run_id for run in runs)
    if not args.keep_files:
        for run in runs:
            _remove_files(run)
    print(f"\nremoved {removed} run(s); their cached responses are kept (a rerun costs nothing)")
    return 0


@command(
    "rm", "remove runs by id, name or prefix (and --task/--model/--tag/--status/--older-than)", _rm_arguments
)
def rm_command(args: argparse.Namespace) -> int:
    query = query_from(args, args.runs)
    if not args.runs and not query.narrows:
        raise MmlensError(
            "rm: name the runs (ids, names or prefixes) or narrow them (--task, --model, --tag, --status, "
            "--older-than); mmlens show lists them"
        )
    return remove(args.store, query, args, "")


@command(
    "prune",
    "remove runs that match filters; without any, the failed, interrupted and killed ones",
    _prune_arguments,
)
def prune_command(args: argparse.Namespace) -> int:
    query = query_from(args)
    if not query.statuses and not (query.tasks or query.models or query.tags or query.older_than is not None):
        query.statuses = list(PRUNE_DEFAULT_STATUSES)
    what = f" with status {', '.join(query.statuses)}" if query.statuses else " matching the filters"
    return remove(args.store, query, args, what)


def _tag_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run", metavar="RUN", help="run id, name or id prefix (a prefix tags every run it matches)"
    )
    parser.add_argument("tags", nargs="*", metavar="TAG", help="tags to add")
    parser.add_argument(
        "--remove", action="append", default=[], metavar="TAG", help="a tag to take off; repeatable"
    )
    parser.add_argument("--name", help="name the run (one run only; '' removes its name)")


def check_label(text: str, option: str) -> str:
    cleaned = text.strip()
    if not cleaned or any(ch in cleaned for ch in "\n\r\t,"):
        raise MmlensError(f"{option}: expected a word or short phrase without commas, got {text!r}")
    return cleaned


@command("tag", "add or remove tags of runs, or name a run", _tag_arguments)
def tag_command(args: argparse.Namespace) -> int:
    add = [check_label(tag, "tag") for tag in args.tags]
    remove_tags = [check_label(tag, "--remove") for tag in args.remove]
    if not add and not remove_tags and args.name is None:
        raise MmlensError("tag: give tags to add, --remove TAG or --name NAME")
    with Store(args.store) as store:
        if args.name is not None:
            run = find_one(store, args.run)
            runs = [run]
            store.set_run_name(run.run_id, check_label(args.name, "--name") if args.name else None)
        else:
            runs = find(store, RunQuery(references=[args.run]))
        store.tag_runs([run.run_id for run in runs], add, remove_tags)
        labels = store.run_names_and_tags()
    for run in runs:
        name, tags = labels.get(run.run_id, (None, []))
        shown = (
            ", ".join(([f"name {name}"] if name else []) + [f"#{tag}" for tag in tags]) or "no name or tags"
        )
        print(f"{run.run_id}: {shown}")
    return 0


def add_run_label_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="name the run (mmlens show, report and rm accept the name)")
    parser.add_argument("--tag", action="append", default=[], help="tag the run; repeatable")


def label_runs(store_path: str | None, run_ids: list[str], name: str | None, tags: list[str]) -> None:
    """``mmlens run --name/--tag`` and ``mmlens score --save --name/--tag``: label the runs made."""
    if not name and not tags:
        return
    with Store(store_path) as store:
        if name:
            for run_id in run_ids:
                store.set_run_name(run_id, check_label(name, "--name"))
        store.tag_runs(run_ids, [check_label(tag, "--tag") for tag in tags])
