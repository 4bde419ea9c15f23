"""The Python API: what the CLI calls and what users script against (a facade over mmlens.runner).

from mmlens import api
result = api.evaluate("shapes", "reference")
print(result.results["metrics"]["acc"])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmlens.core.errors import DataError
from mmlens.core.parts import Extraction, Inferencer, LoadContext, Prediction
from mmlens.core.requests import Request, Response
from mmlens.core.task import Task, TaskCatalog
from mmlens.models.base import Model, ModelSpec, build_model, parse_model_spec, validate_model_spec
from mmlens.runner.evaluate import RunResult, run_task, with_run_seed
from mmlens.runner.execute import Responder
from mmlens.runner.plan import load_samples
from mmlens.runner.provenance import dataset_fingerprint, environment, task_provenance
from mmlens.runner.replay import ReplayedRoles, drive_replay, read_predictions, replay_rounds
from mmlens.runner.roles import RoleChoice, RoleInput, choose_roles, load_roles, role_provenance
from mmlens.runner.rounds import start_flows
from mmlens.runner.scoring import NO_PREDICTION, build_results, score_outcome
from mmlens.store.sqlite import Store

__all__ = ["RunResult", "evaluate", "load_task", "plan", "score"]

DEFAULT_OUTPUT_DIR = Path("mmlens-runs")


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
    roles: dict[str, RoleInput] | None = None,
    role_args: dict[str, str] | None = None,
) -> RunResult:
    """Run ``task`` on ``model``: plan, reuse cached responses, drive the rounds, score, save.

    ``roles`` names the models of roles the task's metric uses (``{"judge": "openai:gpt-4o"}``);
    ``role_args`` their backend options. A Model object passed in (as the model or a role) stays
    open, so several tasks can share one loaded model; one built here from a spec is closed."""
    task_obj = load_task(task, include, profile)
    model_spec = resolve_model_spec(model, model_args)
    chosen = choose_roles(task_obj, roles, role_args)
    own_store = not isinstance(store, Store)
    store_obj = store if isinstance(store, Store) else Store(store)
    try:
        return run_task(
            task_obj,
            model_spec,
            chosen,
            data=str(data) if data is not None else None,
            limit=limit,
            store=store_obj,
            output_dir=Path(output_dir) if output_dir is not None else None,
            seed=seed,
            progress=progress,
            thumbnails=thumbnails,
            resume_hint=resume_hint,
        )
    finally:
        if own_store:
            store_obj.close()


def score(
    task: str | Task,
    predictions: str | Path,
    *,
    data: str | Path | None = None,
    include: list[str | Path] | None = None,
    profile: str | None = None,
    limit: int | None = None,
    roles: dict[str, RoleInput] | None = None,
    role_args: dict[str, str] | None = None,
    store: str | Path | Store | None = None,
) -> RunResult:
    """Score outputs produced elsewhere with the task's official extraction and metric.

    Each line holds what the task's requests would have returned (see mmlens.runner.replay); a
    judged task replays the judge replies in the lines, or sends the judge requests the lines lack
    to the live ``roles`` (through the store, cached)."""
    task_obj = load_task(task, include, profile)
    lines = read_predictions(predictions)
    # Every sample is loaded so that an id past --limit is told apart from an id that does not exist.
    context = LoadContext(task_obj.name, task_obj.task_dir, str(data) if data is not None else None, None)
    all_samples, bad_samples = load_samples(task_obj, context)
    known = {sample.id for sample in all_samples}
    unknown = [sample_id for sample_id in lines if sample_id not in known]
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5])
        raise DataError(
            f"predictions file {predictions}: {len(unknown)} id(s) are not samples of task {task_obj.name} "
            f"(e.g. {shown}); see the task's id scheme: {task_obj.id_scheme}"
        )
    samples = all_samples[:limit] if limit is not None else all_samples
    predicted = [sample for sample in samples if sample.id in lines]
    needed = task_obj.metric.roles()
    has_defaults = bool(needed) and all(name in task_obj.config.roles for name in needed)
    live_roles = choose_roles(task_obj, roles, role_args) if roles or has_defaults else {}
    live = LazyResponder(live_roles, store)
    try:
        flows, bad_from_plan = start_flows(
            task_obj, predicted, lambda sample, _messages: replay_rounds(task_obj, sample, lines[sample.id])
        )
        fingerprints = live.fingerprints()
        replayed = ReplayedRoles(lines, fingerprints, live if live_roles else None)
        drive_replay(flows, replayed)
        bad_from_plan += [item.bad for item in flows if item.bad is not None]
        by_id = {item.sample.id: item for item in flows if item.bad is None}
        records = []
        for sample in samples:
            item = by_id.get(sample.id)
            if item is not None and item.outcome is not None:
                outcome = item.outcome
                exchanges = item.exchanges or None
                records.append(
                    score_outcome(task_obj, sample, outcome.prediction, outcome.extraction, [], exchanges)
                )
            elif sample.id not in lines:
                missing = Prediction(text=None, error=NO_PREDICTION)
                records.append(score_outcome(task_obj, sample, missing, Extraction(None, "error"), []))
    finally:
        live.close()
    role_info: dict[str, Any] = role_provenance(live_roles, live.models) if live.models else {}
    for name, count in replayed.replayed().items():
        role_info.setdefault(name, {})["replayed_replies"] = count
    provenance = {
        **environment(),
        "task": task_provenance(task_obj),
        "predictions": str(predictions),
        "roles": role_info,
        "dataset": {"fingerprint": dataset_fingerprint(samples), "data": context.data_path, "limit": limit},
    }
    typed = build_results(task_obj, records, bad_samples + bad_from_plan, provenance)
    typed.counts.missing_predictions = len(samples) - len(predicted)
    typed.counts.predictions_past_limit = len(lines) - len(predicted)
    return RunResult("score", typed.to_dict(), records, None)


class LazyResponder:
    """Role models for ``score``, loaded (with the store) only when a line lacks a role's reply."""

    def __init__(self, chosen: dict[str, RoleChoice], store: str | Path | Store | None) -> None:
        self.chosen = chosen
        self.store = store
        self.models: dict[str, Model] = {}
        self._responder: Responder | None = None
        self._store: Store | None = None

    def fingerprints(self) -> dict[str, str]:
        """Role fingerprints without loading: a spec's model is built (cheap: backends load
        weights on first use) only to compute the fingerprint it answers under."""
        if not self.models:
            self.models = load_roles(self.chosen)
        return {name: model.fingerprint_key() for name, model in self.models.items()}

    @property
    def cached_keys(self) -> set[str]:
        return self._responder.cached_keys if self._responder is not None else set()

    def __call__(self, unique: dict[str, Request]) -> dict[str, Response]:
        if self._responder is None:
            self._store = self.store if isinstance(self.store, Store) else Store(self.store)
            self.fingerprints()
            self._responder = Responder(self.models, self._store)
        return self._responder(unique)

    def close(self) -> None:
        for name, model in self.models.items():
            if not isinstance(self.chosen[name].spec, Model):
                model.close()
        if self._store is not None and not isinstance(self.store, Store):
            self._store.close()


@dataclass
class PlannedRequest:
    role: str
    kind: str
    canonical: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, **self.canonical}


@dataclass
class PlanResult:
    """What a run would send in its first round, prompts exactly as sent (media by content hash)."""

    task: str
    id_scheme: str
    samples: list[tuple[str, list[PlannedRequest]]]
    bad_samples: list[dict[str, str]] = field(default_factory=list)
    later_rounds: bool = False
    model: str | None = None
    roles: dict[str, str | None] = field(default_factory=dict)  # role -> the task's default, if any

    @property
    def request_count(self) -> int:
        return sum(len(requests) for _, requests in self.samples)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "id_scheme": self.id_scheme,
            "model": self.model,
            "requests": self.request_count,
            "later_rounds": self.later_rounds,
            "roles": self.roles,
            "samples": [
                {"id": sample_id, "requests": [r.to_dict() for r in requests]}
                for sample_id, requests in self.samples
            ],
            "bad_samples": self.bad_samples,
        }


def plan(
    task: str | Task,
    *,
    data: str | Path | None = None,
    limit: int | None = None,
    include: list[str | Path] | None = None,
    profile: str | None = None,
    model: str | ModelSpec | Model | None = None,
    model_args: str | None = None,
    seed: int = 0,
) -> PlanResult:
    """The requests a run would send first, without any model (nothing is loaded or sent).

    Later rounds (a dialogue's next turn, a judge's call) depend on the model's answers and are
    not listed; ``later_rounds`` says whether the task has any."""
    task_obj = load_task(task, include, profile)
    if model is not None:
        resolve_model_spec(model, model_args)  # validated, never loaded
    context = LoadContext(task_obj.name, task_obj.task_dir, str(data) if data is not None else None, limit)
    samples, bad = load_samples(task_obj, context)
    task_obj = with_run_seed(task_obj, seed)
    flows, bad_from_plan = start_flows(task_obj, samples)
    planned = [
        (item.sample.id, [PlannedRequest(r.role, r.kind, r.canonical()) for r in item.pending])
        for item in flows
    ]
    multi_round = type(task_obj.inferencer).rounds is not Inferencer.rounds
    for item in flows:
        item.rounds.close()
    label = model.label if isinstance(model, Model | ModelSpec) else model
    return PlanResult(
        task=task_obj.name,
        id_scheme=task_obj.id_scheme,
        samples=planned,
        bad_samples=[{"id": b.id, "reason": b.reason} for b in bad + bad_from_plan],
        later_rounds=multi_round or bool(task_obj.metric.roles()),
        model=label,
        roles={
            name: task_obj.config.roles[name].label if name in task_obj.config.roles else None
            for name in task_obj.metric.roles()
        },
    )
