"""The Python API: what the CLI calls and what users script against (a facade over mmlens.runner).

from mmlens import api
result = api.evaluate("shapes", "reference")
print(result.results["metrics"]["acc"])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmlens.core.errors import ConfigError
from mmlens.core.generation import GenerationOverrides
from mmlens.core.results import RunConfigProvenance
from mmlens.core.sample import Sample
from mmlens.core.secrets import mask
from mmlens.core.task import Task, TaskCatalog
from mmlens.models.base import Model, ModelSpec, build_model, parse_model_spec, validate_model_spec
from mmlens.runner.dry_run import PlanResult, plan_first_round
from mmlens.runner.evaluate import RunResult, run_task
from mmlens.runner.replay import has_role_defaults, score_outputs
from mmlens.runner.roles import RoleInput, choose_roles
from mmlens.runner.saved_scores import save_scored_run
from mmlens.store.sqlite import Store

__all__ = ["PlanResult", "RunResult", "evaluate", "load_task", "plan", "score"]

DEFAULT_OUTPUT_DIR = Path("mmlens-runs")


def load_task(
    task: str | Task,
    include: list[str | Path] | None = None,
    profile: str | None = None,
    transforms: list[str | dict[str, Any]] | None = None,
    generation: GenerationOverrides | None = None,
) -> Task:
    """A task by name (``transforms`` are applied after the task file's own; ``generation`` changes
    its inferencer and instruction: see mmlens.core.generation), or a Task as given."""
    if isinstance(task, Task):
        if transforms or generation:
            raise ConfigError(
                "transforms and generation overrides are given with the task name; a loaded Task has its own"
            )
        return task
    return TaskCatalog(include).load(task, profile, transforms, generation)


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
    transforms: list[str | dict[str, Any]] | None = None,
    store: str | Path | Store | None = None,
    output_dir: str | Path | None = DEFAULT_OUTPUT_DIR,
    seed: int = 0,
    progress: bool = False,
    thumbnails: bool = True,
    resume_hint: str = "rerun the same command",
    roles: dict[str, RoleInput] | None = None,
    role_args: dict[str, str] | None = None,
    generation: GenerationOverrides | None = None,
    config: RunConfigProvenance | None = None,
    judge_repeats: int = 1,
    prices: str | Path | None = None,
) -> RunResult:
    """Run ``task`` on ``model``: plan, reuse cached responses, drive the rounds, score, save.

    ``generation``: overrides of the task's generation settings and system prompt (part of the run
    id and of every request's key); ``config``: the run config file, recorded in provenance.

    ``roles`` names the models of roles the task's metric uses (``{"judge": "openai:gpt-4o"}``);
    ``role_args`` their backend options; roles ``judge-2``, ``judge-3`` ... are extra judges of a panel
    and ``judge_repeats`` asks the judge N times (``metrics.judge_panel``; agreement in results.json
    ``judging``); ``prices``: a price table file for the cost per role (``runner.judging``).
    A Model object passed in (as the model or a role) stays
    open, so several tasks can share one loaded model; one built here from a spec is closed.
    ``resume_hint`` (what to run to resume) is recorded and printed with its credentials masked,
    as the command line's own is. ``store``: a SQLite file (a server URL is refused in one line)."""
    if judge_repeats < 1:
        raise ConfigError(f"--judge-repeats {judge_repeats}: expected 1 or more")
    resume_hint = mask(resume_hint)  # recorded in the store and results.json, printed on interrupts
    task_obj = load_task(task, include, profile, transforms, generation)
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
            config=config,
            judge_repeats=judge_repeats,
            prices=_load_prices(prices),
        )
    finally:
        if own_store:
            store_obj.close()


def _load_prices(prices: str | Path | None) -> dict[str, Any] | None:
    """``--prices FILE`` (``report.usage.load_prices``): money per role in results.json ``judging.cost``."""
    if prices is None:
        return None
    from mmlens.report.usage import load_prices

    return dict(load_prices(prices))


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
    transforms: list[str | dict[str, Any]] | None = None,
    save: bool = False,
    model_name: str | None = None,
    output_dir: str | Path | None = DEFAULT_OUTPUT_DIR,
) -> RunResult:
    """Score outputs produced elsewhere with the task's official extraction and metric.

    Each line holds what the task's requests would have returned (see mmlens.runner.replay); a
    judged task replays the judge replies in the lines, or sends the judge requests the lines lack
    to the live ``roles`` (through the store, cached). ``save``: record the result as a run in the
    store (and a run folder under ``output_dir``), its model called ``model_name`` (default
    ``predictions:<file name>``), so the report shows it beside mmlens's own runs."""
    task_obj = load_task(task, include, profile, transforms)
    chosen = choose_roles(task_obj, roles, role_args) if roles or has_role_defaults(task_obj) else {}
    samples: list[Sample] | None = [] if save else None
    results, records = score_outputs(
        task_obj, predictions, str(data) if data is not None else None, limit, chosen, store, samples
    )
    if not save:
        return RunResult("score", results.to_dict(), records, None)
    store_obj = store if isinstance(store, Store) else Store(store)
    try:
        run_id, saved, run_dir = save_scored_run(
            task_obj,
            predictions,
            results,
            records,
            samples or [],
            store_obj,
            Path(output_dir) if output_dir is not None else None,
            model_name,
        )
    finally:
        if not isinstance(store, Store):
            store_obj.close()
    return RunResult(run_id, saved.to_dict(), records, run_dir)


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
    transforms: list[str | dict[str, Any]] | None = None,
    generation: GenerationOverrides | None = None,
) -> PlanResult:
    """The requests a run would send first, without any model (nothing is loaded or sent).

    Later rounds (a dialogue's next turn, a judge's call) depend on the model's answers and are
    not listed; ``later_rounds`` says whether the task has any."""
    task_obj = load_task(task, include, profile, transforms, generation)
    if model is not None:
        resolve_model_spec(model, model_args)  # validated, never loaded
    label = model.label if isinstance(model, Model | ModelSpec) else model
    return plan_first_round(task_obj, str(data) if data is not None else None, limit, seed, label)
