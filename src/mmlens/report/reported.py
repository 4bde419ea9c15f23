"""The report's "Reported vs measured" section: each run next to the results papers report for its
model and task (mmlens.analyses.reported, the rows ``mmlens compare-reported`` prints)."""

from __future__ import annotations

from typing import Any

from mmlens.analyses.reported import compare_run
from mmlens.core.reported import load_reported
from mmlens.report.runs import ReportRun


def reported_view(runs: list[ReportRun]) -> list[dict[str, Any]]:
    """One row per run and published result of its model: the reported results beside the runs'
    task files and in the built-in suites."""
    entries = load_reported([run.results.provenance.task.source for run in runs])
    rows = []
    for run in runs:
        for item in compare_run(run.run_id, run.results, entries):
            row = item.to_dict()
            row["label"] = run.shown_label or run.label
            rows.append(row)
    return rows
