"""Plain-text summaries of results for the terminal, read through the typed results model."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mmlens.core.errors import DataError
from mmlens.core.results import MetricSummary, RoleProvenance, RunResults, SampleRecord

INCOMPLETE = "incomplete"


def load_results(results: RunResults | dict[str, Any], where: str | None = None) -> RunResults:
    """``results`` as the typed model: a RunResults as it is, a dict (results.json, a run row) loaded
    with ``RunResults.load``; anything else, a newer schema or a document that is not an mmlens
    result is a DataError naming ``where`` (by default the run id its provenance names, if any)."""
    if isinstance(results, RunResults):
        return results
    if not isinstance(results, dict):
        raise DataError(f"{where or 'results'}: not an mmlens result (a JSON object was expected)")
    return RunResults.load(results, where or _default_where(results))


def _default_where(results: dict[str, Any]) -> str:
    # the raw document, before it is loaded (it names the document whose loading may fail)
    provenance = results.get("provenance")
    run_id = provenance.get("run_id") if isinstance(provenance, dict) else None
    return f"run {run_id}" if isinstance(run_id, str) and run_id else "results"


def load_results_file(path: str | Path) -> RunResults:
    """A results.json file (or a run folder holding one); every error names the file."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: not an mmlens result (not JSON: {error})") from None
    return load_results(data, str(path))


# -- completeness and roles (shared with the HTML report) -------------------------------------------


def incomplete_reason(results: RunResults) -> str | None:
    """Why a run is incomplete (``complete: false``), None for a complete run."""
    if results.complete:
        return None
    counts = results.counts
    parts = []
    if counts.errors:
        parts.append(f"{counts.errors} request error{'s' if counts.errors != 1 else ''}")
    if counts.missing_predictions:
        parts.append(f"{counts.missing_predictions} sample(s) without a prediction")
    return ", ".join(parts) or "the run did not answer every sample"


def run_roles(results: RunResults) -> dict[str, RoleProvenance]:
    """provenance ``roles`` (schema 2; none in schema 1), name -> RoleProvenance."""
    return results.provenance.roles


def describe_role(role: RoleProvenance) -> str:
    """``LABEL (task default)``, ``LABEL (given; the task's default is X)`` and the like."""
    if role.source == "given":
        if role.is_task_default:
            where = "given; the same as the task's default"
        elif role.task_default is not None:
            where = f"given; the task's default is {role.task_default}"
        else:
            where = "given; the task has no default"
    elif role.source == "task default" or role.is_task_default:
        where = "task default"
    else:
        where = role.source or ""
    label = role.label or "?"  # a replayed role has no model, so no label
    return f"{label} ({where})" if where else label


# -- formatting -----------------------------------------------------------------------------------


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) <= 1 else f"{value:.2f}"
    return str(value)


def _interval(entry: MetricSummary) -> str:
    ci = entry.ci95
    return f"[{_number(ci[0])}, {_number(ci[1])}]" if ci else ""


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows)


def headline(results: RunResults | dict[str, Any], where: str | None = None) -> str:
    """The primary metric and its value, ``(incomplete)`` after it for an incomplete run."""
    typed = load_results(results, where)
    entry = typed.primary
    if entry is None:
        return ""
    text = f"{typed.primary_metric} {_number(entry.value)}"
    return text + f" ({INCOMPLETE})" if not typed.complete else text


def format_summary(
    results: RunResults | dict[str, Any], max_breakdown: int = 40, where: str | None = None
) -> str:
    """The terminal summary of one run: counts, roles, metrics, breakdown, bad samples.

    ``where`` names the results in errors (a file, ``run ID``)."""
    typed = load_results(results, where)
    counts = typed.counts
    label = typed.provenance.model.label
    header = f"task {typed.task}" + (f" · model {label}" if label else "")
    overrides = typed.provenance.generation_overrides
    if overrides:  # --max-new-tokens, --system-prompt, ...: a number made with other settings says so
        header += " · " + ", ".join(f"{key}={json.dumps(value)}" for key, value in overrides.items())
    count_line = (
        f"{counts.samples} samples: {counts.scored} scored, {counts.errors} errors, "
        f"{counts.failed_extraction} failed extraction, {counts.bad_samples} bad samples"
    )
    if counts.missing_predictions is not None:
        count_line += f", {counts.missing_predictions} without a prediction"
    if counts.role_errors:
        count_line += f", {counts.role_errors} of the errors in a role's requests"
    lines = [header, count_line]
    lines += [f"{name}: {describe_role(role)}" for name, role in run_roles(typed).items()]
    judging = judging_line(typed)
    if judging is not None:
        lines.append(judging)
    reason = incomplete_reason(typed)
    suffix = ""
    if reason is not None:
        suffix = f" ({INCOMPLETE})"
        resume = typed.provenance.resume
        lines.append(
            f"INCOMPLETE run ({reason}): its scores are not final"
            + (f"; to retry what failed: {resume}" if resume else "")
        )
    rows = [["metric", "value", "95% CI", "n"]]
    for name, entry in typed.metrics.items():
        rows.append([name, _number(entry.value) + suffix, _interval(entry), _number(entry.n)])
    lines += ["", format_table(rows)]
    primary = typed.primary_metric
    breakdown = typed.breakdown
    if breakdown and primary:
        lines += ["", f"by category ({primary}{', incomplete run' if reason is not None else ''}):"]
        table = [["category", primary, "95% CI", "n"]]
        for node, values in list(breakdown.items())[:max_breakdown]:
            node_entry = values.get(primary)
            if node_entry is None:
                continue
            indent = "  " * node.count("/")
            table.append(
                [
                    indent + node.rsplit("/", 1)[-1],
                    _number(node_entry.value),
                    _interval(node_entry),
                    _number(node_entry.n),
                ]
            )
        lines.append(format_table(table))
        if len(breakdown) > max_breakdown:
            lines.append(f"... {len(breakdown) - max_breakdown} more categories in results.json")
    if typed.bad_samples:
        lines += ["", f"bad samples ({counts.bad_samples or len(typed.bad_samples)}):"]
        lines += [f"  {item.id}: {item.reason}" for item in typed.bad_samples[:10]]
    return "\n".join(lines)


def _judge_calls(calls: dict[str, Any]) -> str:
    parts = []
    if "unique" in calls:
        parts.append(
            f"{calls['unique']} calls ({calls.get('computed', 0)} computed, {calls.get('cached', 0)} cached)"
        )
    if calls.get("replayed"):
        parts.append(f"{calls['replayed']} replies from the file")
    return ", ".join(parts) or "no calls"


def judging_line(results: RunResults) -> str | None:
    """One line on a judged run's judges (results.json ``judging``): each judge's label, whether it
    is the task's official judge, its calls; then the failures. None for a run without a judge."""
    judging = (results.model_extra or {}).get("judging")
    if not isinstance(judging, dict) or not judging.get("judges"):
        return None
    judges = []
    for name, judge in judging["judges"].items():
        label = judge.get("label") or judge.get("source") or "?"
        official = "official" if judge.get("official") else "NOT the official judge"
        judges.append(f"{name} {label} ({official}; {_judge_calls(judge.get('calls') or {})})")
    failures = judging.get("failures") or {}
    failed = f"{failures.get('call_errors', 0)} call errors, {failures.get('unparsed', 0)} unparsed"
    if failures.get("official_fallback"):
        failed += f", {failures['official_fallback']} official fallback"
    return "judging: " + "; ".join(judges) + " · " + failed


# -- what failed, by cause ------------------------------------------------------------------------

_ATTEMPTS_PREFIX = re.compile(r"^gave up after \d+ attempts: ")


def error_cause(message: str) -> str:
    """The cause a request error is counted under: the message without the retry count, up to its
    first ``": "`` (``HTTP 500 from URL``, ``connection to URL failed``, ``no reply from URL within 2 s``)."""
    text = _ATTEMPTS_PREFIX.sub("", " ".join(message.split()))
    return text.split(": ", 1)[0] or "unknown error"


def error_causes(records: Iterable[SampleRecord]) -> list[tuple[str, int, str]]:
    """(cause, count, one example: the first such sample and its whole message), most frequent first."""
    counts: dict[str, int] = {}
    examples: dict[str, str] = {}
    for record in records:
        if record.error is None:
            continue
        cause = error_cause(record.error)
        counts[cause] = counts.get(cause, 0) + 1
        if cause not in examples:
            role = f" ({record.failed_role})" if record.failed_role else ""
            examples[cause] = f"sample {record.id}{role}: {record.error}"
    return sorted(((c, n, examples[c]) for c, n in counts.items()), key=lambda item: -item[1])


def format_error_summary(records: Iterable[SampleRecord], max_causes: int = 5) -> str:
    """``errors by cause:`` then per cause its count and one example; empty when nothing failed."""
    causes = error_causes(records)
    if not causes:
        return ""
    total = sum(count for _, count, _ in causes)
    lines = [f"errors by cause ({total} sample{'s' if total != 1 else ''}):"]
    for cause, count, example in causes[:max_causes]:
        lines += [f"  {count:>6}  {cause}", f"          e.g. {example}"]
    if len(causes) > max_causes:
        rest = sum(count for _, count, _ in causes[max_causes:])
        lines.append(f"  {rest:>6}  {len(causes) - max_causes} other causes (see samples.jsonl)")
    return "\n".join(lines)
