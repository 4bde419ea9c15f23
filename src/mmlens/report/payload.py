"""What the page shows, as plain data: the leaderboard, per-task tables and charts, comparisons,
provenance (rendered into HTML by the template) and the compact sample data for the browser (JSON).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any

from mmlens.report.compare import Comparison
from mmlens.report.runs import OUTCOMES, ReportRun
from mmlens.store.sqlite import Store


def format_value(value: Any) -> str:
    """Numbers as the terminal summary prints them: 4 decimals up to 1, else 2."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.4f}" if abs(value) <= 1 else f"{value:.2f}"


def format_interval(ci: list[float] | None) -> str:
    return f"[{format_value(ci[0])}, {format_value(ci[1])}]" if ci else ""


def _finite(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


# -- leaderboard -----------------------------------------------------------------------------


@dataclass
class Cell:
    value: float | None
    ci: list[float] | None
    n: int | None
    run_id: str
    other_runs: int  # older runs of the same model and task, not shown in the cell


def leaderboard(runs: list[ReportRun]) -> dict[str, Any]:
    """Models x tasks with each task's primary metric; the newest run wins where there are several."""
    tasks: dict[str, str | None] = {}
    cells: dict[str, dict[str, Cell]] = {}
    for run in sorted(runs, key=lambda r: r.row.updated, reverse=True):
        tasks.setdefault(run.task, run.primary)
        row = cells.setdefault(run.label, {})
        if run.task in row:
            row[run.task].other_runs += 1
            continue
        entry = run.results.get("metrics", {}).get(run.primary or "", {})
        row[run.task] = Cell(
            value=_finite(entry.get("value")),
            ci=entry.get("ci95"),
            n=entry.get("n"),
            run_id=run.run_id,
            other_runs=0,
        )
    task_names = sorted(tasks)
    first = task_names[0] if task_names else None

    def sort_key(label: str) -> tuple[float, str]:
        cell = cells[label].get(first) if first else None
        value = cell.value if cell is not None and cell.value is not None else -math.inf
        return (-value, label)

    return {
        "tasks": [{"name": name, "primary": tasks[name]} for name in task_names],
        "rows": [{"label": label, "cells": cells[label]} for label in sorted(cells, key=sort_key)],
    }


# -- per task ----------------------------------------------------------------------------------


def task_sections(runs: list[ReportRun]) -> list[dict[str, Any]]:
    sections: dict[str, dict[str, Any]] = {}
    for run in runs:
        section = sections.setdefault(
            run.task, {"name": run.task, "primary": run.primary, "runs": [], "metric_names": []}
        )
        metrics = run.results.get("metrics", {})
        for name in metrics:
            if name not in section["metric_names"]:
                section["metric_names"].append(name)
        section["runs"].append(
            {
                "label": run.label,
                "run_id": run.run_id,
                "metrics": metrics,
                "counts": run.results.get("counts", {}),
            }
        )
        section["has_breakdown"] = section.get("has_breakdown", False) or bool(run.results.get("breakdown"))
    for section in sections.values():
        primary = section["primary"]
        if primary in section["metric_names"]:
            section["metric_names"].remove(primary)
            section["metric_names"].insert(0, primary)
    return [sections[name] for name in sorted(sections)]


def chart_data(task: str, runs: list[ReportRun], run_index: dict[str, int]) -> dict[str, Any]:
    """The breakdown along the category tree: nodes (path, depth) and per node [run, value, lo, hi, n]."""
    task_runs = [run for run in runs if run.task == task]
    primary = task_runs[0].primary if task_runs else None
    nodes: list[str] = []
    for run in task_runs:
        for node in run.results.get("breakdown", {}):
            if node not in nodes:
                nodes.append(node)
    nodes.sort()
    values = []
    for node in nodes:
        row = []
        for run in task_runs:
            entry = run.results.get("breakdown", {}).get(node, {}).get(primary or "")
            if not entry or _finite(entry.get("value")) is None:
                continue
            ci = entry.get("ci95") or [None, None]
            row.append(
                [
                    run_index[run.run_id],
                    _finite(entry["value"]),
                    _finite(ci[0]),
                    _finite(ci[1]),
                    entry.get("n"),
                ]
            )
        values.append(row)
    return {
        "name": task,
        "primary": primary,
        "runs": [run_index[run.run_id] for run in task_runs],
        "nodes": [{"path": node, "depth": node.count("/") + 1} for node in nodes],
        "values": values,
    }


# -- comparisons -------------------------------------------------------------------------------


def comparison_view(comparison: Comparison) -> dict[str, Any]:
    return {
        "task": comparison.a.task,
        "a": {"label": comparison.a.label, "run_id": comparison.a.run_id},
        "b": {"label": comparison.b.label, "run_id": comparison.b.run_id},
        "score_name": comparison.score_name,
        "binary": comparison.binary,
        "test": comparison.test,
        "overall": comparison.overall,
        "categories": comparison.categories,
        "only_in_a": comparison.only_in_a,
        "only_in_b": comparison.only_in_b,
    }


# -- provenance --------------------------------------------------------------------------------

PROVENANCE_GROUPS = ("model", "task", "dataset", "requests")


def _timestamp(value: Any) -> str:
    if not isinstance(value, int | float):
        return str(value)
    return dt.datetime.fromtimestamp(value).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def _shown(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if value is None:
        return "—"
    return str(value)


def provenance_view(run: ReportRun) -> dict[str, Any]:
    """Grouped key/value rows: nothing recorded is left out, the most asked-for comes first."""
    provenance = dict(run.row.provenance)
    provenance.update(run.results.get("provenance", {}))
    counts = run.results.get("counts", {})
    started, finished = provenance.get("started"), provenance.get("finished")
    run_rows = [
        ("run id", run.run_id),
        ("task", run.task),
        ("model", run.label),
        ("status", run.row.status),
        ("started", _timestamp(started) if started else "—"),
        ("finished", _timestamp(finished) if finished else "—"),
    ]
    if isinstance(started, int | float) and isinstance(finished, int | float):
        run_rows.append(("duration", f"{finished - started:.1f} s"))
    if run.row.output_dir:
        run_rows.append(("run folder", run.row.output_dir))
    groups: list[tuple[str, list[tuple[str, str]]]] = [("run", [(k, _shown(v)) for k, v in run_rows])]
    groups.append(("counts", [(k, _shown(v)) for k, v in counts.items()]))
    for name in PROVENANCE_GROUPS:
        value = provenance.get(name)
        if isinstance(value, dict):
            groups.append((name, [(k, _shown(v)) for k, v in value.items()]))
    skipped = {"run_id", "started", "finished", *PROVENANCE_GROUPS}
    environment = [(k, _shown(v)) for k, v in provenance.items() if k not in skipped]
    groups.insert(1, ("environment", environment))
    fingerprint = (
        provenance.get("model", {}).get("fingerprint") if isinstance(provenance.get("model"), dict) else None
    )
    return {
        "run_id": run.run_id,
        "label": run.label,
        "task": run.task,
        "git_commit": provenance.get("git_commit"),
        "fingerprint": json.dumps(fingerprint, sort_keys=True) if fingerprint is not None else None,
        "groups": groups,
    }


# -- sample data for the browser -----------------------------------------------------------------


class _Table:
    """Distinct values -> small integers, in first-seen order."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.items: list[Any] = []

    def add(self, key: str, item: Any) -> int:
        position = self.index.get(key)
        if position is None:
            position = self.index[key] = len(self.items)
            self.items.append(item)
        return position


def _compact_prompt(prompt: list[dict[str, Any]], images: _Table) -> list[dict[str, Any]]:
    messages = []
    for message in prompt:
        content = []
        for part in message.get("content", []):
            if part.get("type") == "image" and isinstance(part.get("image"), str):
                content.append({"type": "image", "i": images.add(part["image"], part["image"])})
            else:
                content.append(part)
        messages.append({"role": message.get("role"), "content": content})
    return messages


def sample_data(
    runs: list[ReportRun], tasks: list[str], comparisons: list[Comparison], store: Store
) -> tuple[dict[str, Any], list[str | None]]:
    """The browser's data (columns per run; categories, prompts and images stored once) and the
    thumbnails, one base64 JPEG per distinct image digest (None where the store has none)."""
    categories, prompts, images, methods = _Table(), _Table(), _Table(), _Table()
    run_index = {run.run_id: i for i, run in enumerate(runs)}
    outcome_code = {name: i for i, name in enumerate(OUTCOMES)}
    run_data = []
    for run in runs:
        columns: dict[str, list[Any]] = {
            key: []
            for key in ("id", "cat", "target", "prompt", "response", "answer", "method", "outcome", "value")
        }
        errors: dict[int, str] = {}
        details: dict[int, Any] = {}
        other_scores: dict[str, list[Any]] = {}
        for position, (record, outcome) in enumerate(zip(run.records, run.outcomes, strict=True)):
            category = "/".join(record.get("category") or [])
            prompt = record.get("prompt") or []
            prompt_key = json.dumps(prompt, sort_keys=True, ensure_ascii=False)
            scores = record.get("scores", {})
            columns["id"].append(record["id"])
            columns["cat"].append(categories.add(category, category) if category else -1)
            columns["target"].append(record.get("target"))
            columns["prompt"].append(
                prompts.index.get(prompt_key)
                if prompt_key in prompts.index
                else prompts.add(prompt_key, _compact_prompt(prompt, images))
            )
            columns["response"].append(record.get("response"))
            columns["answer"].append(record.get("answer"))
            method = str(record.get("extraction"))
            columns["method"].append(methods.add(method, method))
            columns["outcome"].append(outcome_code[outcome])
            columns["value"].append(_finite(scores.get(run.score_name)) if run.score_name else None)
            for name, value in scores.items():
                if name != run.score_name:
                    other_scores.setdefault(name, [None] * len(run.records))[position] = _finite(value)
            if record.get("error"):
                errors[position] = record["error"]
            if record.get("details"):
                details[position] = _json_safe(record["details"])
        run_data.append(
            {
                "id": run.run_id,
                "label": run.label,
                "task": run.task,
                "primary": run.primary,
                "score": run.score_name,
                "binary": run.binary,
                "columns": columns,
                "scores": other_scores,
                "errors": errors,
                "details": details,
            }
        )
    data = {
        "outcomes": list(OUTCOMES),
        "methods": methods.items,
        "categories": categories.items,
        "prompts": prompts.items,
        "models": sorted({run.label for run in runs}),
        "runs": run_data,
        "tasks": [chart_data(task, runs, run_index) for task in tasks],
        "comparisons": [
            {"task": c.a.task, "a": run_index[c.a.run_id], "b": run_index[c.b.run_id], "flipped": c.flipped}
            for c in comparisons
        ],
    }
    thumbnails = store.get_thumbnails(images.items)
    encoded = [
        base64.b64encode(thumbnails[digest]).decode("ascii") if digest in thumbnails else None
        for digest in images.items
    ]
    return data, encoded


def script_json(value: Any) -> str:
    """JSON that is safe inside <script type="application/json">: no '<' can end the element early."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).replace(
        "<", "\\u003c"
    )


def _json_safe(value: Any) -> Any:
    """NaN and infinities become null (JSON.parse rejects them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
