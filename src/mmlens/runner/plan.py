"""Loading a task's samples for a run: duplicates refused, questions-only copies set aside."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

from mmlens.core.errors import ConfigError, DataError
from mmlens.core.media import AbsentImage
from mmlens.core.parts import LoadContext, TransformContext
from mmlens.core.requests import Request, Response
from mmlens.core.sample import BadSample, Sample
from mmlens.core.select import SelectionCheck
from mmlens.core.task import Task

Embedder = Callable[[list[Request]], list[Response]]


def load_samples(
    task: Task, context: LoadContext, embed: Embedder | None = None, excluded: set[str] | None = None
) -> tuple[list[Sample], list[BadSample]]:
    """The task's samples, transformed; ``embed`` answers the embed requests of transforms that
    send any (the ICL retrievers ``topk_text``, ``topk_img``) through the run's roles. A ``select``
    transform applies while loading (``--limit`` counts selected samples); the ids it leaves out
    are added to ``excluded``."""
    if context.data_path is not None and not type(task.scenario).reads_data:
        raise DataError(
            f"--data {context.data_path}: task {task.name} generates its samples and reads no data"
        )
    samples: list[Sample] = []
    bad: list[BadSample] = []
    seen: set[str] = set()
    selection = SelectionCheck.of(task.transforms, task.name, getattr(type(task.scenario), "axes", ()))
    for item in task.scenario.load(context):
        if isinstance(item, BadSample):
            bad.append(item)
            continue
        if item.id in seen:
            raise DataError(f"task {task.name}: sample id {item.id!r} occurs twice in the data")
        seen.add(item.id)
        if selection is not None and not selection.keeps(item):
            if excluded is not None:
                excluded.add(item.id)
            continue
        if context.limit is None or len(samples) < context.limit:
            samples.append(item)
        elif selection is None:  # with a selection every value is seen, so a wrong one is named
            break
    if selection is not None:
        selection.check()
    if not samples:
        where = context.data_path or "the default data source"
        detail = f" ({len(bad)} rows were unusable, e.g. {bad[0].id}: {bad[0].reason})" if bad else ""
        raise DataError(f"task {task.name}: no samples in {where}{detail}")
    if task.transforms:
        samples, set_aside = apply_transforms(task, samples, context, embed)
        bad += set_aside
    return samples, bad


def apply_transforms(
    task: Task, samples: list[Sample], context: LoadContext, embed: Embedder | None = None
) -> tuple[list[Sample], list[BadSample]]:
    """The task's transforms, in order; the ids they give must stay unique (a predictions file and
    the store refer to samples by id). Samples a transform cannot use are bad samples."""
    transform_context = TransformContext(
        task.name, context, lambda fields: load_split(task, context, fields), task.instruction, embed
    )
    bad: list[BadSample] = []
    for transform in task.transforms:
        kept: list[Sample] = []
        seen: set[str] = set()
        for item in transform.apply(samples, transform_context):
            if isinstance(item, BadSample):
                bad.append(item)
                continue
            if item.id in seen:
                raise DataError(
                    f"task {task.name}: transform {transform.label()} gave sample id {item.id!r} twice"
                )
            seen.add(item.id)
            kept.append(item)
        if not kept:
            reason = f" ({bad[0].id}: {bad[0].reason})" if bad else ""
            raise DataError(f"task {task.name}: transform {transform.label()} left no samples{reason}")
        samples = kept
    return samples, bad


def load_split(task: Task, context: LoadContext, fields: dict[str, object]) -> list[Sample]:
    """The samples of the task's scenario with ``fields`` changed (another split, as a pool of
    in-context examples), untransformed and without the run's --limit."""
    try:
        scenario = type(task.scenario).model_validate({**task.scenario.model_dump(), **fields})
    except ValidationError as error:
        raise ConfigError(f"task {task.name}: cannot load its scenario with {fields}: {error}") from None
    pool_context = LoadContext(context.task_name, context.task_dir, context.data_path, None)
    return [item for item in scenario.load(pool_context) if isinstance(item, Sample)]


def set_aside_samples_without_media(
    task: Task, samples: list[Sample], where: str | None
) -> tuple[list[Sample], list[BadSample]]:
    """A questions-only local copy can be scored but not run: its samples become bad samples
    (with the scenario's hint on where the images must go) before any model is loaded."""
    kept: list[Sample] = []
    bad: list[BadSample] = []
    for sample in samples:
        absent = next((image for image in sample.images if isinstance(image, AbsentImage)), None)
        if absent is None:
            kept.append(sample)
        else:
            bad.append(BadSample(sample.id, f"image {absent.label} is not in the local copy: {absent.hint}"))
    if not kept:
        raise DataError(
            f"task {task.name}: {where or 'the data'} has no images, so no model can be run on it "
            f"({bad[0].reason}); `mmlens score` needs no images"
        )
    return kept, bad
