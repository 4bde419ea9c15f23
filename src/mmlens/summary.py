"""Plain-text summaries of results for the terminal."""

from __future__ import annotations

import math
from typing import Any


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) <= 1 else f"{value:.2f}"
    return str(value)


def _interval(entry: dict[str, Any]) -> str:
    ci = entry.get("ci95")
    return f"[{_number(ci[0])}, {_number(ci[1])}]" if ci else ""


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows)


def format_summary(results: dict[str, Any], max_breakdown: int = 40) -> str:
    counts = results.get("counts", {})
    model = results.get("provenance", {}).get("model", {}).get("label", "")
    header = f"task {results.get('task')}" + (f" · model {model}" if model else "")
    count_line = (
        f"{counts.get('samples', 0)} samples: {counts.get('scored', 0)} scored, "
        f"{counts.get('errors', 0)} errors, {counts.get('failed_extraction', 0)} failed extraction, "
        f"{counts.get('bad_samples', 0)} bad samples"
    )
    if "missing_predictions" in counts:
        count_line += f", {counts['missing_predictions']} without a prediction"
    rows = [["metric", "value", "95% CI", "n"]]
    for name, entry in results.get("metrics", {}).items():
        rows.append([name, _number(entry.get("value")), _interval(entry), _number(entry.get("n"))])
    lines = [header, count_line, "", format_table(rows)]
    primary = results.get("primary_metric")
    breakdown = results.get("breakdown", {})
    if breakdown and primary:
        lines += ["", f"by category ({primary}):"]
        table = [["category", primary, "95% CI", "n"]]
        for node, values in list(breakdown.items())[:max_breakdown]:
            entry = values.get(primary)
            if entry is None:
                continue
            indent = "  " * node.count("/")
            table.append(
                [
                    indent + node.rsplit("/", 1)[-1],
                    _number(entry["value"]),
                    _interval(entry),
                    _number(entry.get("n")),
                ]
            )
        lines.append(format_table(table))
        if len(breakdown) > max_breakdown:
            lines.append(f"... {len(breakdown) - max_breakdown} more categories in results.json")
    bad = results.get("bad_samples") or []
    if bad:
        lines += ["", f"bad samples ({counts.get('bad_samples', len(bad))}):"]
        lines += [f"  {item['id']}: {item['reason']}" for item in bad[:10]]
    return "\n".join(lines)
