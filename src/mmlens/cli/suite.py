"""``mmlens suite list`` and ``mmlens suite show NAME``: the task suites (``mmlens run --suite NAME``),
each task with the settings the suite runs it with, and the published results the suite carries."""

from __future__ import annotations

import argparse
import shutil
import textwrap

from mmlens.cli.registry import command
from mmlens.core.errors import ConfigError
from mmlens.core.plugins import load_plugins
from mmlens.core.registry import Registry
from mmlens.core.suites import Suite, expand_task_settings, load_suites
from mmlens.core.task import TaskCatalog
from mmlens.summary import format_table

WIDEST = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["list", "show"], help="list the suites, or show one")
    parser.add_argument("name", nargs="?", help="the suite to show")
    parser.add_argument(
        "--include", action="append", default=[], metavar="PATH", help="folders or files with more suites"
    )


def _first_sentence(text: str) -> str:
    sentence = text.strip().split(". ")[0]
    return sentence if sentence.endswith(".") or not sentence else sentence + "."


def format_suite_list(suites: dict[str, Suite]) -> str:
    rows = [["suite", "tasks", "description"]]
    for name, suite in sorted(suites.items()):
        rows.append([name, str(len(suite.tasks)), _first_sentence(suite.description)])
    return format_table(rows)


def format_suite(suite: Suite, catalog: TaskCatalog, suites: dict[str, Suite], width: int) -> str:
    """The suite's description, each task it runs (nested suites expanded) with its settings and
    note, and its published results."""
    lines = [f"suite {suite.name} ({suite.path})"]
    lines += textwrap.wrap(suite.description, width) if suite.description else []
    settings = expand_task_settings([f"suite:{suite.name}"], catalog, suites)
    rows = [["task", "settings", "note"]]
    for task, entry in settings.items():
        rows.append(
            [task, (entry.settings_text() if entry else "") or "as declared", entry.note if entry else ""]
        )
    lines += ["", format_table(rows), ""]
    if suite.reported:
        rows = [["task", "model", "metric", "reported", "source"]]
        for result in suite.reported:
            rows.append(
                [result.task, result.model, result.metric or "primary", f"{result.value:g}", result.source]
            )
        lines += ["reported results:", format_table(rows)]
    else:
        lines.append(
            "reported results: none recorded (mmlens compare-reported RUN reads a suite's reported:)"
        )
    lines += ["", f"run it: mmlens run --suite {suite.name} --model MODEL [--data-root DIR]"]
    return "\n".join(lines)


@command(
    "suite", "list the task suites, or show one (its tasks, their settings, published results)", add_arguments
)
def suite_command(args: argparse.Namespace) -> int:
    load_plugins()
    suites = load_suites(args.include)
    if args.action == "list":
        if args.name:
            raise ConfigError("mmlens suite list takes no name (mmlens suite show NAME shows one)")
        print(format_suite_list(suites))
        return 0
    if not args.name:
        raise ConfigError("mmlens suite show needs a suite name (mmlens suite list lists them)")
    suite = suites.get(args.name)
    if suite is None:
        registry: Registry[Suite] = Registry("suite")
        for known, value in suites.items():
            registry.add(known, value)
        raise ConfigError(f"{registry.unknown_message(args.name)} (mmlens suite list)")
    catalog = TaskCatalog(args.include)
    print(format_suite(suite, catalog, suites, min(WIDEST, shutil.get_terminal_size().columns)))
    return 0
