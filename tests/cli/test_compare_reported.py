"""Reported vs measured through the CLI (issue 12 item 3): published results as data (reported.yaml
beside a task file, a suite's reported:, --include files), mmlens compare-reported RUN... with the
difference and its 95% CI worked out by hand from results.json, the verdicts, the caveats, --check,
--json, --reported-model, --all-models, a suite run's reported section, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.test_multi_task import run_main
from tests.fixtures.report_builders import build_task

YES, NO = "Yes-VLM", "No-VLM"


def write_reported(folder: Path, entries: list[dict[str, Any]]) -> Path:
    path = folder / "reported.yaml"
    path.write_text(yaml.safe_dump({"reported": entries}, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """survey (30 yes/no questions) run by the constant model answering yes, then no."""
    folder = tmp_path_factory.mktemp("reported-bench")
    build_task(folder, "survey", count=30, distinct_images=10)
    store = folder / "store.sqlite"
    results = {}
    for text in ("yes", "no"):
        out = folder / f"runs-{text}"
        args = ["--store", str(store), "run", "survey", "--include", str(folder), "--model", "constant"]
        from mmlens.cli import main

        assert main([*args, "--model-args", f"text={text}", "--output-dir", str(out), "--no-progress"]) == 0
        results[text] = json.loads(next(out.glob("*/results.json")).read_text())
    return {"folder": folder, "store": store, "results": results}


def primary(results: dict[str, Any]) -> tuple[float, list[float]]:
    entry = results["metrics"][results["primary_metric"]]
    return entry["value"], entry["ci95"]


def published(bench: dict[str, Any]) -> list[dict[str, Any]]:
    """yes: reported just inside its interval (within noise); no: 99.0, far above it; another model."""
    yes_value, yes_ci = primary(bench["results"]["yes"])
    inside = round(100 * (yes_value + (yes_ci[1] - yes_value) / 2), 1)
    return [
        {
            "task": "survey",
            "model": "Yes-VLM",
            "models": ["constant (text=yes*"],
            "value": inside,
            "scale": 100,
            "source": "Fixture paper A, Table 2",
            "settings": {"prompt": "as published"},
        },
        {
            "task": "survey",
            "model": "No-VLM",
            "models": ["constant (text=no*"],
            "value": 99.0,
            "scale": 100,
            "source": "Fixture paper B, Table 5",
            "n": 100,
            "profile": "paper",
        },
        {"task": "survey", "model": "Other-VLM", "value": 0.5, "source": "Fixture paper C, Table 1"},
    ]


def test_measured_next_to_reported_with_the_difference_and_its_interval(
    capsys: pytest.CaptureFixture[str], bench: dict[str, Any]
) -> None:
    entries = published(bench)
    write_reported(bench["folder"], entries)
    code, out, err = run_main(capsys, "--store", str(bench["store"]), "compare-reported", "--json")
    assert code == 0, err
    rows = {row["reported_model"]: row for row in json.loads(out)}
    assert set(rows) == {YES, NO}  # Other-VLM matches neither run's model
    assert {row["model"] for row in rows.values()} == {"constant"}
    for text, entry, verdict in (("yes", entries[0], "within noise"), ("no", entries[1], "above reported")):
        row = rows[YES if text == "yes" else NO]
        value, ci = primary(bench["results"][text])
        assert row["reported_model"] == entry["model"] and row["reported"] == entry["value"]
        assert row["measured"] == pytest.approx(100 * value)
        assert row["ci95"] == pytest.approx([100 * ci[0], 100 * ci[1]])
        assert row["difference"] == pytest.approx(100 * value - entry["value"])
        assert row["difference_ci95"] == pytest.approx(
            [100 * ci[0] - entry["value"], 100 * ci[1] - entry["value"]]
        )
        assert row["source"] == entry["source"] and row["from"].endswith("reported.yaml")
        expected = verdict if text == "yes" else ("below reported" if 100 * value < 99 else verdict)
        assert row["verdict"] == expected
    assert rows[YES]["notes"] == []
    assert rows[NO]["notes"] == ["30 samples, the paper 100", "profile default, the paper's paper"]
    # the table: one row per run, the sources numbered under it
    code, out, _ = run_main(capsys, "--store", str(bench["store"]), "compare-reported")
    assert code == 0
    line = next(line for line in out.splitlines() if "Yes-VLM" in line)
    value, ci = primary(bench["results"]["yes"])
    assert f"{100 * value:.2f}" in line and f"[{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]" in line
    assert "within noise" in line
    assert "] Fixture paper A, Table 2; measured x 100; settings: prompt: as published" in out
    assert "Fixture paper B, Table 5; profile paper" in out
    # --check: a gap beyond noise exits 1
    code, _, _ = run_main(capsys, "--store", str(bench["store"]), "compare-reported", "--check")
    assert code == 1
    yes_run = bench["results"]["yes"]["provenance"]["run_id"]
    code, out, _ = run_main(capsys, "--store", str(bench["store"]), "compare-reported", yes_run, "--check")
    assert code == 0 and "No-VLM" not in out


def test_choosing_the_published_model(capsys: pytest.CaptureFixture[str], bench: dict[str, Any]) -> None:
    write_reported(bench["folder"], published(bench))
    store = ["--store", str(bench["store"]), "compare-reported", "--json"]
    code, out, _ = run_main(capsys, *store, "--reported-model", "other-vlm")
    rows = json.loads(out)
    assert code == 0 and len({row["run_id"] for row in rows}) == 2
    assert {row["reported_model"] for row in rows} == {"Other-VLM"}
    assert all(row["scale"] == 1 and row["reported"] == 0.5 for row in rows)
    code, out, _ = run_main(capsys, *store, "--all-models", "--task", "survey")
    assert len(json.loads(out)) == 6
    # a run folder works as a reference too
    folder = next((bench["folder"] / "runs-yes").iterdir())
    code, out, _ = run_main(capsys, "compare-reported", str(folder), "--json")
    assert code == 0 and [row["reported_model"] for row in json.loads(out)] == ["Yes-VLM"]


def test_no_published_result_says_so(capsys: pytest.CaptureFixture[str], bench: dict[str, Any]) -> None:
    write_reported(bench["folder"], [])
    code, out, _ = run_main(capsys, "--store", str(bench["store"]), "compare-reported")
    assert code == 0
    assert "no reported result for the model of 2 run(s)" in out and "reported.yaml beside a task file" in out


def test_a_bad_reported_entry_is_one_line(capsys: pytest.CaptureFixture[str], bench: dict[str, Any]) -> None:
    path = write_reported(bench["folder"], [{"task": "survey", "model": "X", "value": 1.0}])
    code, _, err = run_main(capsys, "--store", str(bench["store"]), "compare-reported")
    assert code == 2 and err.count("\n") == 1
    assert f"reported file {path}: reported[0].source: Field required" in err
    path = write_reported(
        bench["folder"], [{"task": "survey", "model": "X", "value": 1.0, "source": "s", "scal": 2}]
    )
    code, _, err = run_main(capsys, "--store", str(bench["store"]), "compare-reported")
    assert code == 2 and "reported[0].scal" in err
    write_reported(bench["folder"], [])


def test_a_suite_carries_published_results_and_its_run_shows_them(
    capsys: pytest.CaptureFixture[str], bench: dict[str, Any], tmp_path: Path
) -> None:
    suites = tmp_path / "paper.yaml"
    yes_value, _ = primary(bench["results"]["yes"])
    reported = [
        {
            "task": "survey",
            "model": "Yes-VLM",
            "models": ["constant (text=yes*"],
            "value": 100 * yes_value,
            "scale": 100,
            "source": "Suite paper, Table 3",
        }
    ]
    suites.write_text(
        yaml.safe_dump({"suites": {"paper": {"description": "d", "tasks": ["survey"], "reported": reported}}})
    )
    include = ["--include", str(bench["folder"]), "--include", str(suites)]
    code, out, _ = run_main(capsys, "suite", "show", "paper", *include)
    assert code == 0 and "Suite paper, Table 3" in out and "Yes-VLM" in out
    code, out, err = run_main(
        capsys,
        "--store",
        str(bench["store"]),
        "run",
        "--suite",
        "paper",
        *include,
        "--model",
        "constant",
        "--model-args",
        "text=yes",
        "--output-dir",
        str(tmp_path / "runs"),
        "--limit",
        "10",
    )
    assert code == 0, err
    section = out.split("reported vs measured (mmlens compare-reported):")[1]
    line = next(line for line in section.splitlines() if "Yes-VLM" in line)
    assert "partial run (--limit 10)" in line
    code, out, _ = run_main(
        capsys,
        "--store",
        str(bench["store"]),
        "compare-reported",
        "--include",
        str(suites),
        "--json",
        "--task",
        "survey",
        "--model",
        "constant",
    )
    rows = json.loads(out)
    full = next(row for row in rows if not row["notes"])
    assert full["verdict"] == "within noise" and full["difference"] == pytest.approx(0)
    assert full["from"] == f"suite file {suites}: suites.paper"
