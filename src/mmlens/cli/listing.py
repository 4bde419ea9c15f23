"""``mmlens list [tasks|suites|models|transforms]``: the tasks (read from their YAML, no benchmark
code imported), the task suites, the model backends and the transforms."""

from __future__ import annotations

import argparse
import shutil
import textwrap

from mmlens.cli.registry import command
from mmlens.core import parts
from mmlens.core.errors import MmlensError
from mmlens.core.plugins import load_plugins
from mmlens.core.suites import load_suites
from mmlens.core.task import TaskCatalog, TaskEntry
from mmlens.summary import format_table

WIDEST = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "what",
        nargs="?",
        choices=["tasks", "suites", "models", "transforms", "all"],
        default="all",
        help="tasks (with their id schemes), suites, models, transforms, or all (default: tasks, suites "
        "and models)",
    )
    parser.add_argument("--include", action="append", default=[], metavar="PATH")


def id_scheme(entry: TaskEntry) -> str:
    """The task file's id scheme, else a generic scenario's own (a benchmark's code is not imported)."""
    if entry.id_scheme:
        return entry.id_scheme
    if entry.scenario_type in parts.GENERIC_SCENARIOS:
        return parts.scenarios.get(entry.scenario_type).id_scheme
    return f"not declared in {entry.path.name} (`mmlens plan {entry.name} --limit 3` shows sample ids)"


def format_tasks(catalog: TaskCatalog, width: int) -> str:
    """Each task: its name, then indented its description's first line and its id scheme."""
    lines = []
    for name in catalog.names():
        entry = catalog.entries[name]
        lines.append(name)
        indent = " " * 4
        if entry.description:
            lines += textwrap.wrap(entry.description, width, initial_indent=indent, subsequent_indent=indent)
        lines += textwrap.wrap(
            f"ids: {id_scheme(entry)}", width, initial_indent=indent, subsequent_indent=indent + "     "
        )
    return "\n".join(lines)


def format_backends() -> str:
    from mmlens.models.base import models

    rows = [["backend", "description"]]
    for name, cls in models.items():
        doc = (cls.__doc__ or "").strip().splitlines()
        rows.append([name, doc[0] if doc else ""])
    return format_table(rows)


def format_transforms() -> str:
    """Each transform and the first line of its description; one whose module cannot be imported
    (an optional extra not installed) says why instead."""
    rows = [["transform", "description"]]
    for name in parts.transforms.names():
        try:
            doc = (parts.transforms.get(name).__doc__ or "").strip().splitlines()
            rows.append([name, doc[0] if doc else ""])
        except MmlensError as error:
            rows.append([name, f"(unavailable: {error})"])
    return format_table(rows)


def format_suites(include: list[str]) -> str:
    """Each suite (``mmlens run suite:NAME``): its tasks and description."""
    rows = [["suite", "tasks", "description"]]
    for name, suite in sorted(load_suites(include).items()):
        rows.append([f"suite:{name}", ",".join(suite.tasks), suite.description.split(". ")[0]])
    return format_table(rows)


@command("list", "list tasks, suites, model backends and transforms", add_arguments)
def list_command(args: argparse.Namespace) -> int:
    load_plugins()
    if args.what == "transforms":
        print(format_transforms())
        return 0
    if args.what == "suites":
        print(format_suites(args.include))
        return 0
    if args.what == "tasks":
        print(format_tasks(TaskCatalog(args.include), min(WIDEST, shutil.get_terminal_size().columns)))
        return 0
    if args.what == "all":
        catalog = TaskCatalog(args.include)
        rows = [["task", "description"]] + [[n, catalog.entries[n].description] for n in catalog.names()]
        print(format_table(rows))
        print()
        print(format_suites(args.include))
        print()
    print(format_backends())
    return 0
