"""The Python API: what the CLI calls and what users script against.

from mmlens import api
result = api.evaluate("shapes", "reference")
print(result.results["metrics"]["acc"])
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmlens.core.errors import DataError, MmlensError
from mmlens.core.jsonlines import json_lines
from mmlens.core.parts import LoadContext, Prediction, SampleRecord
from mmlens.core.requests import canonical_json
from mmlens.core.task import Task, TaskCatalog
from mmlens.models.base import Model, ModelSpec, build_model, parse_model_spec, validate_model_spec
from mmlens.runner.execute import ExecutionStats, RunInterrupted, execute
from mmlens.runner.plan import (
    check_request_kinds,
    load_samples,
    plan_requests,
    set_aside_samples_without_media,
    set_aside_unreadable_images,
)
from mmlens.runner.provenance import dataset_fingerprint, environment, task_provenance
from mmlens.runner.scoring import NO_PREDICTION, build_results, prompt_of, score_prediction
from mmlens.runner.thumbnails import save_thumbnails
from mmlens.store.sqlite import Store

DEFAULT_OUTPUT_DIR = Path("mmlens-runs")


@dataclass
class RunResult:
    run_id: str
    results: dict[str, Any]
    records: list[SampleRecord]
    run_dir: Path | None
    stats: ExecutionStats | None = None


def load_task(task: str | Task, include: list[str | Path] | None = None, profile: str | None = None) -> Task:
    if isinstance(task, Task):
        return task
    return TaskCatalog(include).load(task, profile)


def resolve_model_spec(model: str | ModelSpec | Model, model_args: str | None = None) -> ModelSpec | Model:
    """Parse and validate a model spec (cheap: nothing is loaded yet)."""
    if isinstance(model, Model):
        return model
    spec = model if isinstance(model, ModelSpec) else parse_model_spec(model, model_args)
    validate_model_spec(spec)
    return spec


def resolve_model(model: str | ModelSpec | Model, model_args: str | None = None) -> Model:
    spec = resolve_model_spec(model, model_args)
    return spec if isinstance(spec, Model) else build_model(spec)


def apply_run_seed(task: Task, seed: int) -> None:
    """Sampled generation without its own seed uses the run's seed (greedy decoding needs none,
    and leaving it out keeps greedy requests shared across runs with different seeds)."""
    inferencer = task.inferencer
    if getattr(inferencer, "temperature", 0.0) > 0 and getattr(inferencer, "seed", 0) is None:
        task.inferencer = inferencer.model_copy(update={"seed": seed})


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60] or "model"


def run_identity(task: Task, model: Model, data_fingerprint: str, limit: int | None, seed: int) -> str:
    """Same task version, model, data, limit and seed -> same run id: rerunning resumes it."""
    identity = canonical_json(
        [task.version_hash, model.fingerprint_key(), data_fingerprint, limit, seed]
    ).encode("utf-8")
    return f"{task.name}__{_slug(model.label)}__{hashlib.sha256(identity).hexdigest()[:10]}"


def ensure_output_dir(folder: Path) -> None:
    """Fail before any work, not after it, when run folders cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MmlensError(f"--output-dir {folder}: cannot create it ({error.strerror or error})") from None
    if not os.access(folder, os.W_OK):
        raise MmlensError(f"--output-dir {folder}: not writable")


def write_run_folder(run_dir: Path, results: dict[str, Any], records: list[SampleRecord]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    samples_tmp = run_dir / "samples.jsonl.tmp"
    with samples_tmp.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
    samples_tmp.replace(run_dir / "samples.jsonl")
    results_tmp = run_dir / "results.json.tmp"
    results_tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    results_tmp.replace(run_dir / "results.json")


def evaluate(
    task: str | Task,
    model: str | ModelSpec | Model = "reference",
    *,
    model_args: str | None = None,
    data: str | Path | None = None,
    limit: int | None = None,
    include: list[str | Path] | None = None,
    profile: str | None = None,
    store: str | Path | Store | None = None,
    output_dir: str | Path | None = DEFAULT_OUTPUT_DIR,
    seed: int = 0,
    progress: bool = False,
    thumbnails: bool = True,
    resume_hint: str = "rerun the same command",
) -> RunResult:
    """Run ``task`` on ``model``: plan, reuse cached responses, compute the rest, score, save.

    A Model object passed in stays open (so that several tasks can share one loaded model); one
    built here from a spec is closed at the end."""
    started = time.time()
    own_model = not isinstance(model, Model)
    task_obj = load_task(task, include, profile)
    model_spec = resolve_model_spec(model, model_args)
    if output_dir is not None:
        ensure_output_dir(Path(output_dir))
    context = LoadContext(task_obj.name, task_obj.task_dir, str(data) if data is not None else None, limit)
    samples, bad_from_data = load_samples(task_obj, context)
    samples, without_media = set_aside_samples_without_media(task_obj, samples, context.data_path)
    bad_from_data += without_media
    model_obj = resolve_model(model_spec)
    own_store = not isinstance(store, Store)
    store_obj = store if isinstance(store, Store) else Store(store)
    try:
        data_fp = dataset_fingerprint(samples)
        fingerprint = model_obj.fingerprint_key()
        apply_run_seed(task_obj, seed)
        plan = plan_requests(task_obj, samples, fingerprint)
        check_request_kinds(task_obj, plan, model_obj)
        cached_responses = store_obj.get_responses(plan.unique)
        bad_from_data += set_aside_unreadable_images(plan, set(cached_responses))
        if not plan.samples:
            raise DataError(f"task {task_obj.name}: no readable samples ({bad_from_data[0].reason})")
        run_id = run_identity(task_obj, model_obj, data_fp, limit, seed)
        run_dir = Path(output_dir) / run_id if output_dir is not None else None
        provenance: dict[str, Any] = {
            **environment(),
            "run_id": run_id,
            "task": task_provenance(task_obj),
            "model": {"label": model_obj.label, "fingerprint": model_obj.fingerprint()},
            "generation": task_obj.inferencer.model_dump(mode="json"),
            "dataset": {"fingerprint": data_fp, "data": context.data_path, "limit": limit},
            "seed": seed,
            "store": str(store_obj.path),
            "started": started,
            "resume": resume_hint,
            "process": {"host": socket.gethostname(), "pid": os.getpid()},
        }
        store_obj.begin_run(run_id, task_obj.name, model_obj.label, str(run_dir or ""), provenance)
        try:
            responses, stats = execute(
                plan.unique,
                model_obj,
                store_obj,
                cached_responses=cached_responses,
                progress=progress,
                resume_hint=resume_hint,
            )
        except RunInterrupted:
            store_obj.set_status(run_id, "interrupted")
            raise
        except BaseException:
            store_obj.set_status(run_id, "failed")
            raise
        records = []
        for planned in plan.samples:
            sample_responses = [responses[key] for key in planned.keys]
            prediction = task_obj.inferencer.combine(planned.sample, planned.requests, sample_responses)
            records.append(
                score_prediction(task_obj, planned.sample, prediction, prompt_of(planned.requests))
            )
        provenance["finished"] = time.time()
        provenance["requests"] = {
            "planned": plan.request_count,
            "unique": stats.unique_requests,
            "cached": stats.cached,
            "computed": stats.computed,
            "errors": stats.errors,
        }
        results = build_results(task_obj, records, bad_from_data + plan.bad_samples, provenance)
        if thumbnails:
            save_thumbnails([planned.sample for planned in plan.samples], store_obj)
        store_obj.finish_run(run_id, results, [r.to_dict() for r in records])
        if run_dir is not None:
            write_run_folder(run_dir, results, records)
        return RunResult(run_id, results, records, run_dir, stats)
    finally:
        if own_store:
            store_obj.close()
        if own_model:
            model_obj.close()


def read_predictions(path: str | Path) -> dict[str, str | None]:
    """A JSONL file of ``{"id": ..., "response": ...}``; errors name the file and line."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"predictions file {file} does not exist")
    predictions: dict[str, str | None] = {}
    try:
        with file.open(encoding="utf-8") as handle:
            lines = list(json_lines(handle))
    except UnicodeDecodeError as error:
        raise DataError(f"predictions file {file} is not UTF-8 text ({error.reason})") from None
    for line in lines:
        where = f"{file}, line {line.number}"
        if line.error is not None:
            raise DataError(f"{where}: {line.error}")
        item = line.value
        if not isinstance(item, dict) or "id" not in item or "response" not in item:
            raise DataError(f'{where}: expected {{"id": ..., "response": ...}}')
        sample_id = str(item["id"])
        if sample_id in predictions:
            raise DataError(f"{where}: id {sample_id!r} appears twice")
        response = item["response"]
        if response is not None and not isinstance(response, str):
            raise DataError(f"{where}: response must be a string or null")
        predictions[sample_id] = response
    if not predictions:
        raise DataError(f"predictions file {file} is empty")
    return predictions


def score(
    task: str | Task,
    predictions: str | Path,
    *,
    data: str | Path | None = None,
    include: list[str | Path] | None = None,
    profile: str | None = None,
    limit: int | None = None,
) -> RunResult:
    """Score responses produced elsewhere with the task's official extraction and metric."""
    task_obj = load_task(task, include, profile)
    responses = read_predictions(predictions)
    # Every sample is loaded so that an id past --limit is told apart from an id that does not exist.
    context = LoadContext(task_obj.name, task_obj.task_dir, str(data) if data is not None else None, None)
    all_samples, bad_samples = load_samples(task_obj, context)
    known = {sample.id for sample in all_samples}
    unknown = [sample_id for sample_id in responses if sample_id not in known]
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5])
        raise DataError(
            f"predictions file {predictions}: {len(unknown)} id(s) are not samples of task {task_obj.name} "
            f"(e.g. {shown}); see the task's id scheme: {task_obj.id_scheme}"
        )
    samples = all_samples[:limit] if limit is not None else all_samples
    records = []
    for sample in samples:
        if sample.id in responses:
            prediction = Prediction(text=responses[sample.id])
        else:
            prediction = Prediction(text=None, error=NO_PREDICTION)
        records.append(score_prediction(task_obj, sample, prediction, []))
    provenance = {
        **environment(),
        "task": task_provenance(task_obj),
        "predictions": str(predictions),
        "dataset": {"fingerprint": dataset_fingerprint(samples), "data": context.data_path, "limit": limit},
    }
    results = build_results(task_obj, records, bad_samples, provenance)
    predicted = sum(1 for sample in samples if sample.id in responses)
    results["counts"]["missing_predictions"] = len(samples) - predicted
    results["counts"]["predictions_past_limit"] = len(responses) - predicted
    return RunResult("score", results, records, None)
