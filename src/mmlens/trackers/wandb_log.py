"""Log a finished run to Weights & Biases: metrics (and CIs) in the summary, provenance as the
config, the samples as a table, results.json and samples.jsonl as files. ``WANDB_MODE=offline``
writes the run under ``WANDB_DIR`` (default ./wandb) to sync later with ``wandb sync``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mmlens.core.errors import MmlensError
from mmlens.core.results import RunResults, SampleRecord

SAMPLE_TABLE_COLUMNS = [
    "id",
    "category",
    "target",
    "response",
    "answer",
    "extraction",
    "correct",
    "score",
    "error",
]


def _wandb() -> Any:
    try:
        import wandb
    except ModuleNotFoundError:
        raise MmlensError("--wandb needs the wandb package: pip install 'mmlens[trackers]'") from None
    return wandb


def summary_values(results: RunResults) -> dict[str, float | int]:
    values: dict[str, float | int] = {}
    for name, entry in results.metrics.items():
        values[name] = entry.value
        if entry.ci95:
            values[f"{name}_ci95_low"], values[f"{name}_ci95_high"] = entry.ci95[0], entry.ci95[1]
        if entry.n is not None:
            values[f"{name}_n"] = entry.n
    counts = results.counts
    values.update(samples=counts.samples, scored=counts.scored, errors=counts.errors)
    values["failed_extraction"] = counts.failed_extraction
    values["complete"] = int(results.complete)
    return values


def log_run(
    run_id: str,
    results: RunResults,
    records: list[SampleRecord],
    project: str,
    tags: list[str] | None = None,
    name: str | None = None,
) -> str:
    """Log one run; returns the W&B run's local folder (its files are there, online or offline)."""
    wandb = _wandb()
    provenance = results.provenance
    config = {"run_id": run_id, "task": results.task, "provenance": provenance.to_dict()}
    try:
        run = wandb.init(
            project=project,
            name=name or run_id,
            group=results.task,
            job_type="eval",
            tags=[results.task, *(tags or [])],
            config=config,
            dir=os.environ.get("WANDB_DIR") or None,
            reinit="finish_previous",
        )
    except Exception as error:  # wandb raises its own errors (no login, bad settings)
        raise MmlensError(f"--wandb: cannot start a W&B run: {error}") from None
    try:
        run.summary.update(summary_values(results))
        run.log({f"{results.task}/{name}": entry.value for name, entry in results.metrics.items()})
        table = wandb.Table(columns=SAMPLE_TABLE_COLUMNS)
        for record in records:
            table.add_data(
                record.id,
                "/".join(record.category),
                record.target,
                record.response,
                record.answer,
                record.extraction,
                record.correct,
                record.score,
                record.error,
            )
        run.log({"samples": table})
        # Files written into the run's own folder are synced with it (online) or kept there (offline).
        base = Path(run.dir)
        (base / "results.json").write_text(json.dumps(results.to_dict(), indent=2), encoding="utf-8")
        (base / "samples.jsonl").write_text(
            "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
        )
        local = str(run.dir)
        run.finish()
    except BaseException:
        run.finish(exit_code=1)
        raise
    return local
