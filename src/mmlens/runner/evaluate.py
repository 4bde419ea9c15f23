"""The run loop: load samples, plan the first round, reuse cached responses, drive the rounds,
score, save. ``mmlens.api.evaluate`` is a thin facade over ``run_task``."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from mmlens.core.errors import DataError, MmlensError
from mmlens.core.jsonlines import encode_record
from mmlens.core.media import ImageRef
from mmlens.core.parts import Inferencer, LoadContext, Metric, SampleRecord
from mmlens.core.requests import MODEL_ROLE, Request, canonical_json
from mmlens.core.results import (
    DatasetProvenance,
    ModelProvenance,
    Provenance,
    RequestCounts,
    RoleRequestCounts,
    RunConfigProvenance,
    RunResults,
)
from mmlens.core.sample import BadSample, Sample
from mmlens.core.task import Task
from mmlens.metrics.judge_panel import with_judge_panel
from mmlens.models.base import Model, ModelSpec, build_model
from mmlens.runner.collections_pause import freeze_loaded, with_fewer_collections
from mmlens.runner.execute import ExecutionStats, Responder, RunInterrupted
from mmlens.runner.judging import judging_summary
from mmlens.runner.plan import load_samples, set_aside_samples_without_media
from mmlens.runner.progress import SampleProgress
from mmlens.runner.provenance import dataset_fingerprint, environment, task_provenance, this_process
from mmlens.runner.readability_worker import ReadabilityChecker
from mmlens.runner.roles import RoleChoice, close_role_models, extra_judges, load_roles, role_provenance
from mmlens.runner.rounds import SampleFlow, drive, key_requests, start_flows
from mmlens.runner.scoring import build_results, score_outcome
from mmlens.runner.thumbnails import ThumbnailMaker, record_image_sources
from mmlens.runner.transform_roles import TransformRoles
from mmlens.store.sqlite import Store

P = TypeVar("P", Inferencer, Metric)
# A first run with at least this many images to check checks them in a child process
CHECK_IN_PROCESS_FROM = 2000


@dataclass
class RunResult:
    run_id: str
    results: dict[str, Any]
    records: list[SampleRecord]
    run_dir: Path | None
    stats: ExecutionStats | None = None

    @property
    def typed(self) -> RunResults:
        return RunResults.load(self.results)


def with_run_seed(task: Task, seed: int) -> Task:
    """The task as this run uses it: sampled generation without its own seed (the inferencer's, or a
    judge metric's) takes the run's seed
    (greedy decoding needs none, and leaving it out keeps greedy requests shared across runs with
    different seeds). A copy: the caller's Task is never changed, so a second run with another seed
    seeds anew."""

    def seeded(part: P) -> P:
        if getattr(part, "temperature", 0.0) > 0 and getattr(part, "seed", 0) is None:
            return part.model_copy(update={"seed": seed})
        return part

    inferencer, metric = seeded(task.inferencer), seeded(task.metric)  # a sampling judge too
    if inferencer is task.inferencer and metric is task.metric:
        return task
    return replace(task, inferencer=inferencer, metric=metric)


def with_judging(task: Task, roles: dict[str, RoleChoice], judge_repeats: int) -> Task:
    """The task as its samples are driven: a judged metric in a judge panel where the run has extra
    judges, repeats or a rule to compare the judge with (``metrics.judge_panel``); else as it is.
    The provenance keeps the task's own metric."""
    if "judge" not in roles:
        return task
    metric = with_judge_panel(task.metric, extra_judges(roles), judge_repeats)
    return task if metric is task.metric else replace(task, metric=metric)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60] or "model"


def _path_component(name: str) -> str:
    """A task name as one file name under --output-dir: path separators and characters no file
    system takes become "_" (a name that is already safe, every built-in one, is unchanged)."""
    return re.sub(r'[/\\\x00-\x1f:*?"<>|]', "_", name)


def run_identity(
    task: Task,
    model: Model,
    data_fingerprint: str,
    limit: int | None,
    seed: int,
    roles: dict[str, Model] | None = None,
) -> str:
    """Same task version, model, roles, data, limit and seed -> same run id: rerunning resumes it."""
    parts: list[Any] = [task.version_hash, model.fingerprint_key(), data_fingerprint, limit, seed]
    if roles:  # only when there are any, so that role-less run ids keep their form
        parts.append({name: role.fingerprint_key() for name, role in sorted(roles.items())})
    identity = canonical_json(parts).encode("utf-8")
    digest = hashlib.sha256(identity).hexdigest()[:10]
    return f"{_path_component(task.name)}__{_slug(model.label)}__{digest}"


def ensure_output_dir(folder: Path) -> None:
    """Fail before any work, not after it, when run folders cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MmlensError(f"--output-dir {folder}: cannot create it ({error.strerror or error})") from None
    if not os.access(folder, os.W_OK):
        raise MmlensError(f"--output-dir {folder}: not writable")


def _write_atomically(path: Path, lines: Iterable[str]) -> None:
    """Write ``path`` whole or not at all: into ``path.tmp``, synced, then renamed over it."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.writelines(lines)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def write_run_folder(
    run_dir: Path,
    results: dict[str, Any],
    records: list[dict[str, Any]],
    encoded: Sequence[str] | None = None,
) -> None:
    """results.json is written last, and an older one removed first: a folder that has a
    results.json has the samples.jsonl of the same run, whatever moment a kill came at (a run is
    marked done in the store only after this returns). ``encoded``: the records already encoded
    (``encode_record``), as the store gets them too."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "results.json").unlink(missing_ok=True)
    lines = encoded if encoded is not None else [encode_record(record) for record in records]
    _write_atomically(run_dir / "samples.jsonl", (line + "\n" for line in lines))
    _write_atomically(run_dir / "results.json", [json.dumps(results, indent=2, ensure_ascii=False) + "\n"])
    try:  # the renames themselves survive a power cut only once the folder is synced
        folder = os.open(run_dir, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(folder)
    except OSError:
        pass
    finally:
        os.close(folder)


def start_readability_checker(samples: list[Sample], readable: set[str]) -> ReadabilityChecker | None:
    """The child process that checks, while the run plans, the images not known to decode that can
    be read again from their source; None for a run with fewer than CHECK_IN_PROCESS_FROM of them
    (starting the process would cost more than it saves)."""
    images: dict[str, ImageRef] = {}
    for sample in samples:
        for image in sample.images:
            if image.digest not in readable and image.source() is not None:
                images.setdefault(image.digest, image)
    return ReadabilityChecker(list(images.values())) if len(images) >= CHECK_IN_PROCESS_FROM else None


def set_aside_unreadable_images(
    flows: list[SampleFlow],
    unique: dict[str, Request],
    cached_keys: set[str],
    readable: set[str] | None = None,
    verdicts: dict[str, str | None] | None = None,
) -> tuple[list[SampleFlow], dict[str, Request], list[BadSample]]:
    """Samples with an image that cannot be decoded become bad samples before anything is sent, so
    that a corrupt file is reported once as bad data, not retried as a failed request on every run.
    Only samples that still need a model are checked (a cached rerun reads no image), and only their
    images not in ``readable`` (the digests that had a thumbnail or a recorded source in the store
    before this run: an earlier run decoded the very bytes the digest names, so another model on the
    same data reads no image here). ``verdicts``: the reasons (None: readable) the readability child
    process found; an image it did not answer for is checked here."""
    kept: list[SampleFlow] = []
    bad: list[BadSample] = []
    readable = readable or set()
    verdicts = verdicts or {}
    for item in flows:
        needs_model = any(key not in cached_keys for key in item.keys)
        images = [i for i in item.sample.images if i.digest not in readable] if needs_model else []
        reasons = [
            r
            for r in (verdicts[i.digest] if i.digest in verdicts else i.unreadable_reason() for i in images)
            if r
        ]
        if reasons:
            bad.append(BadSample(item.sample.id, reasons[0]))
            item.rounds.close()
        else:
            kept.append(item)
    if bad:
        unique = {key: unique[key] for item in kept for key in item.keys}
    return kept, unique, bad


def check_request_kinds(task: Task, unique: dict[str, Request], models: dict[str, Model]) -> None:
    """A task that needs log-likelihoods (or embeddings) cannot run on a backend that only
    generates: say so up front, from the first round's requests."""
    for role, model in models.items():
        needed = {request.kind for request in unique.values() if request.role == role}
        missing = sorted(needed - model.supported_kinds)
        if missing:
            who = "model" if role == MODEL_ROLE else f"{role} model"
            raise MmlensError(
                f"{who} {model.label} cannot answer {' or '.join(missing)} requests, which task {task.name} "
                f"sends (its inferencer is {task.config.inferencer.get('type')!r}); use a backend that can "
                "(hf, openai with a vLLM server) or a profile of the task that generates"
            )


@with_fewer_collections
def run_task(
    task: Task,
    model_spec: ModelSpec | Model,
    roles: dict[str, RoleChoice],
    *,
    data: str | None,
    limit: int | None,
    store: Store,
    output_dir: Path | None,
    seed: int,
    progress: bool,
    thumbnails: bool,
    resume_hint: str,
    config: RunConfigProvenance | None = None,
    judge_repeats: int = 1,
    prices: dict[str, Any] | None = None,
) -> RunResult:
    started = time.time()
    model: Model | None = None
    role_models: dict[str, Model] = {}
    maker: ThumbnailMaker | None = None
    checker: ReadabilityChecker | None = None
    try:
        if output_dir is not None:
            ensure_output_dir(output_dir)
        context = LoadContext(task.name, task.task_dir, data, limit)
        transform_roles = TransformRoles(roles, store, role_models)  # loads roles if a transform asks one
        samples, bad_from_data = load_samples(task, context, transform_roles.embed)
        freeze_loaded()
        samples, without_media = set_aside_samples_without_media(task, samples, context.data_path)
        bad_from_data += without_media
        # images that decoded before (taken before this run's thumbnails come in, so the check below
        # never depends on how far the background thread got): a thumbnail or a recorded source
        digests = {image.digest for sample in samples for image in sample.images}
        thumbnailed = store.thumbnailed(digests)
        readable = thumbnailed | store.sourced(digests)
        checker = start_readability_checker(samples, readable)  # beside planning and lookups
        if thumbnails:  # images only this run has, in the background; the others lazily, by the report
            maker = ThumbnailMaker(samples, store, without_source=True).start()
        model = model_spec if isinstance(model_spec, Model) else build_model(model_spec)
        if not role_models:  # not loaded yet by a transform
            role_models.update(load_roles(roles))
        models = {MODEL_ROLE: model, **role_models}
        fingerprints = {name: m.fingerprint_key() for name, m in models.items()}
        data_fp = dataset_fingerprint(samples)
        task = with_run_seed(task, seed)
        judged_task = with_judging(task, roles, judge_repeats)
        flows, bad_from_plan = start_flows(judged_task, samples)
        unique = key_requests(flows, fingerprints)
        check_request_kinds(task, unique, models)
        cached = store.get_responses(unique)
        verdicts = checker.verdicts() if checker is not None else {}
        flows, unique, unreadable = set_aside_unreadable_images(
            flows, unique, set(cached), readable, verdicts
        )
        bad_from_data += unreadable
        if thumbnails:  # the readable ones: where the report finds them for their thumbnails
            record_image_sources((item.sample for item in flows), store, thumbnailed)
        if not flows:
            reason = (bad_from_data + bad_from_plan)[0].reason if bad_from_data + bad_from_plan else "none"
            raise DataError(f"task {task.name}: no readable samples ({reason})")
        run_id = run_identity(task, model, data_fp, limit, seed, role_models)
        if judge_repeats > 1:  # only then, so that other run ids keep their form
            run_id = f"{run_id}__x{judge_repeats}"
        run_dir = output_dir / run_id if output_dir is not None else None
        # Only when there are any, so that the provenance of other runs keeps its keys.
        optional: dict[str, Any] = {"config": config} if config is not None else {}
        if task.generation:
            optional["generation_overrides"] = task.generation.given()
        provenance = Provenance(
            **optional,
            **environment(),
            run_id=run_id,
            task=task_provenance(task),
            model=ModelProvenance(label=model.label, fingerprint=model.fingerprint()),
            roles=role_provenance(roles, role_models),
            generation=task.inferencer.model_dump(mode="json"),
            dataset=DatasetProvenance(fingerprint=data_fp, data=context.data_path, limit=limit),
            seed=seed,
            store=str(store.path),
            started=started,
            resume=resume_hint,
            process=this_process(),
        )
        responder = Responder(models, store, progress=progress, resume_hint=resume_hint, prefetched=cached)
        responder.tracker = SampleProgress(task.name, enabled=progress)
        transform_roles.add_stats_to(responder)
        store.begin_run(run_id, task.name, model.label, str(run_dir or ""), provenance.to_dict())
        try:
            return drive_and_save(
                judged_task,
                flows,
                fingerprints,
                responder,
                unique,
                bad_from_data + bad_from_plan,
                provenance,
                store,
                run_id,
                run_dir,
                maker,
                prices,
            )
        except RunInterrupted:
            record_status(store, run_id, "interrupted")
            raise
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (the command line turns it into one)
            record_status(store, run_id, "interrupted")
            raise RunInterrupted(
                f"interrupted: the answered requests are saved in {store.path}; {resume_hint} to resume"
            ) from None
        except BaseException as error:
            record_status(store, run_id, "failed", failure_reason(error))
            raise
    except KeyboardInterrupt:  # before the run began: nothing was sent, nothing is recorded
        raise RunInterrupted(f"interrupted before the run began; {resume_hint} to resume") from None
    finally:
        if checker is not None:
            checker.cancel()  # a no-op once it has answered
        if maker is not None:
            maker.cancel()  # a failed or interrupted run stops it (a no-op once finished)
        if model is not None and model is not model_spec:
            model.close()
        close_role_models(roles, role_models)


def failure_reason(error: BaseException) -> str:
    """Why a run failed, in one line: a user error's message, else the exception's type and text."""
    text = " ".join(str(error).split())
    if isinstance(error, MmlensError):
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def record_status(store: Store, run_id: str, status: str, failure: str | None = None) -> None:
    """Record how the run ended (and, for a failed run, why). A second Ctrl-C (or SIGTERM) while it
    is written must not leave the run shown as ``running``: the write is tried again (one cut short
    is rolled back)."""
    for _ in range(5):
        try:
            store.set_status(run_id, status, failure)
            return
        except KeyboardInterrupt:
            continue


def drive_and_save(
    task: Task,
    flows: list[SampleFlow],
    fingerprints: dict[str, str],
    responder: Responder,
    first_round: dict[str, Request],
    bad_samples: list[BadSample],
    provenance: Provenance,
    store: Store,
    run_id: str,
    run_dir: Path | None,
    thumbnails: ThumbnailMaker | None,
    prices: dict[str, Any] | None = None,
) -> RunResult:
    """Everything after the run is begun: any failure here marks the run failed (or interrupted)."""
    if thumbnails is not None:
        thumbnails.start()
    rounds, planned = drive(
        flows, fingerprints, responder, first_round, responder.cached_keys, responder.tracker
    )
    records = []
    bad_samples = bad_samples + [item.bad for item in flows if item.bad is not None]
    for item in flows:
        if item.outcome is None:
            continue
        exchanges = item.exchanges if item.needs_exchanges else None
        outcome = item.outcome
        records.append(
            score_outcome(
                task, item.sample, outcome.prediction, outcome.extraction, item.first_prompt, exchanges
            )
        )
    model_stats = responder.stats[MODEL_ROLE]
    serving = responder.models[MODEL_ROLE].serving()  # answers per replica or Ray worker, if several
    model_provenance = provenance.model
    if serving:
        model_provenance = model_provenance.model_copy(update={"answered_by": serving})
    provenance = provenance.model_copy(
        update={
            "model": model_provenance,
            "finished": time.time(),
            "requests": RequestCounts(
                planned=planned,
                rounds=rounds,
                unique=model_stats.unique_requests,
                cached=model_stats.cached,
                computed=model_stats.computed,
                errors=model_stats.errors,
                by_role={
                    name: RoleRequestCounts.model_validate(stats.to_dict())
                    for name, stats in responder.stats.items()
                },
            ),
        }
    )
    results = build_results(task, records, bad_samples, provenance).to_dict()
    judging = judging_summary(
        task.metric,
        records,
        provenance.roles,
        {name: stats.to_dict() for name, stats in responder.stats.items()},
        provenance.model.label,
        prices,
    )
    if judging is not None:  # judged runs only (metrics.judge_governance, runner.judging)
        results["judging"] = judging
    if thumbnails is not None:
        thumbnails.finish()  # what the background thread has left when the last response is in
    record_dicts = [r.to_dict() for r in records]
    encoded = [encode_record(record) for record in record_dicts]  # once, for the folder and the store
    if run_dir is not None:  # first: the store says done only once the folder is complete
        write_run_folder(run_dir, results, record_dicts, encoded)
    store.finish_run(run_id, results, record_dicts, encoded)
    return RunResult(run_id, results, records, run_dir, model_stats)
