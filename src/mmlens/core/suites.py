"""Task suites and task lists: what ``mmlens run mme,pope suite:core`` runs.

A suite is a named list of tasks (or other suites, ``suite:NAME``) declared under a ``suites:`` key:
the built-in ones in ``src/mmlens/tasks/suites.yaml``, your own in any YAML file under ``--include``
(a file with ``suites:`` and none of a task's keys)::

    suites:
      core: {description: "MME, POPE and MMStar", tasks: [mme, pope, mmstar]}
      mine: [shapes_small, suite:core]      # a plain list is a suite without a description

A task of a suite may carry the settings a paper states for it (``mmlens suite show NAME`` prints
them): its profile, transforms applied after the task file's own, generation overrides (as a run
config's ``generation:``), and a ``note`` saying what the paper sets that mmlens cannot express::

    paper:
      description: "..."
      tasks:
        - {task: textvqa_val, profile: minicpm_v}
        - {task: mmmu_val, transforms: ["strategy:cot"], generation: {max_new_tokens: 1024}}
        - {task: ocrbench, note: "published as Final Score / 10"}
      reported: [...]                     # published results: see mmlens.core.reported

A command line's ``--profile`` replaces a suite task's profile, its ``--transform``s come after the
suite's, its generation options override the suite's key by key. A suite naming a task mmlens does
not have is one error naming the suite, its file and the close task names.

A task argument is a comma list of names; each name is a task, ``suite:NAME``, or a bare suite name
that no task has. Tasks are run in order, each once (the first time it is named).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mmlens.core.errors import ConfigError
from mmlens.core.generation import GenerationOverrides
from mmlens.core.registry import Registry
from mmlens.core.reported import ReportedResult, parse_reported
from mmlens.core.task import BUILTIN_TASKS_DIR, TASK_ONLY_KEYS, YAML_LOADER, TaskCatalog, yaml_error_line

SUITE_PREFIX = "suite:"
BUILTIN_SUITES = BUILTIN_TASKS_DIR / "suites.yaml"


class SuiteTask(BaseModel):
    """A task of a suite with the settings the suite runs it with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    profile: str | None = None
    transforms: list[str | dict[str, Any]] = Field(default_factory=list)
    generation: GenerationOverrides | None = None
    note: str = ""  # what the paper sets that cannot be expressed here

    def settings_text(self) -> str:
        """The settings in one line (empty when the task runs as its file declares it)."""
        parts = [f"profile {self.profile}"] if self.profile else []
        parts += [f"transform {t}" for t in self.transforms if isinstance(t, str)]
        parts += ["transform " + str(t.get("type", t)) for t in self.transforms if isinstance(t, dict)]
        if self.generation:
            parts += [f"{key}={value}" for key, value in self.generation.given().items()]
        return ", ".join(parts)


class SuiteEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    tasks: list[str | SuiteTask] = Field(min_length=1)
    reported: list[Any] = Field(default_factory=list)


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    tasks: tuple[str, ...]  # task names or suite:NAME, as declared
    path: Path
    settings: tuple[SuiteTask, ...] = ()  # the tasks declared with settings (or a note)
    reported: tuple[ReportedResult, ...] = ()

    def entry(self, task: str) -> SuiteTask | None:
        return next((entry for entry in self.settings if entry.task == task), None)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)
    except yaml.YAMLError as error:
        raise ConfigError(f"suite file {path}: not valid YAML: {yaml_error_line(error)}") from None
    except OSError as error:
        raise ConfigError(f"suite file {path}: cannot read: {error.strerror}") from None
    if not isinstance(data, dict) or "suites" not in data or any(key in data for key in TASK_ONLY_KEYS):
        return None
    return data


def load_suites(include: Sequence[str | Path] | None = None) -> dict[str, Suite]:
    """The built-in suites and those under ``include`` folders (or files); a later one of the same
    name is an error naming both files."""
    files = [BUILTIN_SUITES] if BUILTIN_SUITES.is_file() else []
    for folder in include or []:
        root = Path(folder)
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            files += sorted(p for p in root.rglob("*.y*ml") if p.suffix in (".yaml", ".yml"))
    suites: dict[str, Suite] = {}
    for path in files:
        data = _read(path)
        if data is None:
            continue
        declared = data["suites"]
        if not isinstance(declared, dict):
            raise ConfigError(f"suite file {path}: suites: expected a mapping of suite names")
        for name, value in declared.items():
            where = f"suite file {path}: suites.{name}"
            raw = {"tasks": value} if isinstance(value, list) else value
            try:
                entry = SuiteEntry.model_validate(raw)
            except ValidationError as error:  # a task given as a mapping: its problem, not the str branch's
                errors = error.errors()
                item = next((e for e in errors if "SuiteTask" in e["loc"]), errors[0])
                loc = ".".join(str(p) for p in item["loc"] if p not in ("SuiteTask", "str"))
                raise ConfigError(f"{where}{'.' + loc if loc else ''}: {item['msg']}") from None
            if name in suites:
                raise ConfigError(f"{where}: suite {name!r} is already declared in {suites[name].path}")
            tasks = tuple(task if isinstance(task, str) else task.task for task in entry.tasks)
            settings = tuple(task for task in entry.tasks if isinstance(task, SuiteTask))
            reported = tuple(parse_reported(entry.reported, f"{where}."))
            suites[str(name)] = Suite(str(name), entry.description, tasks, path, settings, reported)
    return suites


def split_names(items: list[str]) -> list[str]:
    """Task arguments with comma lists split (``mme,pope`` -> ``mme``, ``pope``); empty parts dropped."""
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def expand_tasks(items: list[str], catalog: TaskCatalog, suites: dict[str, Suite]) -> list[str]:
    """The task names ``items`` name, in order, each once: comma lists split, suites expanded. An
    unknown name is one error listing the close task and suite names."""
    return list(expand_task_settings(items, catalog, suites))


def expand_task_settings(
    items: list[str], catalog: TaskCatalog, suites: dict[str, Suite]
) -> dict[str, SuiteTask | None]:
    """``expand_tasks``, each task with the settings of the suite that named it first (None: as
    its task file declares it)."""
    names: dict[str, SuiteTask | None] = {}

    def add(name: str, trail: tuple[str, ...], where: str, settings: SuiteTask | None = None) -> None:
        suite_name = name[len(SUITE_PREFIX) :] if name.startswith(SUITE_PREFIX) else None
        if suite_name is None and name in catalog.entries:
            if name not in names:
                names[name] = settings
            return
        suite = suites.get(suite_name if suite_name is not None else name)
        if suite is None:
            if suite_name is not None:
                registry: Registry[Suite] = Registry("suite")
                for known, value in suites.items():
                    registry.add(known, value)
                raise ConfigError(f"{where}{registry.unknown_message(suite_name)} (mmlens list suites)")
            known_tasks: Registry[Any] = Registry("task")
            for known in catalog.entries:
                known_tasks.add(known, known)
            raise ConfigError(
                f"{where}{known_tasks.unknown_message(name)} (add folders with --include PATH; "
                "suites: suite:NAME, see mmlens list suites)"
            )
        if suite.name in trail:
            raise ConfigError(f"suite file {suite.path}: suite {suite.name!r} includes itself")
        for task in suite.tasks:
            add(task, (*trail, suite.name), f"suite {suite.name} ({suite.path}): ", suite.entry(task))

    for item in split_names(items):
        add(item, (), "")
    return names
