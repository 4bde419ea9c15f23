"""Planning: samples -> messages -> requests, de-duplicated by content hash."""

from __future__ import annotations

from dataclasses import dataclass, field

from mmlens.core.errors import DataError, MmlensError, SampleError
from mmlens.core.media import AbsentImage
from mmlens.core.parts import LoadContext
from mmlens.core.requests import Request
from mmlens.core.sample import BadSample, Sample
from mmlens.core.task import Task
from mmlens.models.base import Model


@dataclass
class PlannedSample:
    sample: Sample
    requests: list[Request]
    keys: list[str]


@dataclass
class Plan:
    samples: list[PlannedSample]
    bad_samples: list[BadSample]
    unique: dict[str, Request] = field(default_factory=dict)  # key -> request, in first-seen order

    @property
    def request_count(self) -> int:
        return sum(len(p.requests) for p in self.samples)


def load_samples(task: Task, context: LoadContext) -> tuple[list[Sample], list[BadSample]]:
    if context.data_path is not None and not type(task.scenario).reads_data:
        raise DataError(
            f"--data {context.data_path}: task {task.name} generates its samples and reads no data"
        )
    samples: list[Sample] = []
    bad: list[BadSample] = []
    seen: set[str] = set()
    for item in task.scenario.load(context):
        if isinstance(item, BadSample):
            bad.append(item)
            continue
        if item.id in seen:
            raise DataError(f"task {task.name}: sample id {item.id!r} occurs twice in the data")
        seen.add(item.id)
        samples.append(item)
        if context.limit is not None and len(samples) >= context.limit:
            break
    if not samples:
        where = context.data_path or "the default data source"
        detail = f" ({len(bad)} rows were unusable, e.g. {bad[0].id}: {bad[0].reason})" if bad else ""
        raise DataError(f"task {task.name}: no samples in {where}{detail}")
    return samples, bad


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


def plan_requests(task: Task, samples: list[Sample], model_fingerprint: str) -> Plan:
    plan = Plan(samples=[], bad_samples=[])
    for sample in samples:
        try:
            messages = task.instruction.build(sample)
            requests = task.inferencer.plan(sample, messages)
        except SampleError as error:
            plan.bad_samples.append(BadSample(sample.id, error.reason))
            continue
        except MmlensError:
            raise
        keys = [request.key(model_fingerprint) for request in requests]
        for key, request in zip(keys, requests, strict=True):
            plan.unique.setdefault(key, request)
        plan.samples.append(PlannedSample(sample, requests, keys))
    return plan


def set_aside_unreadable_images(plan: Plan, cached_keys: set[str]) -> list[BadSample]:
    """Samples with an image that cannot be decoded become bad samples before anything is sent, so
    that a corrupt file is reported once as bad data, not retried as a failed request on every run.
    Only samples that still need a model are checked (a cached rerun reads no image)."""
    kept: list[PlannedSample] = []
    bad: list[BadSample] = []
    for planned in plan.samples:
        needs_model = any(key not in cached_keys for key in planned.keys)
        reasons = (
            [r for r in (i.unreadable_reason() for i in planned.sample.images) if r] if needs_model else []
        )
        if reasons:
            bad.append(BadSample(planned.sample.id, reasons[0]))
        else:
            kept.append(planned)
    if bad:
        plan.samples = kept
        plan.unique = {key: plan.unique[key] for planned in kept for key in planned.keys}
    return bad


def check_request_kinds(task: Task, plan: Plan, model: Model) -> None:
    """A task that needs log-likelihoods cannot run on a backend that only generates: say so up front."""
    needed = {request.kind for request in plan.unique.values()}
    missing = sorted(needed - model.supported_kinds)
    if missing:
        raise MmlensError(
            f"model {model.label} cannot answer {' or '.join(missing)} requests, which task {task.name} "
            f"sends (its inferencer is {task.config.inferencer.get('type')!r}); use a backend that can "
            "(hf, openai with a vLLM server) or a profile of the task that generates"
        )
