"""Benchmark code is imported only when one of its tasks is loaded; a broken one breaks only itself;
the task version hash covers the benchmark folder's code."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mmlens.core.errors import ConfigError
from mmlens.core.registry import Registry
from mmlens.core.task import TaskCatalog

PROBE = """
import json, sys
from mmlens.core.task import TaskCatalog
catalog = TaskCatalog()
names = catalog.names()
before = sorted(m for m in sys.modules if m.startswith("mmlens.tasks."))
catalog.load("mme")
after = sorted(m for m in sys.modules if m.startswith("mmlens.tasks."))
print(json.dumps({"names": len(names), "before": before, "after": after,
                  "backends": sorted(m for m in sys.modules if m.startswith("mmlens.models."))}))
"""


def test_listing_imports_no_benchmark_code_and_loading_imports_only_its_own() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    probe = json.loads(out)
    assert probe["names"] > 10
    assert probe["before"] == []
    assert "mmlens.tasks.mme" in probe["after"] and "mmlens.tasks.pope" not in probe["after"]
    assert probe["backends"] == []  # loading a task needs no model backend


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


GOOD = """
    name: good_toy
    description: A task that loads.
    id_scheme: 'the "id" field'
    scenario: {type: jsonl, path: rows.jsonl}
    metric: {type: accuracy}
"""


def test_a_broken_benchmark_folder_breaks_only_its_own_tasks(tmp_path: Path) -> None:
    write(tmp_path / "good" / "good.yaml", GOOD)
    write(tmp_path / "broken" / "__init__.py", "raise RuntimeError('half-written scorer')\n")
    write(
        tmp_path / "broken" / "broken.yaml",
        GOOD.replace("good_toy", "broken_toy").replace("accuracy", "broken_metric"),
    )
    catalog = TaskCatalog([tmp_path])
    assert {"good_toy", "broken_toy"} <= set(catalog.names())
    assert catalog.load("good_toy").name == "good_toy"
    with pytest.raises(ConfigError) as error:
        catalog.load("broken_toy")
    message = str(error.value)
    assert "benchmark code" in message and "half-written scorer" in message and "\n" not in message


def test_the_version_hash_covers_the_folder_code(tmp_path: Path) -> None:
    folder = tmp_path / "toy"
    write(folder / "toy.yaml", GOOD)
    write(folder / "__init__.py", "# no parts of its own\n")
    write(folder / "helpers.py", "OFFICIAL_CONSTANT = 1\n")
    first = TaskCatalog([tmp_path]).load("good_toy").version_hash
    assert TaskCatalog([tmp_path]).load("good_toy").version_hash == first
    (folder / "helpers.py").write_text("OFFICIAL_CONSTANT = 2  # a scorer fix\n")
    assert TaskCatalog([tmp_path]).load("good_toy").version_hash != first


def test_a_lazy_name_whose_module_fails_is_one_clear_error() -> None:
    registry: Registry[type] = Registry("metric", {"ghost": "mmlens.no_such_module"})
    assert "ghost" in registry and registry.names() == ["ghost"]
    with pytest.raises(ConfigError, match="metric 'ghost': module mmlens.no_such_module failed to import"):
        registry.get("ghost")
    registry.add_lazy("silent", "json")
    with pytest.raises(ConfigError, match="does not register it"):
        registry.get("silent")


def test_your_own_task_can_use_a_built_in_benchmark_part(tmp_path: Path) -> None:
    """``type: shapes`` in a user's YAML finds the shapes benchmark's scenario (its folder is
    imported on demand, since listing never imports it)."""
    write(
        tmp_path / "mine.yaml",
        """
        name: my_shapes
        description: The shapes generator with another seed.
        id_scheme: shapes-<index>
        scenario: {type: shapes, size: 5, seed: 3}
        metric: {type: accuracy}
        """,
    )
    task = TaskCatalog([tmp_path]).load("my_shapes")
    assert type(task.scenario).__module__ == "mmlens.tasks.shapes.scenario"
    with pytest.raises(ConfigError, match="unknown scenario 'no_such_part'"):
        write(tmp_path / "other.yaml", GOOD.replace("good_toy", "other").replace("jsonl", "no_such_part"))
        TaskCatalog([tmp_path]).load("other")
