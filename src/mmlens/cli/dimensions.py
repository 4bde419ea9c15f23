"""``mmlens dimensions TASK --model M``: ChEF's desiderata on any task, one table."""

from __future__ import annotations

import argparse
import json
import math
import sys

from mmlens.analyses.dimensions import dimensions, run_dimensions
from mmlens.api import DEFAULT_OUTPUT_DIR
from mmlens.cli.parser import (
    add_model_options,
    add_role_options,
    add_task_options,
    model_args_text,
    role_options,
    task_options,
)
from mmlens.cli.registry import command
from mmlens.summary import format_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", help="any multiple-choice or yes/no task (mmlens list tasks)")
    add_model_options(parser, "reference")
    add_role_options(parser)
    add_task_options(parser)
    parser.add_argument(
        "--only",
        metavar="NAME,...",
        help=f"only these dimensions, comma-separated (default all: {', '.join(dimensions.names())})",
    )
    parser.add_argument("--output-dir", default=str(DEFAULT_OUTPUT_DIR))
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the scores and run ids as JSON")


@command(
    "dimensions",
    "ChEF's desiderata (calibration, robustness, ...) on a task: the runs and one table",
    add_arguments,
)
def dimensions_command(args: argparse.Namespace) -> int:
    only = [name.strip() for name in args.only.split(",") if name.strip()] if args.only else None
    report = run_dimensions(
        args.task,
        args.model,
        model_args=model_args_text(args),
        only=only,
        **task_options(args),
        **role_options(args),
        store=args.store,
        output_dir=args.output_dir,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 1 if report.incomplete else 0
    rows = [["dimension", "score", "value", "runs", "note"]]
    for score in report.scores:
        value = "n/a" if math.isnan(score.value) else f"{score.value:.4f}"
        rows.append([score.dimension, score.name, value, ", ".join(score.runs), score.note])
    print(format_table(rows))
    print(f"\n{len(report.runs)} runs in {report.seconds:.1f} s (each cached: rerun to resume)")
    for key, run_id in report.runs.items():
        marker = f"  INCOMPLETE: {report.incomplete[key]}" if key in report.incomplete else ""
        print(f"  {key}: {run_id}{marker}")
    return 1 if report.incomplete else 0
