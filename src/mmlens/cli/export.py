"""``mmlens export``: the runs x tasks table as Markdown, CSV, LaTeX or text, or one run's samples
(``--samples RUN``) as CSV or JSONL; to stdout or ``-o FILE``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmlens.cli.registry import command
from mmlens.cli.run_filters import add_filter_options, query_from
from mmlens.core.errors import MmlensError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "runs",
        nargs="*",
        metavar="RUN",
        help="run ids, names or id prefixes (default: every finished run; a prefix selects every run "
        "it matches)",
    )
    add_filter_options(parser)
    parser.add_argument(
        "--format",
        help="table: markdown (default), csv, latex or text; samples: csv (default) or jsonl",
    )
    parser.add_argument("--samples", metavar="RUN", help="export this run's samples instead of the table")
    parser.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="RUN",
        dest="show_run",
        help="where a cell has several runs, export this one (default: the newest complete one); repeatable",
    )
    parser.add_argument("-o", "--output", help="write to this file (default: stdout)")


@command(
    "export",
    "export the runs x tasks table (Markdown, CSV, LaTeX) or a run's samples (CSV, JSONL)",
    add_arguments,
)
def export_command(args: argparse.Namespace) -> int:
    from mmlens.report.export import SAMPLE_FORMATS, TABLE_FORMATS, export_samples, export_table
    from mmlens.report.runs import legacy_correct_key, load_records, resolve_run, select_runs, typed_run
    from mmlens.report.table import build_table, table_runs
    from mmlens.store.sqlite import Store

    with Store(args.store, read_only=True) as store:
        if args.samples:
            if args.runs:
                raise MmlensError("export --samples RUN exports one run; give no other runs")
            fmt = args.format or "csv"
            if fmt not in SAMPLE_FORMATS:
                raise MmlensError(f"--format {fmt!r}: samples are exported as {', '.join(SAMPLE_FORMATS)}")
            run = resolve_run(store, args.samples)
            raw = list(store.iter_records(run.run_id))
            records = load_records(store, run.run_id, legacy_correct_key(typed_run(run)))
            text = export_samples(records, raw, fmt)
        else:
            fmt = args.format or "markdown"
            if fmt not in TABLE_FORMATS:
                raise MmlensError(f"--format {fmt!r}: a table is exported as {', '.join(TABLE_FORMATS)}")
            rows = select_runs(store, args.runs, query_from(args))
            chosen = []
            for reference in args.show_run:
                run = resolve_run(store, reference)
                chosen.append(run.run_id)
                if all(row.run_id != run.run_id for row in rows):
                    rows.append(run)
            table = build_table(table_runs(rows, store.run_names_and_tags()), chosen)
            text = export_table(table, fmt)
    if args.output:
        path = Path(args.output)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as error:
            raise MmlensError(f"cannot write {path}: {error.strerror or error}") from None
        print(f"wrote {path}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
