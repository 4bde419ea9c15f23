"""``mmlens gain [TASK]``: multimodal gain and leakage from three runs (MMStar's MG and ML)."""

from __future__ import annotations

import argparse
import json
import sys

from mmlens.analyses.multimodal_gain import multimodal_gain
from mmlens.api import DEFAULT_OUTPUT_DIR
from mmlens.cli.parser import add_task_options, task_options
from mmlens.cli.registry import command
from mmlens.summary import format_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "task",
        nargs="?",
        default="mmstar",
        help="any task (default mmstar); S_wv uses its <task>_blind variant or the blind transform",
    )
    parser.add_argument("--model", required=True, help="the multimodal model (BACKEND[:NAME] or YAML file)")
    parser.add_argument("--model-args", help="its backend options")
    parser.add_argument("--backbone-model", required=True, help="its language backbone alone")
    parser.add_argument("--backbone-model-args", help="the backbone's backend options")
    add_task_options(parser)
    parser.add_argument("--output-dir", default=str(DEFAULT_OUTPUT_DIR))
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--json", action="store_true", help="print S_v, S_wv, S_t, MG, ML as JSON")


@command(
    "gain",
    "multimodal gain and leakage: three runs (with images, without, language backbone alone)",
    add_arguments,
)
def gain_command(args: argparse.Namespace) -> int:
    gain = multimodal_gain(
        args.task,
        args.model,
        args.backbone_model,
        model_args=args.model_args,
        backbone_model_args=args.backbone_model_args,
        **task_options(args),
        store=args.store,
        output_dir=args.output_dir,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    summary = gain.to_dict()
    if args.json:
        print(json.dumps(summary))
        return 0
    incomplete = gain.incomplete
    rows = [["", summary["metric"], "run"]]
    for name in ("S_v", "S_wv", "S_t"):
        marker = " (incomplete)" if name in incomplete else ""
        rows.append([name, f"{summary[name]:.4f}{marker}", summary["runs"][name]])
    rows += [["MG = S_v - S_wv", f"{gain.mg:.4f}", ""], ["ML = max(0, S_wv - S_t)", f"{gain.ml:.4f}", ""]]
    print(format_table(rows))
    for name, reason in incomplete.items():
        print(f"{name} is from an incomplete run ({reason}): MG and ML are not final; rerun to fill it")
    return 0
