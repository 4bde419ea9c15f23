"""The command table: each command module registers its commands here with ``@command``.

A command is its name, a one-line help, a function that adds its options to its subparser, and a
function that runs it. ``build_parser`` imports ``COMMAND_MODULES`` (importing a module registers
its commands) and dispatch looks the command up by name; there is no if/elif chain.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from mmlens.core.errors import ConfigError

Run = Callable[[argparse.Namespace], int]
AddArguments = Callable[[argparse.ArgumentParser], None]

# In this order in `mmlens --help`. A module that is not installed (an optional part) is skipped.
COMMAND_MODULES = [
    "mmlens.cli.run",
    "mmlens.cli.plan",
    "mmlens.cli.score",
    "mmlens.cli.gain",
    "mmlens.cli.analyze",
    "mmlens.cli.dimensions",
    "mmlens.cli.listing",
    "mmlens.cli.suite",
    "mmlens.cli.compare_reported",
    "mmlens.cli.show",
    "mmlens.cli.manage",
    "mmlens.cli.export",
    "mmlens.cli.push",
    "mmlens.report.commands",
]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: AddArguments
    run: Run


COMMANDS: dict[str, Command] = {}


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def command(name: str, help: str, arguments: AddArguments = _no_arguments) -> Callable[[Run], Run]:
    """Register the decorated function as ``mmlens NAME``; ``arguments`` adds its options."""

    def decorator(function: Run) -> Run:
        existing = COMMANDS.get(name)
        if existing is not None and existing.run.__qualname__ != function.__qualname__:
            where = existing.run.__module__
            raise ConfigError(f"command {name!r} is already registered (by {where}); choose another name")
        COMMANDS[name] = Command(name, help, arguments, function)
        return function

    return decorator
