"""Exports: the runs x tasks table (report.table) as CSV, Markdown, LaTeX or plain text, and one
run's samples as CSV or JSONL. A cell is the primary metric with its 95% interval; a partial
(``--limit``) or incomplete run says so in the cell, and a row's variant is in its label."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from mmlens.core.errors import MmlensError
from mmlens.core.results import SampleRecord
from mmlens.report.payload import format_interval, format_value
from mmlens.report.table import Table, TableCell
from mmlens.summary import format_table

TABLE_FORMATS = ("markdown", "csv", "latex", "text")
SAMPLE_FORMATS = ("csv", "jsonl")


def _marks(cell: TableCell) -> list[str]:
    run = cell.shown
    marks = []
    if run.partial:
        marks.append(f"partial: {run.partial} samples")
    if not run.complete:
        marks.append("incomplete")
    return marks


def _metric_prefix(cell: TableCell, column_metric: str) -> str:
    """A run whose primary metric is not the column's (circular_acc under acc) names its own."""
    metric = cell.shown.results.primary_metric
    return f"{metric} " if metric != column_metric else ""


def _cell_text(cell: TableCell | None, column_metric: str = "") -> str:
    if cell is None:
        return "—"
    entry = cell.shown.primary
    text = _metric_prefix(cell, column_metric) + format_value(cell.shown.value)
    if entry is not None and entry.ci95:
        text += " " + format_interval(entry.ci95)
    marks = _marks(cell)
    return text + (f" ({'; '.join(marks)})" if marks else "")


def _header(table: Table) -> list[str]:
    return ["model"] + [f"{task} ({primary})" for task, primary in table.tasks]


def to_text(table: Table) -> str:
    rows = [_header(table)] + [
        [row.label] + [_cell_text(row.cells.get(task), metric) for task, metric in table.tasks]
        for row in table.rows
    ]
    return format_table(rows)


def _markdown_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def to_markdown(table: Table) -> str:
    header = _header(table)
    lines = [
        "| " + " | ".join(_markdown_escape(h) for h in header) + " |",
        "|" + "|".join([" --- "] + [" ---: "] * (len(header) - 1)) + "|",
    ]
    for row in table.rows:
        cells = [_markdown_escape(row.label)] + [
            _markdown_escape(_cell_text(row.cells.get(task), metric)) for task, metric in table.tasks
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "Values: primary metric [95% CI]; a bracket after a model names how its runs differ "
        "from the task's full recipe."
    )
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(char, char) for char in text)


def to_latex(table: Table) -> str:
    """A booktabs tabular (``\\usepackage{booktabs}``); the interval in small type under the value."""
    columns = "l" + "r" * len(table.tasks)
    lines = [
        f"\\begin{{tabular}}{{{columns}}}",
        "\\toprule",
        " & ".join(latex_escape(h) for h in _header(table)) + " \\\\",
        "\\midrule",
    ]
    for row in table.rows:
        cells = [latex_escape(row.label)]
        for task, metric in table.tasks:
            cell = row.cells.get(task)
            if cell is None:
                cells.append("--")
                continue
            entry = cell.shown.primary
            text = latex_escape(_metric_prefix(cell, metric) + format_value(cell.shown.value))
            if entry is not None and entry.ci95:
                text += f" {{\\small {latex_escape(format_interval(entry.ci95))}}}"
            marks = _marks(cell)
            if marks:
                text += f" {{\\small ({latex_escape('; '.join(marks))})}}"
            cells.append(text)
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    """One line per row: model, variant, then per task its value, interval, n, run id and status
    (done, incomplete; partial runs have a limit)."""
    header = ["model", "variant"]
    for task, _ in table.tasks:
        header += [f"{task}:metric", f"{task}:value", f"{task}:ci95_low", f"{task}:ci95_high", f"{task}:n"]
        header += [f"{task}:limit", f"{task}:status", f"{task}:run_id", f"{task}:other_runs"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in table.rows:
        line: list[Any] = [row.model_label, "; ".join(row.variant)]
        for task, _ in table.tasks:
            cell = row.cells.get(task)
            if cell is None:
                line += [""] * 9
                continue
            run = cell.shown
            entry = run.primary
            ci = entry.ci95 if entry is not None and entry.ci95 else [None, None]
            line += [
                run.results.primary_metric,
                _csv_number(run.value),
                _csv_number(ci[0]),
                _csv_number(ci[1]),
                entry.n if entry is not None and entry.n is not None else "",
                run.partial or "",
                "done" if run.complete else "incomplete",
                run.run_id,
                len(cell.others),
            ]
        writer.writerow(line)
    return out.getvalue()


def _csv_number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def export_table(table: Table, fmt: str) -> str:
    writers = {"markdown": to_markdown, "csv": to_csv, "latex": to_latex, "text": to_text}
    if fmt not in writers:
        raise MmlensError(f"--format {fmt!r}: a table is exported as {', '.join(TABLE_FORMATS)}")
    if not table.rows:
        raise MmlensError("no finished runs to export")
    return writers[fmt](table) if fmt != "text" else to_text(table) + "\n"


# -- samples ---------------------------------------------------------------------------------------

SAMPLE_COLUMNS = (
    "id",
    "category",
    "target",
    "question",
    "response",
    "answer",
    "extraction",
    "correct",
    "score",
    "error",
)


def prompt_text(record: SampleRecord) -> str:
    """The text parts of the prompt's user messages, joined (images left out)."""
    texts = []
    for message in record.prompt:
        if message.get("role") not in (None, "user"):
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
            continue
        for part in content or []:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
    return "\n".join(texts)


def export_samples(records: Iterable[SampleRecord], raw: Iterable[dict[str, Any]], fmt: str) -> str:
    """CSV: one line per sample with SAMPLE_COLUMNS; JSONL: the records exactly as stored."""
    if fmt == "jsonl":
        return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in raw)
    if fmt != "csv":
        raise MmlensError(f"--format {fmt!r}: samples are exported as {', '.join(SAMPLE_FORMATS)}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SAMPLE_COLUMNS)
    for record in records:
        writer.writerow(
            [
                record.id,
                "/".join(record.category),
                record.target if record.target is not None else "",
                prompt_text(record),
                record.response if record.response is not None else "",
                record.answer if record.answer is not None else "",
                record.extraction,
                "" if record.correct is None else int(record.correct),
                "" if record.score is None else repr(record.score),
                record.error or "",
            ]
        )
    return out.getvalue()
