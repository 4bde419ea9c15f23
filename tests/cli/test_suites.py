"""Suites through the CLI (issue 12 item 2): mmlens suite list / show, mmlens run --suite NAME (one
loaded model, many tasks, one summary) with the settings a suite gives each task, the standard,
minicpm-v and internlm-xcomposer2-4khd suites end to end on tiny local copies, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mmlens.cli import main
from mmlens.core.suites import load_suites
from tests.cli.test_multi_task import TASKS, results_of, run_main, runnable_copy, summary_rows
from tests.fixtures.suite_data import STANDARD_TASKS, standard_suite_data
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401 - fixture

PAPER_SUITES = ("standard", "minicpm-v", "internlm-xcomposer2-4khd")


@pytest.fixture(scope="module")
def suite_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A tiny local copy of every task of the paper suites (images included)."""
    folder = tmp_path_factory.mktemp("standard-suite")
    data = standard_suite_data(folder / "data")
    data["mmbench_dev_en"] = str(runnable_copy(folder / "data" / "mmbench", "mmbench"))
    return data


def suite_config(folder: Path, suite: str, data: dict[str, str]) -> Path:
    """A run config: the constant model, the constant judge, the suite's tasks' data."""
    config = folder / f"{suite}.yaml"
    tasks = load_suites()[suite].tasks
    chosen = {task: path for task, path in data.items() if task in tasks}
    config.write_text(yaml.safe_dump({"model": "constant", "roles": {"judge": "constant"}, "data": chosen}))
    return config


@pytest.fixture(scope="module")
def core_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("core-data")
    for benchmark in TASKS:
        runnable_copy(root / benchmark, benchmark)
    return root


def test_suite_list_shows_the_paper_suites(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "suite", "list")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["standard"][1] == str(len(STANDARD_TASKS))
    assert rows["minicpm-v"][1] == "11"
    assert rows["internlm-xcomposer2-4khd"][1] == "12"
    assert {"core", "hallucination", "seed"} <= set(rows)
    assert load_suites()["standard"].tasks == tuple(STANDARD_TASKS)


def test_suite_show_gives_each_task_its_settings_and_what_cannot_be_expressed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run_main(capsys, "suite", "show", "minicpm-v")
    assert code == 0
    rows = {
        line.split()[0]: line
        for line in out.splitlines()
        if line.split()[:1] and line.split()[0] in STANDARD_TASKS
    }
    assert "profile minicpm_v" in rows["textvqa_val"] and "profile minicpm_v" in rows["docvqa_val"]
    for task in ("chartqa", "ai2d", "scienceqa_img", "realworldqa", "hallusionbench"):
        assert "profile vlmevalkit" in rows[task]
    assert "as declared" in rows["mmmu_val"] and "not a profile" in rows["mmmu_val"]
    text = " ".join(out.split())
    assert "Not expressible" in text and "num_beams 3" in text
    assert "reported results: none recorded" in out
    code, out, _ = run_main(capsys, "suite", "show", "internlm-xcomposer2-4khd")
    notes = {
        line.split()[0]: line for line in out.splitlines() if "hd_num" in line and line.split()[0] != "hd_num"
    }
    assert "hd_num 55" in notes["docvqa_val"] and "hd_num 16" in notes["mmmu_val"]
    assert "hd_num 25" in notes["textvqa_val"] and "Final Score / 10" in notes["ocrbench"]


def test_suite_show_and_list_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "suite", "show", "minicpm")
    assert code == 2 and err.count("\n") == 1 and "unknown suite 'minicpm'" in err and "minicpm-v" in err
    code, _, err = run_main(capsys, "suite", "show")
    assert code == 2 and "needs a suite name" in err


@pytest.mark.parametrize("suite", PAPER_SUITES)
def test_run_suite_end_to_end_then_cached(
    capsys: pytest.CaptureFixture[str], suite_data: dict[str, str], tmp_path: Path, suite: str
) -> None:
    store, output = tmp_path / "store.sqlite", tmp_path / "runs"
    config = suite_config(tmp_path, suite, suite_data)
    args = ["--store", str(store), "run", "--suite", suite, "--config", str(config)]
    code, out, err = run_main(capsys, *args, "--output-dir", str(output))
    assert code == 0, err
    expected = list(load_suites()[suite].tasks)
    assert list(summary_rows(out)) == expected  # one summary, the suite's order
    results = results_of(output)
    assert set(results) == set(expected)
    assert len({r["provenance"]["model"]["label"] for r in results.values()}) == 1
    profiles = {task: r["provenance"]["task"].get("profile") for task, r in results.items()}
    if suite == "minicpm-v":
        assert profiles["textvqa_val"] == profiles["docvqa_val"] == "minicpm_v"
        assert profiles["chartqa"] == profiles["hallusionbench"] == "vlmevalkit"
        assert profiles["mmmu_val"] is None
    else:
        assert set(profiles.values()) == {None}
    # rerun: every request answered from the store, the same numbers
    code, again, _ = run_main(capsys, *args, "--output-dir", str(tmp_path / "again"))
    assert code == 0
    counts = [line for line in again.splitlines() if line.startswith(("requests:", "judge requests:"))]
    assert len([line for line in counts if line.startswith("requests:")]) == len(expected)
    assert all(" 0 computed" in line for line in counts)
    assert summary_rows(again) == summary_rows(out)


def test_suite_task_settings_and_the_command_line_over_them(
    capsys: pytest.CaptureFixture[str], core_data: Path, tmp_path: Path
) -> None:
    suites = tmp_path / "suites" / "paper.yaml"
    suites.parent.mkdir()
    suites.write_text(
        yaml.safe_dump(
            {
                "suites": {
                    "paper": {
                        "description": "a paper's settings",
                        "tasks": [
                            {"task": "mme", "profile": "lmms-eval"},
                            {"task": "pope", "generation": {"max_new_tokens": 5}},
                            {"task": "mmstar", "transforms": ["shuffle_options"], "note": "as published"},
                        ],
                    }
                }
            }
        )
    )
    base = ["--store", str(tmp_path / "s.sqlite"), "run", "--suite", "paper", "--include", str(suites.parent)]
    base += ["--model", "constant", "--data-root", str(core_data)]
    code, out, err = run_main(capsys, *base, "--output-dir", str(tmp_path / "a"))
    assert code == 0, err
    results = results_of(tmp_path / "a")
    assert results["mme"]["provenance"]["task"]["profile"] == "lmms-eval"
    assert results["pope"]["provenance"]["generation_overrides"] == {"max_new_tokens": 5}
    assert results["mmstar"]["provenance"]["task"]["transforms"][0].startswith("shuffle_options")
    assert (
        "profile" not in results["pope"]["provenance"]["task"]
        or not results["pope"]["provenance"]["task"]["profile"]
    )
    # the command line: --max-new-tokens over the suite's, --transform after the suite's
    code, out, err = run_main(
        capsys, *base, "--output-dir", str(tmp_path / "b"), "--max-new-tokens", "7", "--transform", "blind"
    )
    assert code == 0, err
    results = results_of(tmp_path / "b")
    assert results["pope"]["provenance"]["generation_overrides"] == {"max_new_tokens": 7}
    transforms = results["mmstar"]["provenance"]["task"]["transforms"]
    assert transforms[0].startswith("shuffle_options") and transforms[1].startswith("blind")
    # the same tasks named one by one run as their files declare them
    code, out, err = run_main(
        capsys,
        *base[:3],
        "mme",
        "--model",
        "constant",
        "--data-root",
        str(core_data),
        "--output-dir",
        str(tmp_path / "c"),
    )
    assert code == 0, err
    assert not results_of(tmp_path / "c")["mme"]["provenance"]["task"].get("profile")
    code, out, _ = run_main(capsys, "suite", "show", "paper", "--include", str(suites.parent))
    rows = {
        line.split()[0]: line for line in out.splitlines() if line.split()[:1] and line.split()[0] in TASKS
    }
    assert "profile lmms-eval" in rows["mme"] and "max_new_tokens=5" in rows["pope"]
    assert "transform shuffle_options" in rows["mmstar"] and "as published" in rows["mmstar"]


def test_a_suite_naming_a_missing_task_is_one_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    suites = tmp_path / "suites.yaml"
    suites.write_text(
        yaml.safe_dump({"suites": {"later": {"tasks": ["shapes_small", {"task": "textvqa_test"}]}}})
    )
    for args in (["run", "--suite", "later"], ["suite", "show", "later"]):
        code, out, err = run_main(capsys, *args, "--include", str(suites))
        assert code == 2 and out == ""
        assert err.count("\n") == 1
        assert f"suite later ({suites})" in err and "unknown task 'textvqa_test'" in err
    code, _, err = run_main(capsys, "run", "--suite", "nope", "--model", "constant")
    assert code == 2 and err.count("\n") == 1 and "unknown suite 'nope'" in err


def test_a_misspelt_suite_task_key_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    suites = tmp_path / "suites.yaml"
    suites.write_text(json.dumps({"suites": {"typo": {"tasks": [{"task": "shapes_small", "profle": "x"}]}}}))
    code, _, err = run_main(capsys, "suite", "list", "--include", str(suites))
    assert code == 2 and err.count("\n") == 1
    assert f"suite file {suites}: suites.typo.tasks" in err and "profle" in err


def test_run_help_names_suite() -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])


def test_the_standard_suite_with_a_tiny_vlm(
    capsys: pytest.CaptureFixture[str],
    suite_data: dict[str, str],
    tmp_path: Path,
    tiny_model_factory: TinyModelFactory,  # noqa: F811
) -> None:
    """Every standard-suite task through the real hf backend (a tiny LLaVA), the judged ones with the
    constant judge: one loaded model, one summary, no request errors."""
    pytest.importorskip("transformers")
    tasks = load_suites()["standard"].tasks
    config = tmp_path / "standard.yaml"
    config.write_text(yaml.safe_dump({
        "model": f"hf:{tiny_model_factory('llava')}", "model_args": "dtype=float32",
        "roles": {"judge": "constant"}, "data": {t: p for t, p in suite_data.items() if t in tasks},
    }))  # fmt: skip
    output = tmp_path / "runs"
    store = str(tmp_path / "s.sqlite")
    args = ["--store", store, "run", "--suite", "standard", "--config", str(config)]
    # the tiny model's context is 512 tokens: MathVista's 1,024 new tokens would not fit
    code, out, err = run_main(capsys, *args, "--max-new-tokens", "16", "--output-dir", str(output))
    assert code == 0, out[-3000:]
    assert list(summary_rows(out)) == list(tasks)
    results = results_of(output)
    assert all(r["counts"]["errors"] == 0 for r in results.values())
    assert len({r["provenance"]["model"]["label"] for r in results.values()}) == 1
