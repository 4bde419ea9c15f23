"""Tasks: YAML files naming the four parts of a recipe, found in the package and in --include folders.

A task file::

    name: shapes
    version: 1
    description: Procedurally drawn shapes ...
    id_scheme: "shapes-<index>, index from 0"
    hooks: hooks.py            # optional Python module beside the YAML, imported first
    scenario: {type: shapes, size: 500, seed: 0}
    instruction: {type: template}
    inferencer: {type: generate, max_new_tokens: 16}
    metric: {type: accuracy, extractor: choice_or_yes_no}
    variants:                  # optional: more tasks from the same file, deep-merged over it
      shapes_large: {scenario: {size: 2000}}
    profiles:                  # optional: named deviations users compare against (--profile NAME)
      lmms-eval: {metric: {yes_ratio_from: answers}}
"""

from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mmlens.core import parts
from mmlens.core.errors import ConfigError, MmlensError, UnknownNameError
from mmlens.core.generation import GenerationOverrides
from mmlens.core.plugins import import_python_file
from mmlens.core.registry import Registry
from mmlens.core.requests import canonical_json
from mmlens.core.select import selection_spec

YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
BUILTIN_TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"

P = TypeVar("P", bound=parts.Part)

PART_REGISTRIES: dict[str, Registry[Any]] = {
    "scenario": parts.scenarios,
    "instruction": parts.instructions,
    "inferencer": parts.inferencers,
    "metric": parts.metrics,
}


class RoleDefault(BaseModel):
    """A task's default model for a role (its official judge): ``roles: {judge: {model: ..., args: ...}}``."""

    model_config = ConfigDict(extra="forbid")

    model: str
    args: dict[str, Any] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        backend, _, name = self.model.partition(":")
        return f"{backend}:{name}" if name else backend


class TaskConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: int | str = 1
    description: str = ""
    id_scheme: str | None = None
    hooks: str | None = None
    tags: list[str] = Field(default_factory=list)
    scenario: dict[str, Any]
    instruction: dict[str, Any] = Field(default_factory=lambda: {"type": "template"})
    inferencer: dict[str, Any] = Field(default_factory=lambda: {"type": "generate"})
    metric: dict[str, Any]
    # Applied in order between scenario and instruction: "NAME[:ARGS]" as on the command line, or
    # a mapping {type: NAME, field: value, ...}.
    transforms: list[str | dict[str, Any]] = Field(default_factory=list)
    roles: dict[str, RoleDefault] = Field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = Field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)


@dataclass
class Task:
    name: str
    config: TaskConfig
    source: Path
    version_hash: str
    scenario: parts.Scenario
    instruction: parts.Instruction
    inferencer: parts.Inferencer
    metric: parts.Metric
    profile: str | None = None
    transforms: tuple[parts.Transform, ...] = ()
    generation: GenerationOverrides | None = None  # --max-new-tokens, --system-prompt, ... as given

    @property
    def transform_labels(self) -> list[str]:
        return [transform.label() for transform in self.transforms]

    @property
    def task_dir(self) -> Path:
        return self.source.parent

    @property
    def id_scheme(self) -> str:
        return self.config.id_scheme or type(self.scenario).id_scheme


@dataclass(frozen=True)
class TaskEntry:
    """Where a task is declared: its YAML file and, for a variant, the overrides.

    ``description`` is the first line of the task's description; ``id_scheme`` and
    ``scenario_type`` are read from the YAML (a variant's own override its base's), so that listing
    tasks imports no benchmark code. ``id_scheme`` is None where the file declares none (the
    scenario's own scheme then applies, see Task.id_scheme)."""

    name: str
    path: Path
    description: str
    overrides: dict[str, Any] | None = None
    id_scheme: str | None = None
    scenario_type: str | None = None


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def merge_task_override(raw: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``deep_merge``, except that a part whose type the override changes keeps only the options of the
    base's part that the new type has (a profile that turns a likelihood ranking into generation must
    not hand the ranking's options to the generation inferencer)."""
    merged = deep_merge(raw, override)
    for section, registry in PART_REGISTRIES.items():
        base_part, new_part = raw.get(section), override.get(section)
        if not (isinstance(base_part, dict) and isinstance(new_part, dict)):
            continue
        new_type = new_part.get("type")
        if new_type is None or new_type == base_part.get("type") or str(new_type) not in registry:
            continue
        accepted = registry.get(str(new_type)).model_fields
        merged[section] = {
            key: value
            for key, value in merged[section].items()
            if key == "type" or key in new_part or key in accepted
        }
    return merged


def yaml_error_line(error: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one line, with the line and column where it went wrong."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or " ".join(str(error).split())
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)
    except yaml.YAMLError as error:
        raise ConfigError(f"task file {path}: not valid YAML: {yaml_error_line(error)}") from None
    except OSError as error:
        raise ConfigError(f"task file {path}: cannot read: {error.strerror}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"task file {path}: expected a mapping with name, scenario and metric")
    return data


# Keys only a task file has (a model file has backend, name and args): a file with any of them is
# meant as a task, so a missing or misspelt name or scenario is an error, never a silent skip.
TASK_ONLY_KEYS = ("scenario", "metric", "instruction", "inferencer", "variants", "profiles", "id_scheme")


def _looks_like_task(path: Path, data: dict[str, Any]) -> bool:
    if not any(key in data for key in TASK_ONLY_KEYS):
        return False
    known = set(TaskConfig.model_fields)
    for key in ("name", "scenario"):
        if key not in data:
            unknown = [str(k) for k in data if str(k) not in known]
            close = difflib.get_close_matches(key, unknown, n=1, cutoff=0.6)
            hint = f" ({close[0]!r} looks like a misspelling of it)" if close else ""
            raise ConfigError(f"task file {path}: missing key {key!r}{hint}")
    return True


def _first_line(text: Any) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[0] if lines else ""


def _text_or_none(value: Any) -> str | None:
    return " ".join(str(value).split()) if value is not None and str(value).strip() else None


def _scenario_type(data: dict[str, Any]) -> str | None:
    scenario = data.get("scenario")
    return str(scenario["type"]) if isinstance(scenario, dict) and "type" in scenario else None


class TaskCatalog:
    """All tasks visible to a run: the built-in ones plus those under --include folders."""

    def __init__(self, include: list[str | Path] | None = None) -> None:
        from mmlens.core.plugins import load_plugins

        load_plugins()
        self.entries: dict[str, TaskEntry] = {}
        self._scan(BUILTIN_TASKS_DIR)
        builtin = dict(self.entries)
        for folder in include or []:
            path = Path(folder)
            if not path.exists():
                raise ConfigError(f"--include {folder}: no such file or folder")
            self._scan(path)
        for name, entry in builtin.items():
            if self.entries[name] is not entry:
                clash = self.entries[name].path
                raise ConfigError(f"task file {clash}: {name!r} is a built-in task; give yours another name")

    def _scan(self, root: Path) -> None:
        files = [root] if root.is_file() else sorted(root.rglob("*.y*ml"))
        for path in files:
            if path.suffix not in (".yaml", ".yml"):
                continue
            data = _read_yaml(path)
            if not _looks_like_task(path, data):
                continue
            name = str(data["name"])
            first_line = _first_line(data.get("description"))
            id_scheme = _text_or_none(data.get("id_scheme"))
            scenario_type = _scenario_type(data)
            self.entries[name] = TaskEntry(name, path, first_line, None, id_scheme, scenario_type)
            for variant, override in (data.get("variants") or {}).items():
                if not isinstance(override, dict):
                    raise ConfigError(f"task file {path}: variants.{variant} must be a mapping")
                self.entries[variant] = TaskEntry(
                    variant,
                    path,
                    _first_line(override.get("description", first_line)),
                    override,
                    _text_or_none(override.get("id_scheme")) or id_scheme,
                    _scenario_type(override) or scenario_type,
                )

    def names(self) -> list[str]:
        return sorted(self.entries)

    def load(
        self,
        name: str,
        profile: str | None = None,
        transforms: list[str | dict[str, Any]] | None = None,
        generation: GenerationOverrides | None = None,
    ) -> Task:
        entry = self.entries.get(name)
        if entry is None:
            registry: Registry[TaskEntry] = Registry("task")
            for known, value in self.entries.items():
                registry.add(known, value)
            raise UnknownNameError(registry.unknown_message(name) + " (add folders with --include PATH)")
        return load_task_file(entry.path, entry.overrides, name, profile, transforms, generation)


def _import_hooks(task_path: Path, hooks: str) -> str:
    hook_path = (task_path.parent / hooks).resolve()
    if not hook_path.is_file():
        raise ConfigError(f"task file {task_path}: hooks file {hooks} does not exist")
    import_python_file(hook_path, "mmlens_task_hooks", f"task file {task_path}: hooks")
    return hook_path.read_text(encoding="utf-8")


def build_part(registry: Registry[type[P]], config: dict[str, Any], where: str) -> P:
    if "type" not in config:
        raise ConfigError(f"{where}: missing key 'type' (one of: {', '.join(registry)})")
    fields = {k: v for k, v in config.items() if k != "type"}
    name = str(config["type"])
    if name not in registry:
        # A part of a built-in benchmark used by another task (your own YAML with `type: mme`):
        # the benchmark folders are imported to find it (only on this path, never for listing).
        broken = import_builtin_benchmarks()
        if name not in registry and broken:
            raise ConfigError(
                f"{where}.type: unknown {registry.kind} {name!r}; benchmark code that failed to import "
                f"may define it: {broken[0]}"
            )
    try:
        cls = registry.get(name)
    except UnknownNameError as error:
        raise ConfigError(f"{where}.type: {error}") from None
    try:
        return cls.model_validate(fields)
    except ValidationError as error:
        problems = "; ".join(
            f"{where}.{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors()
        )
        raise ConfigError(problems) from None


def build_transform(spec: str | dict[str, Any], where: str) -> parts.Transform:
    """A transform from ``"NAME[:ARGS]"`` (``--transform``) or ``{type: NAME, ...}`` (task YAML)."""
    if isinstance(spec, dict):
        return build_part(parts.transforms, spec, where)
    name, _, args = spec.strip().partition(":")
    try:
        cls = parts.transforms.get(name)
    except UnknownNameError as error:
        raise ConfigError(f"{where}: {error}") from None
    try:
        fields = cls.from_args(args)
    except ValueError as error:
        raise ConfigError(f"{where} {spec}: {error}") from None
    return build_part(parts.transforms, {"type": name, **fields}, f"{where} {spec}")


def import_builtin_benchmarks() -> list[str]:
    """Import every built-in benchmark folder; returns one line per folder that failed (they are
    skipped, never fatal here)."""
    failures = []
    for init in sorted(BUILTIN_TASKS_DIR.glob("*/__init__.py")):
        try:
            importlib.import_module(f"mmlens.tasks.{init.parent.name}")
        except Exception as error:  # noqa: BLE001 - reported to the caller, which decides
            failures.append(f"mmlens.tasks.{init.parent.name}: {type(error).__name__}: {error}")
    return failures


def import_benchmark_code(task_path: Path) -> str:
    """Import the code of the benchmark folder a task file lives in and return it as text.

    A built-in benchmark folder is a package (``mmlens.tasks.<benchmark>``) whose ``__init__``
    imports the modules that register its parts; it is imported only when one of its tasks is
    loaded, so a broken benchmark breaks only its own tasks. The returned text (every ``.py`` file
    of the folder, in path order) goes into the task version hash: a scorer fix is a new version."""
    folder = task_path.parent.resolve()
    package_init = folder / "__init__.py"
    if not package_init.is_file():
        return ""
    if folder.parent == BUILTIN_TASKS_DIR:
        module = f"mmlens.tasks.{folder.name}"
        try:
            importlib.import_module(module)
        except MmlensError:
            raise
        except Exception as error:  # noqa: BLE001 - a broken benchmark is reported as its own failure
            raise ConfigError(
                f"task file {task_path}: benchmark code {module} failed to import: "
                f"{type(error).__name__}: {error}"
            ) from None
    else:
        import_python_file(package_init, "mmlens_benchmark", f"task file {task_path}: benchmark code")
    sources = sorted(folder.rglob("*.py"))
    return "\n".join(f"# {path.relative_to(folder)}\n{path.read_text(encoding='utf-8')}" for path in sources)


# Packages whose code cannot change a score: left out of the task version hash.
NOT_SCORING = ("mmlens.models", "mmlens.store", "mmlens.runner", "mmlens.report", "mmlens.cli", "mmlens.api")


@functools.cache
def module_source(path: str) -> str:
    """An imported module's source, read once per process: the code that runs is the code imported,
    whatever happens to the file later, and every task a run loads shares the generic modules."""
    return Path(path).read_text(encoding="utf-8")


def part_sources(built: list[parts.Part]) -> str:
    """The source of every mmlens module the task's parts depend on: the modules defining them and,
    transitively, the mmlens modules those use (extractors, aggregation, option rotation, ...), so
    that a fix anywhere a score comes from is a new task version."""
    pending = [cls.__module__ for part in built for cls in type(part).__mro__]
    seen: set[str] = set()
    files: dict[str, str] = {}
    while pending:
        name = pending.pop()
        if name in seen or not name.startswith("mmlens") or name.startswith(NOT_SCORING):
            continue
        seen.add(name)
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if module is None or not path or not path.endswith(".py"):
            continue
        files[name] = module_source(path)
        for value in vars(module).values():
            if isinstance(value, ModuleType):
                pending.append(value.__name__)
            else:
                owner = getattr(value, "__module__", None)
                if isinstance(owner, str):
                    pending.append(owner)
    return "\n".join(f"# {name}\n{text}" for name, text in sorted(files.items()))


def load_task_file(
    path: Path,
    overrides: dict[str, Any] | None = None,
    name: str | None = None,
    profile: str | None = None,
    transforms: list[str | dict[str, Any]] | None = None,
    generation: GenerationOverrides | None = None,
) -> Task:
    """Load a task; ``overrides`` are a variant's, ``profile`` names an entry of ``profiles:``,
    ``transforms`` are applied after the task file's own (``--transform``), ``generation`` changes the
    declared inferencer and instruction before the transforms adapt them (``--max-new-tokens``, ...)."""
    raw = _read_yaml(path)
    # The folder's code and the hooks register their parts before variants and profiles are
    # merged: the merge asks the registries which options a part type takes.
    benchmark_source = import_benchmark_code(path)
    hooks = raw.get("hooks")
    hook_source = _import_hooks(path, str(hooks)) if isinstance(hooks, str) else ""
    if overrides:
        raw = merge_task_override(raw, {k: v for k, v in overrides.items() if k != "description"})
        raw["name"] = name or raw["name"]
        raw.pop("variants", None)
    if profile is not None:
        profiles = raw.get("profiles") or {}
        if profile not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            raise ConfigError(
                f"--profile {profile}: task {raw.get('name')} has no such profile (known: {known})"
            )
        raw = merge_task_override(raw, profiles[profile])
    raw_transforms = raw.get("transforms") or []
    if not isinstance(raw_transforms, list):
        raise ConfigError(f"task file {path}: transforms: expected a list of transforms")
    if "select" in raw:  # a subtree of the benchmark (mmlens.core.select), as the first transform
        raw_transforms = [selection_spec(raw["select"], f"task file {path}: select"), *raw_transforms]
        raw = {**{key: value for key, value in raw.items() if key != "select"}, "transforms": raw_transforms}
    if transforms:
        raw = {**raw, "transforms": [*raw_transforms, *transforms]}
    try:
        config = TaskConfig.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors()
        )
        raise ConfigError(f"task file {path}: {problems}") from None
    if config.hooks and config.hooks != hooks:  # a variant or profile naming its own hooks file
        hook_source = _import_hooks(path, config.hooks)
    where = f"task file {path}"
    scenario = build_part(parts.scenarios, config.scenario, f"{where}: scenario")
    instruction = build_part(parts.instructions, config.instruction, f"{where}: instruction")
    inferencer = build_part(parts.inferencers, config.inferencer, f"{where}: inferencer")
    metric = build_part(parts.metrics, config.metric, f"{where}: metric")
    if generation:  # validated copies: the version hash below covers them
        kinds = (str(config.inferencer.get("type")), str(config.instruction.get("type")))
        video_task = "video" in config.tags
        inferencer, instruction = generation.apply(config.name, inferencer, instruction, kinds, video_task)
    built_transforms = tuple(
        build_transform(
            spec, f"{where}: transforms[{index}]" if index < len(raw_transforms) else "--transform"
        )
        for index, spec in enumerate(config.transforms)
    )
    declared: list[parts.Part] = [scenario, instruction, inferencer, metric]
    for transform in built_transforms:
        inferencer = transform.adapt_inferencer(inferencer)
        metric = transform.adapt_metric(metric)
    built: list[parts.Part] = [scenario, instruction, inferencer, metric, *built_transforms]
    config_for_hash = config.model_dump(mode="json", exclude={"variants", "profiles", "description"})
    hashed = "\n".join(
        [
            canonical_json(config_for_hash),
            hook_source,
            benchmark_source,
            part_sources(declared + built),
            # Every part with its defaults filled in: a default that changes (a judge prompt read
            # from a file, a constant) is a new version too.
            canonical_json([part.model_dump(mode="json") for part in built]),
        ]
    )
    return Task(
        name=config.name,
        config=config,
        source=path,
        version_hash=hashlib.sha256(hashed.encode("utf-8")).hexdigest()[:16],
        scenario=scenario,
        instruction=instruction,
        inferencer=inferencer,
        metric=metric,
        profile=profile,
        transforms=built_transforms,
        generation=generation or None,
    )
