"""The README's task YAML examples load and run (the judged one with its judge replaced by a
deterministic one, since its default judge is a paid API)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mmlens import api
from mmlens.core.task import TaskCatalog

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_task_files() -> dict[str, str]:
    """``# my_tasks/NAME.yaml`` blocks, by file name."""
    found = {}
    for block in re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL):
        first = block.splitlines()[0]
        if first.startswith("# my_tasks/"):
            found[first[len("# my_tasks/") :].strip()] = block
    return found


def test_the_readme_task_examples_load(tmp_path: Path) -> None:
    files = readme_task_files()
    assert {"colours.yaml", "my_open_qa.yaml"} <= set(files)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    catalog = TaskCatalog([tmp_path])
    for task in ("colours", "colours_ranked", "my_open_qa"):
        assert catalog.load(task).name == task
    assert catalog.load("my_open_qa").config.roles["judge"].model.startswith("openai:")


def test_the_judged_readme_example_runs_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "my_open_qa.yaml").write_text(readme_task_files()["my_open_qa.yaml"])
    rows = [{"id": "q1", "question": "What is 2 + 2?", "answer": "4"}]
    (tmp_path / "open_qa.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = api.evaluate(
        "my_open_qa",
        "constant",
        model_args="text=4",
        include=[tmp_path],
        roles={"judge": "constant"},
        role_args={"judge": "text=Verdict: correct"},
        output_dir=None,
    )
    assert result.results["metrics"]["acc"]["value"] == 1.0
    assert result.results["provenance"]["requests"]["rounds"] == 3  # reasoning, answer, judge
    judge = result.results["provenance"]["roles"]["judge"]
    assert judge["source"] == "given" and judge["is_task_default"] is False
