"""``mmlens push``: send finished runs to trackers: Weights & Biases (``--wandb``) and a dataset
repository on the Hugging Face Hub (``--hub OWNER/NAME``). Both need the ``trackers`` extra."""

from __future__ import annotations

import argparse
from typing import Any

from mmlens.cli.registry import command
from mmlens.cli.run_filters import add_filter_options, query_from
from mmlens.core.errors import MmlensError

DEFAULT_WANDB_PROJECT = "mmlens"


def add_wandb_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wandb",
        nargs="?",
        const=DEFAULT_WANDB_PROJECT,
        metavar="PROJECT",
        help=f"log to Weights & Biases, project PROJECT (default {DEFAULT_WANDB_PROJECT}); "
        "WANDB_MODE=offline logs locally (needs the trackers extra)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "runs", nargs="*", metavar="RUN", help="run ids, names or id prefixes (default: every finished run)"
    )
    add_filter_options(parser)
    add_wandb_option(parser)
    parser.add_argument(
        "--hub", metavar="OWNER/NAME", help="push results and samples to this Hub dataset repo"
    )
    parser.add_argument("--private", action="store_true", help="create the Hub repo private")


def wandb_log_runs(store_path: Any, run_ids: list[str], project: str) -> list[str]:
    """Log finished runs of the store to W&B; returns each W&B run's local folder."""
    from mmlens.report.runs import legacy_correct_key, load_records, typed_run
    from mmlens.store.sqlite import Store
    from mmlens.trackers.wandb_log import log_run

    folders = []
    with Store(store_path, read_only=True) as store:
        labels = store.run_names_and_tags()
        for run_id in run_ids:
            row = store.get_run(run_id)
            if row is None or row.results is None:
                continue
            results = typed_run(row)
            records = load_records(store, run_id, legacy_correct_key(results))
            name, tags = labels.get(run_id, (None, []))
            folders.append(log_run(run_id, results, records, project, tags, name))
    return folders


@command(
    "push", "send finished runs to Weights & Biases (--wandb) or the Hugging Face Hub (--hub)", add_arguments
)
def push_command(args: argparse.Namespace) -> int:
    from mmlens.report.runs import select_runs
    from mmlens.store.sqlite import Store
    from mmlens.trackers.hub import HubRun, push_runs

    if not args.wandb and not args.hub:
        raise MmlensError("push: say where: --wandb [PROJECT] and/or --hub OWNER/NAME")
    with Store(args.store, read_only=True) as store:
        rows = select_runs(store, args.runs, query_from(args))
        hub_runs = [
            HubRun(row.run_id, row.results or {}, list(store.iter_records(row.run_id))) for row in rows
        ]
    if args.wandb:
        for folder in wandb_log_runs(args.store, [row.run_id for row in rows], args.wandb):
            print(f"wandb: logged to {folder}")
    if args.hub:
        url = push_runs(args.hub, hub_runs, private=args.private)
        print(f"hub: pushed {len(hub_runs)} run(s) to {args.hub}: {url}")
    return 0
