"""The command line: parses options, calls mmlens.api, prints. User errors never show a traceback."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mmlens import api
from mmlens.core.errors import MmlensError
from mmlens.models.base import Model
from mmlens.runner.execute import RunInterrupted
from mmlens.store.sqlite import RunRow, Store, default_store_path
from mmlens.summary import format_summary, format_table

DEFAULT_TASK = "shapes"
DEFAULT_MODEL = "reference"

Command = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, Command] = {}
# Modules with more commands: each has add_parsers(subparsers) and registers with @command.
COMMAND_MODULES = ["mmlens.report.commands"]


def command(name: str) -> Callable[[Command], Command]:
    def decorator(function: Command) -> Command:
        COMMANDS[name] = function
        return function

    return decorator


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports bad options as one line, through the same path as other user errors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise MmlensError(f"{self.prog}: {message} (see {self.prog} --help)")


def _add_task_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="local copy of the benchmark data in its published format")
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="PATH",
        help="folder (or YAML file) with more task definitions; repeatable",
    )
    parser.add_argument("--profile", help="a named scoring profile of the task (e.g. lmms-eval)")
    parser.add_argument("--limit", type=int, help="use only the first N samples")


def _task_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options every command that loads a task shares (see _add_task_options)."""
    return {"data": args.data, "limit": args.limit, "include": args.include, "profile": args.profile}


def _model_args_text(args: argparse.Namespace) -> str | None:
    extra = []
    if args.base_url:
        extra.append(f"base_url={args.base_url}")
    if args.concurrency is not None:
        extra.append(f"concurrency={args.concurrency}")
    parts = [p for p in [args.model_args, *extra] if p]
    return ",".join(parts) or None


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="mmlens", description="Evaluate multimodal LLMs on published benchmarks.")
    parser.add_argument(
        "--store",
        help=f"the results/response database (default {default_store_path()}; "
        "or set MMLENS_STORE / MMLENS_HOME)",
    )
    sub = parser.add_subparsers(dest="command", parser_class=ArgumentParser)

    run = sub.add_parser("run", help="evaluate a model on a task (resumes an interrupted run)")
    run.add_argument(
        "task",
        nargs="*",
        default=[DEFAULT_TASK],
        help=f"task name(s) (default {DEFAULT_TASK}); several share one loaded model",
    )
    run.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"BACKEND[:NAME] or a model YAML file (default {DEFAULT_MODEL})",
    )
    run.add_argument("--model-args", help="backend options, k=v,k2=v2")
    run.add_argument("--base-url", help="shortcut for --model-args base_url=URL")
    run.add_argument("--concurrency", type=int, help="shortcut for --model-args concurrency=N")
    _add_task_options(run)
    run.add_argument(
        "--output-dir",
        default=str(api.DEFAULT_OUTPUT_DIR),
        help="where run folders (results.json, samples.jsonl) go (default %(default)s)",
    )
    run.add_argument("--seed", type=int, default=0, help="seed for sampling and bootstrap (default 0)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--json", action="store_true", help="print results.json instead of the summary")

    score = sub.add_parser("score", help="score predictions made elsewhere (JSONL of {id, response})")
    score.add_argument("task")
    score.add_argument("--predictions", required=True, help='JSONL file: one {"id", "response"} per line')
    _add_task_options(score)
    score.add_argument("--json", action="store_true", help="print the aggregate metrics as one JSON object")

    gain = sub.add_parser(
        "gain", help="multimodal gain and leakage: three runs (with images, without, language backbone alone)"
    )
    gain.add_argument(
        "task", nargs="?", default="mmstar", help="task with a <task>_blind variant (default mmstar)"
    )
    gain.add_argument("--model", required=True, help="the multimodal model (BACKEND[:NAME] or YAML file)")
    gain.add_argument("--model-args", help="its backend options")
    gain.add_argument("--backbone-model", required=True, help="its language backbone alone")
    gain.add_argument("--backbone-model-args", help="the backbone's backend options")
    _add_task_options(gain)
    gain.add_argument("--output-dir", default=str(api.DEFAULT_OUTPUT_DIR))
    gain.add_argument("--no-progress", action="store_true")
    gain.add_argument("--json", action="store_true", help="print S_v, S_wv, S_t, MG, ML as JSON")

    listing = sub.add_parser("list", help="list tasks and model backends")
    listing.add_argument("what", nargs="?", choices=["tasks", "models", "all"], default="all")
    listing.add_argument("--include", action="append", default=[], metavar="PATH")

    show = sub.add_parser("show", help="show a run from the store (id, unique id prefix, or run folder)")
    show.add_argument("run", nargs="?", help="run id or prefix; omitted: list the runs")
    show.add_argument("--json", action="store_true", help="print results.json")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        module.add_parsers(sub)
    return parser


@command("run")
def run_command(args: argparse.Namespace) -> int:
    tasks: list[str] = list(dict.fromkeys(args.task))
    if len(tasks) > 1 and args.data:
        raise MmlensError("--data names the data of one task; run the tasks one at a time")
    for task in tasks:  # every name is checked before any model is loaded
        api.load_task(task, args.include, args.profile)
    model = api.resolve_model(args.model, _model_args_text(args))
    try:
        results = [_run_one_task(task, model, args) for task in tasks]
    finally:
        model.close()
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    return 0


def _run_one_task(task: str, model: Model, args: argparse.Namespace) -> dict[str, Any]:
    result = api.evaluate(
        task,
        model,
        **_task_options(args),
        store=args.store,
        output_dir=args.output_dir,
        seed=args.seed,
        progress=not args.no_progress and sys.stderr.isatty(),
        resume_hint=f"rerun `mmlens {shlex.join(args.argv)}`",
    )
    if args.json:
        return result.results
    print(format_summary(result.results))
    stats = result.stats
    if stats is not None:
        print(
            f"\nrequests: {stats.unique_requests} unique, {stats.cached} from the cache, "
            f"{stats.computed} computed, {stats.errors} errors ({stats.seconds:.1f} s)"
        )
    if result.run_dir is not None:
        print(f"run {result.run_id}: {result.run_dir}/results.json, samples.jsonl")
    if result.results["counts"]["errors"]:
        print("some requests failed (see samples.jsonl); rerun the same command to retry them")
    print()
    return result.results


@command("score")
def score_command(args: argparse.Namespace) -> int:
    result = api.score(args.task, args.predictions, **_task_options(args))
    if args.json:
        print(json.dumps({name: entry["value"] for name, entry in result.results["metrics"].items()}))
    else:
        print(format_summary(result.results))
    return 0


@command("gain")
def gain_command(args: argparse.Namespace) -> int:
    from mmlens.analyses.multimodal_gain import multimodal_gain

    gain = multimodal_gain(
        args.task,
        args.model,
        args.backbone_model,
        model_args=args.model_args,
        backbone_model_args=args.backbone_model_args,
        **_task_options(args),
        store=args.store,
        output_dir=args.output_dir,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    summary = gain.to_dict()
    if args.json:
        print(json.dumps(summary))
        return 0
    rows = [["", summary["metric"], "run"]]
    for name in ("S_v", "S_wv", "S_t"):
        rows.append([name, f"{summary[name]:.4f}", summary["runs"][name]])
    rows += [["MG = S_v - S_wv", f"{gain.mg:.4f}", ""], ["ML = max(0, S_wv - S_t)", f"{gain.ml:.4f}", ""]]
    print(format_table(rows))
    return 0


@command("list")
def list_command(args: argparse.Namespace) -> int:
    import mmlens.models  # noqa: F401 - registers the built-in backends
    from mmlens.core.plugins import load_plugins
    from mmlens.core.task import TaskCatalog
    from mmlens.models.base import models

    load_plugins()

    if args.what in ("tasks", "all"):
        catalog = TaskCatalog(args.include)
        rows = [["task", "description"]] + [[n, catalog.entries[n].description] for n in catalog.names()]
        print(format_table(rows))
    if args.what == "all":
        print()
    if args.what in ("models", "all"):
        rows = [["backend", "description"]]
        for name, cls in models.items():
            doc = (cls.__doc__ or "").strip().splitlines()
            rows.append([name, doc[0] if doc else ""])
        print(format_table(rows))
    return 0


def _run_status(run: RunRow) -> str:
    """A run marked running whose process is gone was killed (kill -9, a crash, a lost machine)."""
    process = run.provenance.get("process") or {}
    if run.status == "running" and process.get("host") == socket.gethostname():
        try:
            os.kill(int(process["pid"]), 0)
        except (OSError, KeyError, ValueError):
            return "killed"
    return run.status


def _headline(run: RunRow) -> str:
    results = run.results or {}
    entry = results.get("metrics", {}).get(results.get("primary_metric", ""), {})
    value = entry.get("value")
    return f"{results['primary_metric']} {value:.4f}" if isinstance(value, float) else ""


@command("show")
def show_command(args: argparse.Namespace) -> int:
    if args.run and Path(args.run, "results.json").is_file():
        results = json.loads(Path(args.run, "results.json").read_text())
    else:
        with Store(args.store) as store:
            runs = store.find_runs(args.run or "")
            if not args.run:
                rows = [["run", "status", "task", "model", "headline"]] + [
                    [r.run_id, _run_status(r), r.task, r.model, _headline(r)] for r in runs
                ]
                print(format_table(rows) if runs else f"no runs in {store.path}")
                return 0
            exact = [r for r in runs if r.run_id == args.run]
            if exact:
                runs = exact
            if not runs:
                raise MmlensError(f"no run {args.run!r} in {store.path} (mmlens show lists the runs)")
            if len(runs) > 1:
                raise MmlensError(
                    f"{args.run!r} matches {len(runs)} runs: " + ", ".join(r.run_id for r in runs[:5])
                )
            run = runs[0]
            status = _run_status(run)
            if status != "done" or run.results is None:
                hint = run.provenance.get("resume") or "rerun its command"
                print(f"run {run.run_id}: {status}; {hint} to resume it")
                return 0
            results = run.results
    print(json.dumps(results, indent=2) if args.json else format_summary(results))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        args = parser.parse_args(argv)
        args.argv = argv
        if args.command is None:
            parser.print_help()
            return 0
        if getattr(args, "limit", None) is not None and args.limit < 1:
            raise MmlensError("--limit must be at least 1")
        return COMMANDS[args.command](args)
    except RunInterrupted as error:
        print(f"\n{error}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except MmlensError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `mmlens run ... | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    # Run the imported module's main, so that commands registered by other modules (report) are
    # found in the same COMMANDS table as under the `mmlens` console script.
    from mmlens.cli import main as imported_main

    sys.exit(imported_main())
