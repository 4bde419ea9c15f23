"""What the page shows, as plain data: the leaderboard, per-task tables and charts, comparisons,
provenance (rendered into HTML by the template) and the compact sample data for the browser (JSON).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mmlens.core.options import LETTERS
from mmlens.core.results import Exchange, MetricSummary, OptionScores, Provenance, RunResults
from mmlens.metrics.aggregation import category_node
from mmlens.report.compare import Comparison
from mmlens.report.runs import OUTCOMES, ReportRun, sample_value
from mmlens.report.table import TableRun, build_table
from mmlens.runner.thumbnails import report_thumbnails
from mmlens.store.sqlite import Store
from mmlens.summary import describe_role, incomplete_reason, run_roles


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
    other_runs: int  # other runs of the same model, variant and task, listed with the cell
    incomplete: str | None = None  # why the run is incomplete (its score is not final), else None
    partial: int | None = None  # the --limit of a partial run
    status: str = "done"
    name: str | None = None
    updated: str = ""
    choices: list[Cell] = field(default_factory=list)  # every run of the cell, the shown one first
    metric: str = ""  # the run's primary metric (circular_acc where the column's is acc)


def _cell(run: TableRun) -> Cell:
    entry = run.results.primary
    return Cell(
        value=_finite(entry.value) if entry is not None else None,
        ci=entry.ci95 if entry is not None else None,
        n=entry.n if entry is not None else None,
        run_id=run.run_id,
        other_runs=0,
        incomplete=incomplete_reason(run.results),
        partial=run.partial,
        status="done" if run.complete else "incomplete",
        name=run.name,
        updated=_timestamp(run.row.updated),
        metric=run.results.primary_metric,
    )


def leaderboard(runs: list[ReportRun], chosen: Sequence[str] = ()) -> dict[str, Any]:
    """Rows = model x variant (report.table), columns = tasks with their primary metric. A cell shows
    the run asked for, else the newest complete one, else the newest; the others are its choices."""
    table = build_table(
        (TableRun(run.row, run.results, run.label, run.variant, run.name, run.tags) for run in runs),
        chosen,
    )
    rows: list[dict[str, Any]] = []
    for row in table.rows:
        cells: dict[str, Cell] = {}
        for task, table_cell in row.cells.items():
            choices = [_cell(run) for run in table_cell.runs]
            shown = replace(
                choices[0], other_runs=len(choices) - 1, choices=choices if len(choices) > 1 else []
            )
            cells[task] = shown
        rows.append({"label": row.label, "variant": row.variant, "cells": cells})
    return {
        "tasks": [{"name": name, "primary": primary} for name, primary in table.tasks],
        "rows": rows,
        "any_incomplete": any(c.incomplete for row in rows for c in row["cells"].values()),
        "any_partial": any(row["variant"] for row in rows),
    }


# -- per task ----------------------------------------------------------------------------------


def task_sections(runs: list[ReportRun]) -> list[dict[str, Any]]:
    sections: dict[str, dict[str, Any]] = {}
    for run in runs:
        section = sections.setdefault(
            run.task, {"name": run.task, "primary": run.primary, "runs": [], "metric_names": []}
        )
        metrics = run.results.metrics
        for name in metrics:
            if name not in section["metric_names"]:
                section["metric_names"].append(name)
        section["runs"].append(
            {
                "label": run.display,
                "run_id": run.run_id,
                "metrics": metrics,
                "counts": run.results.counts,
                "incomplete": run.incomplete_reason,
            }
        )
        section["has_breakdown"] = section.get("has_breakdown", False) or bool(run.results.breakdown)
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
        for node in run.results.breakdown:
            if node not in nodes:
                nodes.append(node)
    nodes.sort()
    values = []
    for node in nodes:
        row = []
        for run in task_runs:
            entry: MetricSummary | None = run.results.breakdown.get(node, {}).get(primary or "")
            if entry is None or _finite(entry.value) is None:
                continue
            low, high = entry.ci95 if entry.ci95 and len(entry.ci95) == 2 else (None, None)
            row.append([run_index[run.run_id], _finite(entry.value), _finite(low), _finite(high), entry.n])
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
    def side(run: ReportRun) -> dict[str, Any]:
        return {"label": run.display, "run_id": run.run_id, "incomplete": run.incomplete_reason}

    return {
        "task": comparison.a.task,
        "a": side(comparison.a),
        "b": side(comparison.b),
        "score_name": comparison.score_name,
        "binary": comparison.binary,
        "test": comparison.test,
        "overall": comparison.overall,
        "categories": comparison.categories,
        "only_in_a": comparison.only_in_a,
        "only_in_b": comparison.only_in_b,
        "left_out": comparison.left_out,
    }


# -- provenance --------------------------------------------------------------------------------

PROVENANCE_GROUPS = ("model", "task", "dataset", "requests")


def _timestamp(value: float) -> str:
    return dt.datetime.fromtimestamp(value).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def _shown(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if value is None:
        return "—"
    return str(value)


def judging_rows(results: RunResults) -> list[tuple[str, str]]:
    """results.json ``judging`` (``runner.judging``) as key/value rows: whether every judge is the
    task's official one, each judge's fingerprint, failures, extraction provenance, agreement, cost."""
    judging = (results.model_extra or {}).get("judging")
    if not isinstance(judging, dict):
        return []
    rows: list[tuple[str, str]] = []
    official = judging.get("official")
    rows.append(("official judge", "yes" if official else "NO: not comparable with official-judge runs"))
    for name, judge in (judging.get("judges") or {}).items():
        fingerprint = judge.get("fingerprint") or {}
        rows.append(
            (f"{name}", f"{judge.get('label')} ({'official' if judge.get('official') else 'not official'})")
        )
        rows.append((f"{name} prompt version", _shown(fingerprint.get("prompt_version"))))
        rows.append((f"{name} decoding", _shown(fingerprint.get("decoding"))))
        rows.append((f"{name} calls", _shown(judge.get("calls"))))
    for key in ("failures", "extracted_by", "agreement", "judge_vs_rule", "cost"):
        if key in judging:
            rows.append((key.replace("_", " "), _shown(judging[key])))
    return rows


def provenance_view(run: ReportRun) -> dict[str, Any]:
    """Grouped key/value rows: nothing recorded is left out, the most asked-for comes first.

    The run row's provenance (written when the run began) with the results' (the finished one) over
    it; only the keys recorded are shown, so a schema-1 run shows what mmlens 0.1 wrote."""
    merged = {**run.row.typed_provenance().to_dict(), **run.results.provenance.to_dict()}
    provenance = Provenance.load(merged, f"run {run.run_id}")
    recorded = provenance.to_dict()
    counts = run.results.counts.model_dump(mode="json", exclude_none=True)
    started, finished = provenance.started, provenance.finished
    reason = run.incomplete_reason
    run_rows = [
        ("run id", run.run_id),
        ("task", run.task),
        ("model", run.label),
        ("status", run.row.status),
        ("complete", "yes" if reason is None else f"no: {reason}"),
        ("variant", ", ".join(run.variant) or "none: the task's full recipe"),
        ("started", _timestamp(started) if started else "—"),
        ("finished", _timestamp(finished) if finished else "—"),
    ]
    if started is not None and finished is not None:
        run_rows.append(("duration", f"{finished - started:.1f} s"))
    if run.row.output_dir:
        run_rows.append(("run folder", run.row.output_dir))
    if run.name:
        run_rows.append(("name", run.name))
    if run.tags:
        run_rows.append(("tags", ", ".join(run.tags)))
    groups: list[tuple[str, list[tuple[str, str]]]] = [("run", [(k, _shown(v)) for k, v in run_rows])]
    groups.append(("counts", [(k, _shown(v)) for k, v in counts.items()]))
    for name in PROVENANCE_GROUPS:
        if name in recorded:  # model, task, dataset, requests: typed parts, shown as recorded
            groups.append((name, [(k, _shown(v)) for k, v in recorded[name].items()]))
    roles = run_roles(run.results)
    if roles:
        role_rows: list[tuple[str, str]] = []
        for role_name, role in roles.items():
            role_rows.append((role_name, describe_role(role)))
            if role.fingerprint is not None:
                role_rows.append((f"{role_name} fingerprint", _shown(role.fingerprint)))
        groups.append(("roles", role_rows))
    judging = judging_rows(run.results)
    if judging:
        groups.append(("judging", judging))
    skipped = {"run_id", "started", "finished", "roles", *PROVENANCE_GROUPS}
    environment = [(k, _shown(v)) for k, v in recorded.items() if k not in skipped]
    groups.insert(1, ("environment", environment))
    fingerprint = provenance.model.fingerprint
    return {
        "run_id": run.run_id,
        "label": run.display,
        "task": run.task,
        "git_commit": provenance.git_commit,
        "fingerprint": json.dumps(fingerprint, sort_keys=True) if fingerprint else None,
        "incomplete": reason,
        "variant": run.variant,
        "name": run.name,
        "tags": run.tags,
        "roles": [(name, describe_role(role)) for name, role in roles.items()],
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


def _prompt_index(prompt: list[dict[str, Any]], prompts: _Table, images: _Table) -> int:
    key = json.dumps(prompt, sort_keys=True, ensure_ascii=False)
    position = prompts.index.get(key)
    return position if position is not None else prompts.add(key, _compact_prompt(prompt, images))


def _exchange_view(exchange: Exchange, prompts: _Table, images: _Table) -> dict[str, Any]:
    """One request of a sample for the detail view (its prompt stored once, in ``prompts``)."""
    view: dict[str, Any] = {
        "round": exchange.round,
        "role": exchange.role,
        "kind": exchange.kind,
        "prompt": _prompt_index(exchange.prompt, prompts, images),
        "response": exchange.response,
        "cached": exchange.cached,
    }
    if exchange.continuation is not None:
        view["continuation"] = exchange.continuation
    if exchange.logprob is not None:
        view["logprob"] = _finite(exchange.logprob)
    if exchange.error is not None:
        view["error"] = exchange.error
    return view


def option_scores_view(scores: OptionScores) -> dict[str, Any]:
    """Per option: letter, log-probability (after the normalization) and softmax probability."""
    try:
        probabilities: list[float | None] = list(scores.probabilities())
    except (ValueError, OverflowError, ZeroDivisionError):
        probabilities = [None] * len(scores.logprobs)
    return {
        "normalization": scores.normalization,
        "chosen": scores.chosen,
        "options": [
            [LETTERS[i] if i < len(LETTERS) else str(i + 1), _finite(logprob), _finite(probability)]
            for i, (logprob, probability) in enumerate(zip(scores.logprobs, probabilities, strict=True))
        ],
    }


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
        exchanges: dict[int, list[dict[str, Any]]] = {}
        option_scores: dict[int, dict[str, Any]] = {}
        scores: dict[str, list[Any]] = {}
        for position, (record, outcome) in enumerate(zip(run.records, run.outcomes, strict=True)):
            category = category_node(record.category)
            columns["id"].append(record.id)
            columns["cat"].append(categories.add(category, category) if category else -1)
            columns["target"].append(record.target)
            columns["prompt"].append(_prompt_index(record.prompt, prompts, images))
            columns["response"].append(record.response)
            columns["answer"].append(record.answer)
            columns["method"].append(methods.add(record.extraction, record.extraction))
            columns["outcome"].append(outcome_code[outcome])
            columns["value"].append(sample_value(record))
            for name, value in record.scores.items():
                scores.setdefault(name, [None] * len(run.records))[position] = _finite(value)
            if record.error:
                errors[position] = record.error
            if record.details:
                details[position] = _json_safe(record.details)
            if record.exchanges:
                exchanges[position] = [_exchange_view(e, prompts, images) for e in record.exchanges]
            if record.option_scores is not None:
                option_scores[position] = option_scores_view(record.option_scores)
        run_data.append(
            {
                "id": run.run_id,
                "label": run.display,
                "task": run.task,
                "primary": run.primary,
                "score": run.value_name,
                "binary": run.binary,
                "incomplete": run.incomplete_reason,
                "columns": columns,
                "scores": scores,
                "errors": errors,
                "details": details,
                "exchanges": exchanges,
                "optionScores": option_scores,
            }
        )
    data = {
        "outcomes": list(OUTCOMES),
        "methods": methods.items,
        "categories": categories.items,
        "prompts": prompts.items,
        "models": sorted({run.display for run in runs}),
        "runs": run_data,
        "tasks": [chart_data(task, runs, run_index) for task in tasks],
        "comparisons": [
            {"task": c.a.task, "a": run_index[c.a.run_id], "b": run_index[c.b.run_id], "flipped": c.flipped}
            for c in comparisons
        ],
    }
    thumbnails = report_thumbnails(store, images.items)  # made now from their sources where missing
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
