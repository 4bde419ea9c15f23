"""mmlens list: tasks with their descriptions and id schemes, read from the YAML alone."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mmlens.cli import main
from tests.fixtures.numbers_bench import build_numbers_task


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_tasks_shows_descriptions_and_id_schemes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, judged: Path
) -> None:
    numbers = build_numbers_task(tmp_path / "bench", count=2, duplicates=0)
    code, out, _ = run_main(capsys, "list", "tasks", "--include", str(numbers), "--include", str(judged))
    assert code == 0
    # a generic scenario's own id scheme where the file declares none
    numbers_entry = "numbers\n    test benchmark whose images encode their own number\n"
    assert numbers_entry + '    ids: the "id" field of each line\n' in out
    # the description's first line only, and the file's id scheme
    assert "judged\n    a judged test task\n    ids: q<number>\n" in out and "second line" not in out
    assert "\nmme\n" in out and "ids: <subtask>/<image file>/<k>" in out  # the built-in tasks too
    # models only with `list` or `list models`: no models table, no model entry
    assert not re.search(r"^backend +description$", out, re.M)
    assert not re.search(r"^constant +Answers", out, re.M)


def test_variants_inherit_or_override_the_id_scheme(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "family.yaml").write_text(
        """name: family
description: the base
id_scheme: "base-<n>"
scenario: {type: jsonl, path: f.jsonl}
metric: {type: accuracy}
variants:
  family_same: {description: same ids}
  family_own: {id_scheme: "own-<n>"}
  family_generated: {scenario: {type: some_generator}}
"""
    )
    (tmp_path / "plain.yaml").write_text(
        "name: plain\nscenario: {type: some_generator}\nmetric: {type: accuracy}\n"
    )
    code, out, _ = run_main(capsys, "list", "tasks", "--include", str(tmp_path))
    assert code == 0
    assert "family\n    the base\n    ids: base-<n>\n" in out
    assert "family_same\n    same ids\n    ids: base-<n>\n" in out
    assert "family_own\n    the base\n    ids: own-<n>\n" in out
    assert "family_generated\n    the base\n    ids: base-<n>\n" in out  # the file's scheme still applies
    # no scheme in the file and a scenario of benchmark code (not imported to ask): say so
    assert "plain\n    ids: not declared in plain.yaml (`mmlens plan plain --limit 3` shows sample\n" in out


def test_list_all_and_models_are_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["task", "description"]
    assert any(line.split()[:1] == ["shapes_small"] for line in lines) and "ids:" not in out
    assert any(line.split() == ["backend", "description"] for line in lines)
    code, out, _ = run_main(capsys, "list", "models")
    assert (
        code == 0 and out.splitlines()[0].split() == ["backend", "description"] and "shapes_small" not in out
    )


def test_listing_imports_no_benchmark_code() -> None:
    script = (
        "import sys, json; from mmlens.cli import main; main(['list', 'tasks']); "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('mmlens.tasks.'))))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []
    assert "\nshapes\n" in result.stdout


def test_list_transforms_names_each_with_its_description(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "list", "transforms")
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    assert code == 0 and {"circular", "shuffle_options", "blind"} <= set(rows)
    assert "CircularEval" in rows["circular"] and "seeded order" in rows["shuffle_options"]
