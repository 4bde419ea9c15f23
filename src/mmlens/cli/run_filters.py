"""The options that choose runs from the store (``report``, ``view``, ``show``, ``export``, ``rm``,
``prune``, ``push``): see mmlens.selection."""

from __future__ import annotations

import argparse

from mmlens.selection import STATUSES, RunQuery, check_statuses, parse_age


def add_filter_options(parser: argparse.ArgumentParser, status: bool = False, exclude: bool = True) -> None:
    parser.add_argument(
        "--task",
        action="append",
        default=[],
        metavar="GLOB",
        help="only runs of this task (a glob); repeatable",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="GLOB",
        help="only runs of this model label, e.g. 'constant (text=yes)' or 'hf:*' (a glob); repeatable",
    )
    parser.add_argument("--tag", action="append", default=[], help="only runs with this tag; repeatable")
    if exclude:
        parser.add_argument(
            "--exclude",
            action="append",
            default=[],
            metavar="RUN|TAG",
            help="leave out runs with this id, id prefix, name or tag; repeatable",
        )
    if status:
        parser.add_argument(
            "--status",
            action="append",
            default=[],
            help=f"only runs with this status ({', '.join(STATUSES)}; comma-separated or repeated)",
        )
        parser.add_argument(
            "--older-than",
            metavar="AGE",
            help="only runs last updated longer ago than AGE (30m, 12h, 7d, 2w)",
        )


def query_from(args: argparse.Namespace, references: list[str] | None = None) -> RunQuery:
    older = getattr(args, "older_than", None)
    return RunQuery(
        references=list(references or []),
        tasks=list(args.task),
        models=list(args.model),
        tags=list(args.tag),
        exclude=list(getattr(args, "exclude", []) or []),
        statuses=check_statuses(getattr(args, "status", []) or []),
        older_than=parse_age(older) if older else None,
    )
