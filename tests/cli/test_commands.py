"""The command table: one module per command, each registered by name; entry points stay the same."""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from mmlens.cli import COMMANDS, command, main
from mmlens.cli.parser import build_parser
from mmlens.core.errors import ConfigError

EXPECTED = [
    "run", "plan", "score", "gain", "analyze", "dimensions", "list", "suite", "compare-reported", "show",
    "rm", "prune", "tag", "export", "push", "report", "view",
]  # fmt: skip


def test_every_command_is_registered_by_its_module_in_help_order(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert list(COMMANDS) and set(COMMANDS) == set(EXPECTED)
    modules = {name: COMMANDS[name].run.__module__ for name in EXPECTED}
    assert modules["list"] == "mmlens.cli.listing" and modules["report"] == "mmlens.report.commands"
    assert all(modules[name] == f"mmlens.cli.{name}" for name in ("run", "plan", "score", "gain", "show"))
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(subparsers.choices) == EXPECTED
    assert main([]) == 0 and "{" + ",".join(EXPECTED) + "}" in capsys.readouterr().out


def test_a_name_cannot_be_registered_twice_by_different_functions() -> None:
    def other_run(args: argparse.Namespace) -> int:
        return 0

    with pytest.raises(ConfigError, match="command 'run' is already registered .by mmlens.cli.run."):
        command("run", "another run")(other_run)
    assert COMMANDS["run"].run.__module__ == "mmlens.cli.run"


@pytest.mark.parametrize("module", ["mmlens", "mmlens.cli"])
def test_python_dash_m(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, "plan", "--help"], capture_output=True, text=True, timeout=60
    )
    assert (
        result.returncode == 0 and "usage: mmlens plan" in result.stdout and "--output FILE" in result.stdout
    )


def test_the_console_script_is_mmlens_cli_main() -> None:
    (script,) = [entry for entry in entry_points(group="console_scripts") if entry.name == "mmlens"]
    assert script.value == "mmlens.cli:main" and script.load() is main
