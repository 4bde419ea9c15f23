"""``mmlens analyze ANALYSIS``: analyses over published score sheets; ``general-level`` for now."""

from __future__ import annotations

import argparse
import json

from mmlens.analyses.general_level import PROFILES, GeneralLevelReport, general_level
from mmlens.cli.registry import command
from mmlens.summary import format_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    analyses = parser.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)
    gl = analyses.add_parser(
        "general-level",
        help="General-Level's Level-2..Level-5 from its SoTA and model-results workbooks",
        description="General-Level (arXiv 2505.04620) Level-2..Level-5, scored as the official ranker.py "
        "scores them (path2generalist/General-Level@420b8eb).",
    )
    gl.add_argument(
        "--specialists",
        required=True,
        metavar="FILE",
        help="the SoTA workbook (references/sota_result.xlsx: sheets NLP, {Image,Video,Audio,3D}-"
        "{Comprehension,Generation}; column 'SoTA Performance')",
    )
    gl.add_argument(
        "--results",
        required=True,
        metavar="FILE",
        help="the model results workbook (the same sheets, one column per model, empty = unsupported)",
    )
    gl.add_argument(
        "--profile",
        choices=PROFILES,
        default="official",
        help="official (default: ranker.py, quirks included) or fixed (WER units, CD/RTE direction, "
        "NLP RMSE on both sides)",
    )
    gl.add_argument(
        "--model", action="append", metavar="NAME", help="only this model column (repeatable; default all)"
    )
    gl.add_argument("--json", action="store_true", help="print every level, modality and count as JSON")


@command("analyze", "analyses over published score sheets (general-level)", add_arguments)
def analyze_command(args: argparse.Namespace) -> int:
    # one analysis today; the subparser's `required=True` rejects anything else
    report = general_level(args.specialists, args.results, profile=args.profile, models=args.model)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_general_level(report))
    return 0


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def format_general_level(report: GeneralLevelReport) -> str:
    """The levels per model (``.2f``, as ranker.py prints them), then per modality and NLP."""
    rows = [["model", "Level-2", "Level-3", "Level-4", "Level-5"]]
    rows += [[m.model, *(_number(v) for v in m.levels().values())] for m in report.models]
    detail = [
        ["model", "modality", "tasks", "supporting", "wins", "Level-2", "Level-3", "Level-4", "S_C", "S_G"]
    ]
    for model in report.models:
        for m in model.modalities:
            levels = (m.level_2, m.level_3, m.level_4, m.s_c, m.s_g)
            detail.append([model.model, m.modality, str(m.tasks), str(m.supporting), str(m.wins)])
            detail[-1] += [_number(v) for v in levels]
        if model.nlp is not None:
            nlp = model.nlp
            detail.append([model.model, "NLP", str(nlp.tasks), str(nlp.supporting), str(nlp.wins)])
            detail[-1] += ["", "", "", f"S_L {nlp.s_l:.2f}", ""]
    lines = [format_table(rows), "", format_table(detail), ""]
    lines.append(f"profile {report.profile}; specialists {report.specialists}; results {report.results}")
    for model in report.models:
        lines += [f"note ({model.model}): {note}" for note in model.notes]
    return "\n".join(lines)
