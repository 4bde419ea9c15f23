"""``mmlens score TASK --predictions FILE``: score responses produced elsewhere."""

from __future__ import annotations

import argparse
import json

from mmlens.api import score
from mmlens.cli.parser import add_role_options, add_task_options, role_options, task_options
from mmlens.cli.registry import command
from mmlens.summary import format_summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task")
    parser.add_argument(
        "--predictions",
        required=True,
        help='JSONL file: one {"id", ...} per line with what the task returns: "response", '
        '"responses", "option_logprobs", "embedding", "roles"/"judge" (see the README)',
    )
    add_task_options(parser)
    add_role_options(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the whole result (metrics, breakdown, counts, provenance) as JSON",
    )


@command(
    "score", "score outputs made elsewhere (JSONL of {id, response | option_logprobs | ...})", add_arguments
)
def score_command(args: argparse.Namespace) -> int:
    result = score(args.task, args.predictions, **task_options(args), **role_options(args), store=args.store)
    print(json.dumps(result.results, indent=2) if args.json else format_summary(result.results))
    return 0
