"""``mmlens run [TASK ...]``: evaluate a model on one or more tasks (resumes an interrupted run)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mmlens.api import DEFAULT_OUTPUT_DIR, evaluate, load_task, resolve_model
from mmlens.cli.manage import add_run_label_options, label_runs
from mmlens.cli.parser import (
    RoleOptions,
    add_model_options,
    add_role_options,
    add_task_options,
    model_args_text,
    role_options,
    task_options,
)
from mmlens.cli.push import add_wandb_option, wandb_log_runs
from mmlens.cli.registry import command
from mmlens.cli.run_config import (
    DEFAULT_TASK,
    RunPlan,
    add_generation_options,
    add_many_task_options,
    format_combined_summary,
    resolve_run,
)
from mmlens.core.errors import ConfigError
from mmlens.core.requests import MODEL_ROLE
from mmlens.core.secrets import mask_command
from mmlens.models.base import Model, ModelSpec
from mmlens.summary import format_error_summary, format_summary, load_results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "task",
        nargs="*",
        default=[],
        help=f"task names, comma lists (mme,pope) or suites (suite:core) (default {DEFAULT_TASK}, or the "
        "config's tasks); several share one loaded model",
    )
    add_model_options(parser, None)
    add_role_options(parser)
    add_task_options(parser, several_tasks=True)
    add_many_task_options(parser)
    add_generation_options(parser)
    parser.add_argument(
        "--output-dir",
        default=None,
        help=f"where run folders (results.json, samples.jsonl) go (default {DEFAULT_OUTPUT_DIR})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed for sampled generation without its own seed (default 0); bootstrap CIs use a fixed seed",
    )
    parser.add_argument(
        "--judge-repeats",
        type=int,
        default=1,
        metavar="N",
        help="ask the judge N times (repeats sampled, temperature 1 where greedy): self-agreement in "
        "results.json judging (default 1)",
    )
    parser.add_argument(
        "--prices",
        "--price-table",
        dest="prices",
        metavar="FILE",
        help="a price table (YAML/JSON: model label or glob -> {input: ..., output: ...} per million "
        "tokens): money per role in results.json judging.cost",
    )
    parser.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="answer with model replicas as Ray actors across a Ray cluster (one per GPU, else per CPU): "
        "ADDRESS is auto, HOST:PORT or ray://HOST:10001; none: RAY_ADDRESS, else a local Ray",
    )
    parser.add_argument("--ray-workers", type=int, metavar="N", help="how many Ray workers (with --ray)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print results.json instead of the summary")
    add_run_label_options(parser)
    add_wandb_option(parser)


@command("run", "evaluate a model on a task (resumes an interrupted run)", add_arguments)
def run_command(args: argparse.Namespace) -> int:
    plan = resolve_run(args, model_args_text(args))  # the config file under the options; nothing loaded
    roles = role_options(args)
    if plan.roles:  # the config's roles, replaced by name by --judge / --role
        given = roles.get("roles", {})
        roles = RoleOptions(roles={**plan.roles, **given}, role_args=roles.get("role_args", {}))
    data: dict[str, str | None] = {}
    for task in plan.tasks:  # every task is checked before any model is loaded
        settings = plan.task_settings(task, args)
        loaded = load_task(
            task, args.include, settings["profile"], settings["transforms"], settings["generation"] or None
        )
        data[task] = plan.data_for(loaded)
    results: list[dict[str, Any]] = []
    labelled: list[tuple[str, dict[str, Any]]] = []
    for spec in plan.models:
        model = resolve_model(spec) if args.ray is None else ray_model(spec, args)
        try:
            for task in plan.tasks:
                result = _run_one_task(task, model, roles, args, plan, data[task])
                results.append(result)
                labelled.append((plan.model_label(spec), result))
        finally:
            model.close()
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    elif len(results) > 1:
        print(format_combined_summary(labelled, several_models=len(plan.models) > 1))
    if not args.json:
        _print_reported(results, args.include)
    # exit 1 when a run finished incomplete (results are saved; the same command retries what failed)
    return 1 if any(not load_results(result).complete for result in results) else 0


def ray_model(spec: ModelSpec, args: argparse.Namespace) -> Model:
    """The model's replicas as Ray actors (--ray); the driver plans, claims and stores as usual."""
    from mmlens.models.ray_pool import RayOptions, RayPoolModel

    if args.ray_workers is not None and args.ray_workers < 1:
        raise ConfigError(f"--ray-workers: expected at least 1, got {args.ray_workers}")
    return RayPoolModel(spec, RayOptions(address=args.ray or None, workers=args.ray_workers))


def _print_reported(results: list[dict[str, Any]], include: list[str]) -> None:
    """Reported vs measured, where a paper reports a number for a run's model and task."""
    from mmlens.analyses.reported import compare_run
    from mmlens.cli.compare_reported import format_comparisons
    from mmlens.core.reported import load_reported

    typed = [load_results(result) for result in results]
    entries = load_reported([result.provenance.task.source for result in typed], include)
    comparisons = [item for r in typed for item in compare_run(r.provenance.run_id or "", r, entries)]
    if comparisons:
        print("\nreported vs measured (mmlens compare-reported):")
        print(format_comparisons(comparisons, show_run=False))


def _run_one_task(
    task: str, model: Model, roles: RoleOptions, args: argparse.Namespace, plan: RunPlan, data: str | None
) -> dict[str, Any]:
    settings = plan.task_settings(task, args)
    result = evaluate(
        task,
        model,
        **{
            **task_options(args),
            "data": data,
            "profile": settings["profile"],
            "transforms": settings["transforms"],
        },
        **roles,
        generation=settings["generation"] or None,
        config=plan.config,
        store=args.store,
        output_dir=args.output_dir,
        seed=args.seed,
        progress=not args.no_progress and sys.stderr.isatty(),
        # Recorded in the store and results.json: credentials (a key in --base-url) are masked.
        resume_hint=f"rerun `mmlens {mask_command(args.argv)}`",
        judge_repeats=args.judge_repeats,
        prices=args.prices,
    )
    label_runs(args.store, [result.run_id], args.name, args.tag)
    serving = result.results.get("provenance", {}).get("model", {}).get("answered_by")
    if serving:  # which replica or worker answered: never part of a stored answer
        print(
            "answered by: " + ", ".join(f"{where} {count}" for where, count in serving.items()),
            file=sys.stderr,
        )
    if args.wandb:
        for folder in wandb_log_runs(args.store, [result.run_id], args.wandb):
            print(f"wandb: logged to {folder}", file=sys.stderr)
    if args.json:
        return result.results
    print(format_summary(result.results))
    stats = result.stats
    if stats is not None:
        print(
            f"\nrequests: {stats.unique_requests} unique, {stats.cached} from the cache, "
            f"{stats.computed} computed, {stats.errors} errors ({stats.seconds:.1f} s)"
        )
    for role, counts in result.typed.provenance.requests.by_role.items():
        if role != MODEL_ROLE:
            print(
                f"{role} requests: {counts.unique} unique, {counts.cached} from the cache, "
                f"{counts.computed} computed, {counts.errors} errors ({counts.seconds:.1f} s)"
            )
    if result.run_dir is not None:
        print(f"run {result.run_id}: {result.run_dir}/results.json, samples.jsonl")
    if result.typed.counts.errors:
        print(f"\n{format_error_summary(result.records)}")
        print("some requests failed (see samples.jsonl); rerun the same command to retry them")
    print()
    return result.results
