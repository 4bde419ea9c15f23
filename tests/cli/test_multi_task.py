"""Many tasks, one command, one config (issue 16, item 1), end to end through the CLI: a three-task run
from a config file with local data, comma lists, suites, per-task --data, --data-root, several models,
command-line options over the config, the combined summary, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mmlens.cli import main
from tests.fixtures.benchmark_helpers import placeholder_image
from tests.fixtures.task_data import BENCHMARK_DATA

TASKS = ("mme", "pope", "mmstar")


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def runnable_copy(folder: Path, benchmark: str) -> Path:
    """The BENCHMARK_DATA copy of ``benchmark`` with placeholder images where it has questions only."""
    path = BENCHMARK_DATA[benchmark](folder)
    assert path is not None
    number = 0
    if benchmark == "mme":  # <subtask>.txt lines: image name, question, answer
        for questions in sorted(path.glob("*.txt")):
            for line in questions.read_text().splitlines():
                image = path / questions.stem / line.split("\t")[0]
                if not image.exists():
                    placeholder_image(image, number)
                    number += 1
    if benchmark == "pope":
        for split in sorted(path.glob("coco_pope_*.json")):
            for line in split.read_text().splitlines():
                image = path / "val2014" / json.loads(line)["image"]
                if not image.exists():
                    placeholder_image(image, number)
                    number += 1
    return path


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DIR/mme, DIR/pope, DIR/mmstar: local copies in their published layouts."""
    root = tmp_path_factory.mktemp("data-root")
    for benchmark in TASKS:
        runnable_copy(root / benchmark, benchmark)
    return root


def results_of(output_dir: Path) -> dict[str, dict]:
    """task -> results.json of each run folder under ``output_dir``."""
    found = {}
    for path in sorted(output_dir.glob("*/results.json")):
        results = json.loads(path.read_text())
        found[results["task"]] = results
    return found


def summary_rows(out: str) -> dict[str, list[str]]:
    """The combined summary's rows (the table after the last run), by task."""
    lines = out.rstrip().splitlines()
    start = max(i for i, line in enumerate(lines) if line.split()[:2] == ["task", "metric"])
    return {line.split()[0]: line.split() for line in lines[start + 1 :]}


def test_three_tasks_from_a_config_file_with_local_data(
    capsys: pytest.CaptureFixture[str], data_root: Path, tmp_path: Path
) -> None:
    config = tmp_path / "eval.yaml"
    content = {
        "model": "constant",
        "tasks": list(TASKS),
        "data": {"mme": str(data_root / "mme"), "pope": str(data_root / "pope")},
        "data_root": str(data_root),  # mmstar's copy: DIR/mmstar
        "store": "runs.sqlite",  # relative to the config file's folder
        "output_dir": "runs",
        "limit": 6,
        "seed": 3,
        "generation": {"max_new_tokens": 12},
    }
    config.write_text(yaml.safe_dump(content))
    code, out, err = run_main(capsys, "run", "--config", str(config), "--no-progress")
    assert (code, err) == (0, "")
    assert (tmp_path / "runs.sqlite").is_file()
    runs = results_of(tmp_path / "runs")
    assert sorted(runs) == sorted(TASKS)
    for task, results in runs.items():
        provenance = results["provenance"]
        assert provenance["config"] == {"path": str(config), "content": content}
        assert provenance["dataset"]["data"] == str(data_root / task)
        assert provenance["dataset"]["limit"] == 6 and provenance["seed"] == 3
        assert provenance["generation_overrides"] == {"max_new_tokens": 12}
        assert provenance["generation"]["max_new_tokens"] == 12
        assert results["counts"]["samples"] == 6 and results["complete"]
    # the combined summary: task, primary metric, value, CI, n, complete
    rows = summary_rows(out)
    assert list(rows) == list(TASKS)
    assert rows["mme"][:2] == ["mme", "score"] and rows["pope"][:2] == ["pope", "f1"]
    assert rows["mmstar"][:2] == ["mmstar", "acc"] and all(row[-1] == "yes" for row in rows.values())
    assert rows["mmstar"][-2] == str(runs["mmstar"]["metrics"]["acc"]["n"])
    # the same command again: every answer from the cache, the same runs
    code, again, _ = run_main(capsys, "run", "--config", str(config), "--no-progress")
    assert code == 0 and again.count("0 computed") == 3
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(
        r["provenance"]["run_id"] for r in runs.values()
    )


def test_command_line_options_override_the_config(
    capsys: pytest.CaptureFixture[str], data_root: Path, tmp_path: Path
) -> None:
    config = tmp_path / "eval.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": "reference",
                "tasks": ["mme"],
                "data_root": str(data_root),
                "limit": 6,
                "output_dir": "x",
            }
        )
    )
    code, _, err = run_main(
        capsys, "run", "pope", "--config", str(config), "--model", "constant", "--limit", "2",
        "--output-dir", str(tmp_path / "cli"), "--store", str(tmp_path / "s.sqlite"), "--no-progress",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert not (tmp_path / "x").exists()
    (results,) = results_of(tmp_path / "cli").values()
    assert results["task"] == "pope" and results["provenance"]["model"]["label"] == "constant"
    assert results["provenance"]["dataset"] == {**results["provenance"]["dataset"], "limit": 2}
    assert results["provenance"]["dataset"]["data"] == str(data_root / "pope")


def test_comma_lists_and_suites_name_the_same_runs(
    capsys: pytest.CaptureFixture[str], data_root: Path, tmp_path: Path
) -> None:
    common = ["--model", "constant", "--data-root", str(data_root), "--limit", "3", "--no-progress",
              "--store", str(tmp_path / "s.sqlite"), "--output-dir", str(tmp_path / "runs")]  # fmt: skip
    code, first, _ = run_main(capsys, "run", "mme,pope", "mmstar", "pope", *common)
    assert code == 0 and list(summary_rows(first)) == list(TASKS)  # in order, each once
    code, second, _ = run_main(capsys, "run", "suite:core", *common)
    assert code == 0 and list(summary_rows(second)) == list(TASKS)
    assert second.count("0 computed") == 3  # the same requests: all cached
    ids = [line.split()[1] for line in first.splitlines() if line.startswith("run ")]
    assert ids == [line.split()[1] for line in second.splitlines() if line.startswith("run ")]
    code, bare, _ = run_main(capsys, "run", "core", *common)  # a suite's bare name, where no task has it
    assert code == 0 and list(summary_rows(bare)) == list(TASKS)


def test_suites_from_an_include_folder_nest_and_are_listed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "mine.yaml").write_text(
        yaml.safe_dump(
            {
                "suites": {
                    "smoke": {"description": "two offline tasks", "tasks": ["shapes_small", "suite:inner"]},
                    "inner": ["shapes"],
                }
            }
        )
    )
    code, out, _ = run_main(capsys, "list", "suites", "--include", str(suites))
    assert code == 0
    assert "suite:smoke" in out and "shapes_small,suite:inner" in out and "two offline tasks" in out
    assert "suite:core" in out and "mme,pope,mmstar" in out  # the built-in ones
    code, out, _ = run_main(capsys, "list", "--include", str(suites))
    assert code == 0 and "suite:smoke" in out
    code, out, err = run_main(
        capsys, "run", "suite:smoke", "--include", str(suites), "--limit", "2", "--no-progress",
        "--store", str(tmp_path / "s.sqlite"), "--output-dir", str(tmp_path / "runs"),
    )  # fmt: skip
    assert (code, err) == (0, "") and list(summary_rows(out)) == ["shapes_small", "shapes"]
    (suites / "loop.yaml").write_text(yaml.safe_dump({"suites": {"a": ["suite:b"], "b": ["suite:a"]}}))
    code, _, err = run_main(capsys, "run", "suite:a", "--include", str(suites))
    assert code == 2 and "includes itself" in err and len(err.splitlines()) == 1
    code, _, err = run_main(capsys, "run", "suite:smok", "--include", str(suites))
    assert code == 2 and "unknown suite 'smok'. Did you mean 'smoke'?" in err


def test_data_per_task_and_its_errors(
    capsys: pytest.CaptureFixture[str], data_root: Path, tmp_path: Path
) -> None:
    out_dir = ["--store", str(tmp_path / "s.sqlite"), "--output-dir", str(tmp_path / "runs"), "--no-progress"]
    code, out, err = run_main(
        capsys, "run", "mme", "pope", "--model", "constant", "--limit", "2",
        "--data", f"mme={data_root / 'mme'}", "--data", f"pope={data_root / 'pope'}", *out_dir,
    )  # fmt: skip
    assert (code, err) == (0, "") and list(summary_rows(out)) == ["mme", "pope"]
    runs = results_of(tmp_path / "runs")
    assert {task: r["provenance"]["dataset"]["data"] for task, r in runs.items()} == {
        "mme": str(data_root / "mme"),
        "pope": str(data_root / "pope"),
    }
    # a benchmark's name names its tasks' data; a task that reads none (shapes) needs no folder
    code, out, err = run_main(
        capsys, "run", "pope_random,shapes_small", "--model", "constant", "--limit", "2",
        "--data", f"pope={data_root / 'pope'}", *out_dir,
    )  # fmt: skip
    assert (code, err) == (0, "") and list(summary_rows(out)) == ["pope_random", "shapes_small"]
    code, out, err = run_main(
        capsys, "run", "pope_random,shapes_small", "--model", "constant", "--limit", "2",
        "--data-root", str(data_root), *out_dir,
    )  # fmt: skip
    assert (code, err) == (0, "")
    errors = {
        ("mme", "pope", "--data", str(data_root / "mme")): "--data ",
        ("mmr", "--data-root", str(data_root)): f"no folder for task mmr ({data_root / 'mmr'}",
        ("mme", "--data-root", str(tmp_path / "nowhere")): "no such folder",
    }
    for args, message in errors.items():
        code, _, err = run_main(capsys, "run", *args, "--model", "constant")
        assert code == 2 and message in err and len(err.splitlines()) == 1, (args, err)
    code, _, err = run_main(capsys, "run", "mme", "pope", "--data", str(data_root / "mme"))
    assert "with several tasks, name the task (--data mme=PATH) or give --data-root DIR" in err


def test_several_models_from_the_config(
    capsys: pytest.CaptureFixture[str], data_root: Path, tmp_path: Path
) -> None:
    config = tmp_path / "eval.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "models": ["constant", {"model": "constant", "args": {"text": "no"}}],
                "tasks": "pope",
                "data_root": str(data_root),
                "limit": 4,
                "output_dir": "runs",
                "store": "s.sqlite",
            }
        )
    )
    code, out, err = run_main(capsys, "run", "--config", str(config), "--no-progress")
    assert (code, err) == (0, "")
    lines = out.rstrip().splitlines()
    assert lines[-3].split()[:3] == ["model", "task", "metric"]
    assert [line.split()[0] for line in lines[-2:]] == ["constant", "constant"] and "pope" in lines[-1]
    assert len(list((tmp_path / "runs").iterdir())) == 2


def test_a_misspelt_config_key_is_one_line_naming_the_file_and_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "eval.yaml"
    cases = {
        "model: constant\ntaks: [mme]\n": "unknown key 'taks' (did you mean 'tasks'?)",
        "generation: {max_new_token: 3}\n": "unknown key 'generation.max_new_token' "
        "(did you mean 'max_new_tokens'?)",
        "models: [constant, {model: constant, arg: {}}]\n": "unknown key 'models.1.arg' "
        "(did you mean 'args'?)",
        "limit: 0\n": "limit: Input should be greater than or equal to 1",
        "tasks: [mme]\ndata: {mmstar: x}\n": "data.mmstar: not a task (or benchmark) of this run (mme)",
        "model: constant\nmodels: [constant]\n": "give model or models, not both",
        "tasks: [mme\n": "not valid YAML: line 2",
    }
    for text, message in cases.items():
        config.write_text(text)
        code, out, err = run_main(capsys, "run", "--config", str(config))
        assert code == 2 and out == "", text
        assert err.startswith(f"error: run config {config}: ") and message in err, (text, err)
        assert len(err.splitlines()) == 1
    code, _, err = run_main(capsys, "run", "--config", str(tmp_path / "missing.yaml"))
    assert code == 2 and f"--config {tmp_path / 'missing.yaml'}: cannot read it" in err


def test_config_roles_are_used_and_the_command_line_replaces_them(
    capsys: pytest.CaptureFixture[str], judged: Path, tmp_path: Path
) -> None:
    config = tmp_path / "eval.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": "constant",
                "tasks": ["judged"],
                "include": [str(judged)],
                "roles": {"judge": {"model": "constant", "args": {"text": "Verdict: correct"}}},
                "output_dir": "runs",
                "store": "s.sqlite",
            }
        )
    )
    code, _, err = run_main(capsys, "run", "--config", str(config), "--no-progress")
    assert (code, err) == (0, "")
    (results,) = results_of(tmp_path / "runs").values()
    assert results["provenance"]["roles"]["judge"]["fingerprint"]["args"]["text"] == "Verdict: correct"
    code, _, err = run_main(
        capsys, "run", "--config", str(config), "--no-progress", "--judge", "constant",
        "--role-args", "judge=text=Verdict: incorrect",
    )  # fmt: skip
    assert (code, err) == (0, "")
    labels = {
        r["provenance"]["roles"]["judge"]["fingerprint"]["args"]["text"] for r in _all(tmp_path / "runs")
    }
    assert labels == {"Verdict: correct", "Verdict: incorrect"}


def _all(output_dir: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(output_dir.glob("*/results.json"))]


def test_the_readme_quickstart_runs_three_tasks_from_a_config_file(tmp_path: Path) -> None:
    """The quickstart's block, as written, in a folder with the checkout's scripts and virtualenv."""
    import re
    import subprocess

    repo = Path(__file__).resolve().parents[2]
    readme = (repo / "README.md").read_text(encoding="utf-8")
    quickstart = readme[readme.index("## Quickstart") : readme.index("## Tasks")]
    (block,) = [b for b in re.findall(r"```bash\n(.*?)```", quickstart, flags=re.DOTALL) if "--config" in b]
    for name in (".venv", "scripts"):
        (tmp_path / name).symlink_to(repo / name)
    done = subprocess.run(
        [
            "bash",
            "-e",
            "-c",
            block.replace("mmlens run --config eval.yaml", "mmlens run --config eval.yaml --no-progress"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert list(summary_rows(done.stdout)) == list(TASKS)
    runs = results_of(tmp_path / "mmlens-runs")
    assert sorted(runs) == sorted(TASKS)
    assert all(r["provenance"]["config"]["path"] == "eval.yaml" for r in runs.values())
    assert (tmp_path / "demo-data" / "store.sqlite").is_file()
