"""The README's task index is what scripts/task_index.py generates from the task files."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def task_index_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("task_index", ROOT / "scripts" / "task_index.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_task_index_is_up_to_date() -> None:
    script = task_index_script()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert script.current_section(readme) == script.render_index(), (
        "README.md's task index is out of date: run `.venv/bin/python scripts/task_index.py --write`"
    )


def test_the_index_lists_every_built_in_task_with_its_folder() -> None:
    from mmlens.core.task import TaskCatalog

    index = task_index_script().render_index()
    for name in TaskCatalog().names():
        assert f"| `{name}` |" in index
    assert "[tasks/mme](src/mmlens/tasks/mme/README.md)" in index
    assert "`<subtask>/<image file>/<k>`, k = 0\\|1" in index  # placeholders as code, pipes escaped


def test_write_replaces_only_the_marked_section(tmp_path: Path) -> None:
    script = task_index_script()
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\nbefore\n<!-- tasks:start -->\nold table\n<!-- tasks:end -->\nafter\n")
    assert script.main(["--write", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# x\n\nbefore\n<!-- tasks:start -->\n| task |")
    assert text.endswith("|\n<!-- tasks:end -->\nafter\n")
    assert "old table" not in text
