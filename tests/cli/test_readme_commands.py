"""The README's outputs of `mmlens plan` and `mmlens list tasks` are what the commands print."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from mmlens.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"


def section(heading: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"### `{heading}")
    end = text.find("\n### ", start + 1)
    return text[start:end]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def command_output(capsys: pytest.CaptureFixture[str], line: str) -> str:
    argv = shlex.split(line.split("#")[0])
    assert argv[0] == "mmlens"
    assert main(argv[1:]) == 0
    return capsys.readouterr().out


def matches(shown: str, printed: str) -> bool:
    """Every shown line is printed, in order; "..." (alone or ending a line) stands for the rest."""
    pattern = ""
    for line in shown.rstrip("\n").splitlines():
        if line == "...":
            pattern += r"(?:.*\n)*?"
        elif line.endswith("..."):
            pattern += re.escape(line[:-3]) + r".*\n"
        else:
            pattern += re.escape(line) + r"\n"
    return re.match(pattern, printed) is not None


def test_the_plan_example(capsys: pytest.CaptureFixture[str]) -> None:
    text = section("mmlens plan TASK")
    first_command = blocks(text, "bash")[0].splitlines()[0]
    assert first_command.startswith("mmlens plan shapes_small --limit 2")
    assert matches(blocks(text, "text")[0], command_output(capsys, first_command))


def test_the_list_tasks_example(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    text = section("mmlens list [tasks|models|transforms]")
    command = next(
        line for line in blocks(text, "bash")[0].splitlines() if line.startswith("mmlens list tasks ")
    )
    shown = blocks(text, "text")[0]
    assert shown in command_output(capsys, command)
