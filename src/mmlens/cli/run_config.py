"""``mmlens run``'s many-task options: the run config file (``--config FILE``), per-task data
(``--data TASK=PATH``, ``--data-root DIR``), task lists and suites, and the generation overrides
(``--max-new-tokens``, ``--temperature``, ``--top-p``, ``--system-prompt``, ``--gen-args``).

A run config is a YAML file validated by ``RunConfig`` (a misspelt key is one line naming the file
and the key). Paths in it are relative to the file's folder. Options given on the command line
override the file's: a scalar (model, limit, seed, store, output dir, profile) replaces it, a list
(tasks, transforms) replaces it, a mapping (data, roles, generation args) is merged key by key,
``--include`` folders are added to the file's.

Data root: ``--data-root DIR`` gives each task the folder ``DIR/<task name>`` if there is one, else
``DIR/<benchmark>`` (the name of the task's folder under ``src/mmlens/tasks/``, e.g. ``pope`` for
``pope_random``), which must hold what ``--data`` would take for it. A task that reads no data (a
generator such as ``shapes``) needs none; one that does and has no folder there is an error naming
the folders looked for.
"""

from __future__ import annotations

import argparse
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mmlens.core.errors import ConfigError
from mmlens.core.generation import GenerationOverrides
from mmlens.core.results import RunConfigProvenance
from mmlens.core.select import selection_spec
from mmlens.core.suites import SUITE_PREFIX, SuiteTask, expand_task_settings, load_suites
from mmlens.core.task import YAML_LOADER, Task, TaskCatalog, yaml_error_line
from mmlens.media.instruction import FRAME_OPTIONS
from mmlens.models.base import (
    ModelSpec,
    _split_top_level,
    parse_model_args,
    parse_model_spec,
    validate_model_spec,
)

DEFAULT_TASK = "shapes"
DEFAULT_MODEL = "reference"


# -- the file -----------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelEntry(_Strict):
    """A model with its backend options: ``{model: hf:NAME, args: {dtype: bfloat16}}``."""

    model: str
    args: dict[str, Any] | str = Field(default_factory=dict)


class GenerationConfig(_Strict):
    """``generation:`` of a run config: what ``--max-new-tokens`` ... ``--gen-args`` set."""

    max_new_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    system_prompt: str | None = None
    video_frames: int | None = Field(default=None, ge=0)  # --video-frames ... (mmlens.media.instruction)
    video_sampling: str | None = None
    video_fps: float | None = Field(default=None, gt=0.0)
    video_decoder: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)


class RunConfig(_Strict):
    """A run config file (``mmlens run --config FILE``)."""

    model: str | ModelEntry | None = None
    models: list[str | ModelEntry] | None = None  # several models, each on every task
    model_args: dict[str, Any] | str | None = None  # options of ``model`` given as a string
    roles: dict[str, str | ModelEntry] = Field(default_factory=dict)
    tasks: list[str] | str = Field(default_factory=list)
    data: dict[str, str] = Field(default_factory=dict)  # task (or benchmark) name -> local copy
    data_root: str | None = None
    include: list[str] = Field(default_factory=list)
    profile: str | None = None
    transforms: list[str | dict[str, Any]] = Field(default_factory=list)
    select: str | dict[str, Any] | None = None  # a subtree of each task (mmlens.core.select)
    generation: GenerationConfig | None = None
    store: str | None = None
    output_dir: str | None = None
    limit: int | None = Field(default=None, ge=1)
    seed: int | None = None


def load_run_config(path: str | Path) -> tuple[RunConfig, dict[str, Any]]:
    """The validated config and its content as read; every error is one line naming the file."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)
    except yaml.YAMLError as error:
        raise ConfigError(f"run config {path}: not valid YAML: {yaml_error_line(error)}") from None
    except OSError as error:
        raise ConfigError(f"--config {path}: cannot read it ({error.strerror or error})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"run config {path}: expected a mapping (model:, tasks:, data:, ...)")
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"run config {path}: {_describe(error)}") from None
    if config.model is not None and config.models is not None:
        raise ConfigError(f"run config {path}: give model or models, not both")
    if config.model_args is not None and not isinstance(config.model, str):
        raise ConfigError(f"run config {path}: model_args goes with a model given as text (model: hf:NAME)")
    return config, json.loads(json.dumps(data, default=str))


def _describe(error: ValidationError) -> str:
    """The first problem, by key: an unknown key names its close known key."""
    for item in error.errors():
        loc = _key_path(item["loc"])
        if item["type"] == "extra_forbidden":
            known = _known_keys(loc[:-1])
            close = difflib.get_close_matches(loc[-1], known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
            return f"unknown key {'.'.join(loc)!r}{hint}"
    item = error.errors()[0]
    return f"{'.'.join(_key_path(item['loc']))}: {item['msg']}"


def _key_path(loc: tuple[int | str, ...]) -> list[str]:
    """The keys of an error's location, without the union branch pydantic names ("model.str",
    "model.ModelEntry.args")."""
    return [str(part) for part in loc if not (isinstance(part, str) and (part in _BRANCHES or "[" in part))]


_BRANCHES = {"str", "int", "float", "ModelEntry", "GenerationConfig"}


def _known_keys(parent: list[str]) -> list[str]:
    model: type[BaseModel] = RunConfig
    if parent and parent[0] == "generation":
        model = GenerationConfig
    elif parent and parent[0] in ("model", "models", "roles"):
        model = ModelEntry
    return list(model.model_fields)


# -- command-line options -----------------------------------------------------------------------


def add_generation_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "generation overrides (recorded in provenance and in every request's key)"
    )
    group.add_argument("--max-new-tokens", type=int, metavar="N", help="the most new tokens per reply")
    group.add_argument("--temperature", type=float, metavar="T", help="sampling temperature (0: greedy)")
    group.add_argument("--top-p", type=float, metavar="P", help="nucleus sampling threshold")
    group.add_argument("--system-prompt", metavar="TEXT", help="the system message of the task's instruction")
    group.add_argument(
        "--gen-args",
        action="append",
        default=[],
        metavar="k=v,...",
        help="more settings: a field of the task's inferencer (stop, seed, ...) or a chat-template "
        "argument (enable_thinking=false); values are JSON where they parse as JSON; repeatable",
    )
    add_video_options(parser)


def add_video_options(parser: argparse.ArgumentParser) -> None:
    """--video-frames, --video-sampling, --video-fps, --video-decoder: the frame settings of the
    video tasks' instructions (mmlens.media.instruction), as a task file sets them."""
    group = parser.add_argument_group(
        "video frame overrides (tasks with a video instruction: videomme, mme_videoocr, mmworld; in every "
        "request's key, as the task file's settings)"
    )
    group.add_argument(
        "--video-frames", type=int, metavar="N", help="frames per video (rule fps: at most N; 0: no cap)"
    )
    group.add_argument(
        "--video-sampling",
        metavar="RULE",
        help="which frames: videomme (segment middles), linspace (lmms-eval), vlmevalkit, fps",
    )
    group.add_argument("--video-fps", type=float, metavar="R", help="frames per second (rule fps)")
    group.add_argument("--video-decoder", metavar="NAME", help="pyav, decord or torchcodec (where installed)")


def video_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The --video-* options given (GenerationOverrides fields), for GenerationOverrides."""
    return {
        field: getattr(args, field, None) for field in FRAME_OPTIONS if getattr(args, field, None) is not None
    }


def generation_from_args(args: argparse.Namespace) -> GenerationOverrides:
    gen_args: dict[str, Any] = {}
    for text in args.gen_args:
        for item in _split_top_level(text):
            if not item.strip():
                continue
            key, equals, value = item.partition("=")
            if not equals or not key.strip():
                raise ConfigError(f"--gen-args: expected key=value, got {item.strip()!r}")
            gen_args[key.strip()] = _json_or_text(value.strip())
    return overrides_from_options(
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        system_prompt=args.system_prompt,
        args=gen_args,
        **video_from_args(args),
    )


def overrides_from_options(**fields: Any) -> GenerationOverrides:
    """GenerationOverrides of the options' values; a bad value is one error naming its option."""
    try:
        return GenerationOverrides(**fields)
    except ValidationError as error:
        problem = error.errors()[0]
        option = "--" + str(problem["loc"][0]).replace("_", "-")
        raise ConfigError(f"{option}: {problem['msg']}") from None


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def add_many_task_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="a run config (YAML: model(s), roles, tasks, data, generation, transforms, store, ...); "
        "command-line options override it",
    )
    parser.add_argument(
        "--suite",
        action="append",
        default=[],
        metavar="NAME",
        help="run every task of suite NAME (mmlens suite list) with the suite's settings, on one "
        "loaded model, after the TASKs named; repeatable",
    )
    parser.add_argument(
        "--data-root",
        metavar="DIR",
        help="local copies of every task's data: DIR/<task> or DIR/<benchmark>, each as --data takes it",
    )


# -- the run ------------------------------------------------------------------------------------


@dataclass
class RunPlan:
    """What ``mmlens run`` runs: models x tasks, each task with its data, and the shared options."""

    tasks: list[str]
    models: list[ModelSpec]
    data: dict[str, str | None]
    generation: GenerationOverrides
    roles: dict[str, ModelSpec | str] = field(default_factory=dict)
    config: RunConfigProvenance | None = None
    data_root: str | None = None
    from_root: set[str] = field(default_factory=set)  # the tasks whose data is the root's folder
    settings: dict[str, SuiteTask | None] = field(default_factory=dict)  # a suite's, by task

    def task_settings(self, task: str, args: argparse.Namespace) -> dict[str, Any]:
        """``task``'s profile, transforms and generation overrides: the suite's (if a suite named
        it) under the command line's (--profile replaces, --transform comes after, generation
        options override key by key)."""
        suite = self.settings.get(task)
        transforms = list(args.transform or [])
        if suite is None:
            return {"profile": args.profile, "transforms": transforms or None, "generation": self.generation}
        generation = suite.generation.merged(self.generation) if suite.generation else self.generation
        return {
            "profile": args.profile or suite.profile,
            "transforms": [*suite.transforms, *transforms] or None,
            "generation": generation,
        }

    def model_label(self, spec: ModelSpec) -> str:
        """The model's label, with its options where another model of the run has the same label."""
        if sum(other.label == spec.label for other in self.models) < 2:
            return spec.label
        options = ",".join(f"{key}={value}" for key, value in spec.args.items())
        return f"{spec.label} ({options})" if options else spec.label

    def data_for(self, task: Task) -> str | None:
        """The task's --data; a data root's folder only where the task reads data, and a task that
        does must have one there."""
        data = self.data.get(task.name)
        reads = type(task.scenario).reads_data
        if task.name in self.from_root and not reads:
            return None
        if data is None and self.data_root is not None and reads:
            raise ConfigError(
                f"--data-root {self.data_root}: no folder for task {task.name} "
                f"({Path(self.data_root) / task.name} or {Path(self.data_root) / task.task_dir.name}); "
                f"add one or give --data {task.name}=PATH"
            )
        return data


def _model_spec(
    entry: str | ModelEntry, extra: dict[str, Any] | str | None, cli_args: str | None
) -> ModelSpec:
    text, own = (entry, extra) if isinstance(entry, str) else (entry.model, entry.args)
    spec = parse_model_spec(text)
    file_args = parse_model_args(own) if isinstance(own, str) else dict(own or {})
    spec = spec.model_copy(update={"args": {**spec.args, **file_args, **parse_model_args(cli_args)}})
    validate_model_spec(spec)
    return spec


def _relative(base: Path | None, value: str) -> str:
    path = Path(value).expanduser()
    return str(path if base is None or path.is_absolute() else base / path)


def resolve_run(args: argparse.Namespace, model_args_text: str | None) -> RunPlan:
    """Merge the run config (if any) under the command line's options and resolve tasks, models and
    data; ``args`` gets the merged shared options (store, output_dir, seed, limit, include, profile,
    transform) so the rest of the command reads them as before. Nothing is loaded."""
    config, content, base = RunConfig(), None, None
    if args.config:
        config, content = load_run_config(args.config)
        base = Path(args.config).parent
    where = f"run config {args.config}: " if args.config else ""
    # shared options: the command line's, else the file's, else the defaults
    if args.store is None and config.store is not None:
        args.store = _relative(base, config.store)
    if args.output_dir is None:
        args.output_dir = _relative(base, config.output_dir) if config.output_dir else "mmlens-runs"
    if args.seed is None:
        args.seed = config.seed if config.seed is not None else 0
    if args.limit is None:
        args.limit = config.limit
    if args.profile is None:
        args.profile = config.profile
    args.include = [_relative(base, p) for p in config.include] + list(args.include)
    if not args.transform:
        args.transform = list(config.transforms)
    selection = getattr(args, "select", None) or config.select
    if selection:  # as the transform select, in front of the others
        args.transform = [
            selection_spec(selection, "--select" if getattr(args, "select", None) else f"{where}select"),
            *args.transform,
        ]
        args.select = None
    # tasks
    catalog = TaskCatalog(args.include)
    suites = load_suites(args.include)
    # TASKs and --suite replace the config's tasks
    named = list(args.task) + [SUITE_PREFIX + name for name in getattr(args, "suite", None) or []]
    named = named or ([config.tasks] if isinstance(config.tasks, str) else list(config.tasks))
    settings = expand_task_settings(named or [DEFAULT_TASK], catalog, suites)
    tasks = list(settings)
    if not tasks:
        raise ConfigError("no task to run: name one (mmlens list tasks)")
    # models
    if args.model is not None:
        models = [_model_spec(args.model, None, model_args_text)]
    elif config.models:
        models = [_model_spec(entry, None, model_args_text) for entry in config.models]
    elif config.model is not None:
        models = [_model_spec(config.model, config.model_args, model_args_text)]
    else:
        models = [_model_spec(DEFAULT_MODEL, None, model_args_text)]
    # roles from the file (the command line's --judge / --role replace them by name)
    roles: dict[str, ModelSpec | str] = {}
    for name, entry in config.roles.items():
        try:
            roles[name] = _model_spec(entry, None, None)
        except ConfigError as error:
            raise ConfigError(f"{where}roles.{name}: {error}") from None
    # generation
    generation = generation_from_args(args)
    if config.generation is not None:
        generation = GenerationOverrides.model_validate(config.generation.model_dump()).merged(generation)
    # data
    data, root, from_root = _task_data(args, config, base, tasks, catalog)
    provenance = None
    if args.config:
        provenance = RunConfigProvenance(path=str(args.config), content=content or {})
    return RunPlan(tasks, models, data, generation, roles, provenance, root, from_root, settings)


def _benchmark(catalog: TaskCatalog, task: str) -> str:
    return catalog.entries[task].path.parent.name


def _task_data(
    args: argparse.Namespace, config: RunConfig, base: Path | None, tasks: list[str], catalog: TaskCatalog
) -> tuple[dict[str, str | None], str | None, set[str]]:
    """Each task's --data, the data root and the tasks whose data is its folder: --data TASK=PATH,
    else --data-root's folder, else the config's data, else the config's data_root folder."""
    names = {task: {task, _benchmark(catalog, task)} for task in tasks}
    keys = set().union(*names.values())
    given: dict[str, str] = {}
    bare: list[str] = []
    for text in args.data or []:
        key, equals, value = text.partition("=")
        if equals and key.strip() in keys and value.strip():
            given[key.strip()] = value.strip()
        else:
            bare.append(text)
    if bare:
        if len(tasks) > 1 or len(bare) > 1:
            raise ConfigError(
                f"--data {bare[0]}: with several tasks, name the task (--data {tasks[0]}=PATH) or give "
                "--data-root DIR"
            )
        given[tasks[0]] = bare[0]
    unknown = sorted(set(config.data) - keys)
    if unknown:
        raise ConfigError(
            f"run config {args.config}: data.{unknown[0]}: not a task (or benchmark) of this run "
            f"({', '.join(tasks)})"
        )
    from_file = {key: _relative(base, value) for key, value in config.data.items()}
    root = args.data_root or (_relative(base, config.data_root) if config.data_root else None)
    if root is not None and not Path(root).is_dir():
        option = "--data-root" if args.data_root else f"run config {args.config}: data_root"
        raise ConfigError(f"{option} {root}: no such folder")
    data: dict[str, str | None] = {}
    from_root: set[str] = set()
    for task in tasks:
        order = [task, _benchmark(catalog, task)]
        chosen = next((given[k] for k in order if k in given), None)
        if chosen is None and root is not None and args.data_root:
            chosen = _under_root(root, order)
            from_root |= {task} if chosen is not None else set()
        if chosen is None:
            chosen = next((from_file[k] for k in order if k in from_file), None)
        if chosen is None and root is not None:
            chosen = _under_root(root, order)
            from_root |= {task} if chosen is not None else set()
        data[task] = chosen
    return data, root, from_root


def _under_root(root: str, names: list[str]) -> str | None:
    for name in names:
        candidate = Path(root) / name
        if candidate.exists():
            return str(candidate)
    return None


# -- the summary of a run of several tasks ----------------------------------------------------------


def format_combined_summary(runs: list[tuple[str, dict[str, Any]]], several_models: bool = False) -> str:
    """One line per (model, task) run: task, primary metric, value with its 95% CI, n, complete (and
    the model first where there are several)."""
    from mmlens.summary import _interval, _number, format_table, load_results

    rows = [(["model"] if several_models else []) + ["task", "metric", "value", "95% CI", "n", "complete"]]
    for model, results in runs:
        typed = load_results(results)
        entry = typed.primary
        cells = [
            typed.task,
            typed.primary_metric,
            _number(entry.value) if entry else "n/a",
            _interval(entry) if entry else "",
            _number(entry.n) if entry else "",
            "yes" if typed.complete else "NO (incomplete)",
        ]
        rows.append(([model] if several_models else []) + cells)
    return format_table(rows)
