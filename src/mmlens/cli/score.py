"""``mmlens score TASK --predictions FILE``: score responses produced elsewhere."""

from __future__ import annotations

import argparse
import json
import sys

from mmlens.api import DEFAULT_OUTPUT_DIR, RunResult, score
from mmlens.cli.manage import add_run_label_options, label_runs
from mmlens.cli.parser import add_role_options, add_task_options, role_options, task_options
from mmlens.cli.registry import command
from mmlens.core.errors import MmlensError
from mmlens.inferencers.embed import candidate_vectors
from mmlens.summary import format_summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task")
    parser.add_argument(
        "--predictions",
        required=True,
        help='JSONL file: one {"id", ...} per line with what the task returns: "response", '
        '"responses", "option_logprobs", "embedding", "rewards", "roles"/"judge" (see the README)',
    )
    parser.add_argument(
        "--candidates",
        metavar="FILE",
        help="embedding tasks that rank candidates (mmeb, mbeir): the candidates' vectors made "
        'elsewhere, JSONL of {"text", "image", "embedding"} or .npz (embeddings, texts, images); '
        'the predictions file then gives each query\'s "embedding"',
    )
    add_task_options(parser)
    add_role_options(parser)
    parser.add_argument(
        "--save",
        action="store_true",
        help="save the result as a run in the store (and a run folder), seen by show, report and export",
    )
    parser.add_argument(
        "--model-name",
        metavar="LABEL",
        help="with --save: the model's name in the store and report (default predictions:<file name>)",
    )
    parser.add_argument(
        "--output-dir",
        default=str(DEFAULT_OUTPUT_DIR),
        help="with --save: where the run folder goes (default %(default)s)",
    )
    add_run_label_options(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the whole result (metrics, breakdown, counts, provenance) as JSON",
    )


@command(
    "score", "score outputs made elsewhere (JSONL of {id, response | option_logprobs | ...})", add_arguments
)
def score_command(args: argparse.Namespace) -> int:
    if not args.save and (args.model_name or args.name or args.tag):
        raise MmlensError("--model-name, --name and --tag label a saved run: add --save")
    with candidate_vectors(args.candidates) as candidates:
        result = _score(args)
    if candidates is not None and not candidates.used:
        raise MmlensError(
            f"--candidates {args.candidates}: task {args.task} read no query embedding against them "
            '(it does not rank candidates, or the predictions give "response" rankings)'
        )
    print(json.dumps(result.results, indent=2) if args.json else format_summary(result.results))
    if args.save:
        label_runs(args.store, [result.run_id], args.name, args.tag)
        where = f": {result.run_dir}/results.json, samples.jsonl" if result.run_dir is not None else ""
        print(f"saved as run {result.run_id}{where}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _score(args: argparse.Namespace) -> RunResult:
    return score(
        args.task,
        args.predictions,
        **task_options(args),
        **role_options(args),
        store=args.store,
        save=args.save,
        model_name=args.model_name,
        output_dir=args.output_dir,
    )
