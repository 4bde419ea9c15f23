"""``mmlens score --save``: a scored predictions file becomes a run in the store, with a run folder
(results.json, samples.jsonl), so outputs of another harness are browsed and compared in the report
like any run.

Its run id follows the task version, the predictions file's content (SHA-256), the data, the limit
and the label, so saving the same file again replaces the same run; the model is the label given
(``--model-name``, default ``predictions:<file name>``) with the file's digest as its fingerprint.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from mmlens.core.parts import SampleRecord
from mmlens.core.requests import canonical_json
from mmlens.core.results import ModelProvenance, RunResults
from mmlens.core.sample import Sample
from mmlens.core.task import Task
from mmlens.runner.evaluate import _path_component, _slug, ensure_output_dir, write_run_folder
from mmlens.runner.thumbnails import save_thumbnails
from mmlens.store.sqlite import Store


def file_digest(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_model_name(predictions: str | Path) -> str:
    return f"predictions:{Path(predictions).stem}"


def save_scored_run(
    task: Task,
    predictions: str | Path,
    results: RunResults,
    records: list[SampleRecord],
    samples: list[Sample],
    store: Store,
    output_dir: Path | None,
    model_name: str | None = None,
) -> tuple[str, RunResults, Path | None]:
    """Record the scored file as a finished run; returns its id, its results and its folder."""
    started = time.time()
    label = model_name or default_model_name(predictions)
    sha = file_digest(predictions)
    provenance = results.provenance
    identity = [
        task.version_hash,
        "predictions",
        sha,
        provenance.dataset.fingerprint,
        provenance.dataset.limit,
        label,
    ]
    digest = hashlib.sha256(canonical_json(identity).encode("utf-8")).hexdigest()[:10]
    run_id = f"{_path_component(task.name)}__{_slug(label)}__{digest}"
    if output_dir is not None:
        ensure_output_dir(output_dir)
    run_dir = output_dir / run_id if output_dir is not None else None
    provenance = provenance.model_copy(
        update={
            "run_id": run_id,
            "model": ModelProvenance(
                label=label, fingerprint={"backend": "predictions", "predictions_sha256": sha}
            ),
            "store": str(store.path),
            "started": started,
            "finished": time.time(),
        }
    )
    saved = results.model_copy(update={"provenance": provenance})
    results_dict = saved.to_dict()
    store.begin_run(run_id, task.name, label, str(run_dir or ""), provenance.to_dict())
    save_thumbnails(samples, store)
    record_dicts = [record.to_dict() for record in records]
    if run_dir is not None:
        write_run_folder(run_dir, results_dict, record_dicts)
    store.finish_run(run_id, results_dict, record_dicts)
    return run_id, saved, run_dir
