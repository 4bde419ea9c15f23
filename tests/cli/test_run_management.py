"""Run management and trackers through the CLI: rm/prune (ids, names, prefixes, filters, --dry-run,
confirmation), tag and names, score --save as a run the report and export see, W&B offline logging
(the real wandb package) and a push to a real local HTTP server speaking the Hub's endpoints."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmlens.cli import main
from mmlens.store.sqlite import Store
from tests.fixtures.hub_server import HubServer
from tests.fixtures.report_builders import build_task


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    build_task(tmp_path, "quiz", count=12, two_image_every=0, no_image_every=0)
    return tmp_path


def cli(bench: Path, *args: str) -> int:
    return main(["--store", str(bench / "store.sqlite"), *args])


def run(bench: Path, text: str, *extra: str) -> str:
    args = ["run", "quiz", "--include", str(bench), "--model", "constant", "--model-args", f"text={text}"]
    args += ["--output-dir", str(bench / "runs"), "--no-progress", *extra]
    assert cli(bench, *args) == 0
    with Store(bench / "store.sqlite") as store:
        return store.find_runs()[0].run_id  # the newest


def run_ids(bench: Path) -> set[str]:
    with Store(bench / "store.sqlite") as store:
        return {run.run_id for run in store.find_runs()}


def test_rm_and_prune_by_id_prefix_name_filters_age_and_status(
    bench: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    yes = run(bench, "yes", "--name", "baseline")
    no = run(bench, "no", "--tag", "smoke")
    smoke = run(bench, "yes", "--limit", "2", "--tag", "smoke")
    maybe = run(bench, "maybe")
    capsys.readouterr()
    assert cli(bench, "rm", "--tag", "smoke", "--dry-run") == 0
    out = capsys.readouterr().out
    assert (
        "2 run(s) would be removed" in out
        and no in out
        and smoke in out
        and run_ids(bench) == {yes, no, smoke, maybe}
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal to ask on: refused, nothing removed
    assert cli(bench, "rm", "--tag", "smoke") == 2
    assert "pass --yes" in capsys.readouterr().err and len(run_ids(bench)) == 4
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "1")  # the count typed is wrong: nothing removed
    assert cli(bench, "rm", "--tag", "smoke") == 0 and len(run_ids(bench)) == 4
    monkeypatch.setattr("builtins.input", lambda prompt: "2")
    assert cli(bench, "rm", "--tag", "smoke") == 0
    assert run_ids(bench) == {yes, maybe} and not (bench / "runs" / no).exists()
    assert cli(bench, "rm") == 2  # nothing named and no filter: refused
    assert "name the runs" in capsys.readouterr().err

    with Store(bench / "store.sqlite") as store:  # a failed run and an old one
        store.set_status(maybe, "failed")
    with sqlite3.connect(bench / "store.sqlite") as db:
        db.execute("UPDATE runs SET updated=? WHERE run_id=?", (time.time() - 10 * 86400, yes))
    assert cli(bench, "prune", "--yes") == 0  # default: failed, interrupted, killed
    assert run_ids(bench) == {yes}
    assert cli(bench, "prune", "--older-than", "30d", "--yes") == 0 and run_ids(bench) == {yes}
    assert cli(bench, "rm", "--older-than", "1x") == 2
    assert "--older-than" in capsys.readouterr().err
    assert cli(bench, "prune", "--older-than", "7d", "--status", "done", "--yes") == 0
    assert run_ids(bench) == set()
    # the cache is kept: the same run again computes nothing
    run(bench, "yes")
    assert "12 from the cache, 0 computed" in capsys.readouterr().out
    other = run(bench, "no")
    assert cli(bench, "rm", "quiz__constant__", "--yes") == 0  # a prefix removes every run it matches
    assert other in capsys.readouterr().out and run_ids(bench) == set()


def test_tag_and_name_runs_and_select_them(bench: Path, capsys: pytest.CaptureFixture[str]) -> None:
    yes, no = run(bench, "yes"), run(bench, "no")
    assert cli(bench, "tag", "quiz__", "paper", "v1") == 0  # a prefix tags both
    assert cli(bench, "tag", yes, "--name", "best", "--remove", "v1") == 0
    out = capsys.readouterr().out
    assert f"{yes}: name best, #paper" in out
    assert cli(bench, "tag", "quiz__", "--name", "x") == 2  # a name is for one run
    assert "matches 2 runs" in capsys.readouterr().err
    assert cli(bench, "show", "best") == 0 and "task quiz" in capsys.readouterr().out  # by its name
    assert cli(bench, "show", "--tag", "v1") == 0
    listing = capsys.readouterr().out
    assert no in listing and yes not in listing and "#paper, #v1" in listing


def predictions(bench: Path) -> Path:
    rows = [json.loads(line) for line in (bench / "quiz.jsonl").read_text().splitlines()]
    path = bench / "other_harness.jsonl"
    path.write_text("".join(json.dumps({"id": r["id"], "response": "Yes"}) + "\n" for r in rows[:10]))
    return path


def test_score_save_makes_a_run_the_report_and_export_see(
    bench: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = run(bench, "no")
    file = predictions(bench)
    args = ["score", "quiz", "--include", str(bench), "--predictions", str(file)]
    assert cli(bench, *args, "--save", "--model-name", "lmms-eval:yes", "--output-dir", str(bench / "runs"),
               "--tag", "external") == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "saved as run quiz__lmms-eval_yes__" in out
    with Store(bench / "store.sqlite") as store:
        saved = next(r for r in store.find_runs() if r.run_id != mine)
        records = list(store.iter_records(saved.run_id))
    assert saved.status == "done" and saved.model == "lmms-eval:yes"
    results = json.loads((bench / "runs" / saved.run_id / "results.json").read_text())
    lines = (bench / "runs" / saved.run_id / "samples.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == records and len(records) == 12
    assert results["counts"]["missing_predictions"] == 2 and results["complete"] is False
    assert records[0]["response"] == "Yes" and records[0]["prompt"][0]["content"]  # the prompt is kept
    assert (
        cli(bench, *args, "--save", "--model-name", "lmms-eval:yes", "--output-dir", str(bench / "runs")) == 0
    )
    assert len(run_ids(bench)) == 2  # the same file again: the same run
    assert cli(bench, *args, "--tag", "x") == 2 and "add --save" in capsys.readouterr().err
    assert cli(bench, "export", "--format", "csv") == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    saved_row = next(row for row in table if row["model"] == "lmms-eval:yes")
    assert float(saved_row["quiz:value"]) == results["metrics"]["acc"]["value"]
    assert saved_row["quiz:status"] == "incomplete"
    assert cli(bench, "export", "--samples", saved.run_id, "--format", "csv") == 0
    samples = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [s["id"] for s in samples] == [r["id"] for r in records]
    assert samples[0]["question"].startswith("Question 0") and samples[0]["response"] == "Yes"
    assert cli(bench, "export", "--samples", saved.run_id, "--format", "jsonl") == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == records
    report = bench / "r.html"
    assert cli(bench, "report", "--compare", mine, saved.run_id, "-o", str(report)) == 0
    html = report.read_text()
    assert "lmms-eval:yes" in html and "1 comparison(s)" in capsys.readouterr().out


def _env(**extra: str) -> dict[str, str]:
    root = Path(__file__).resolve().parents[2]
    return {**os.environ, "PYTHONPATH": str(root / "src"), **extra}


def test_wandb_offline_run_directory_holds_results_samples_and_the_table(bench: Path) -> None:
    pytest.importorskip("wandb")
    store = bench / "store.sqlite"
    env = _env(
        WANDB_MODE="offline", WANDB_DIR=str(bench / "wb"), WANDB_SILENT="true", WANDB_DISABLE_CODE="true"
    )
    command = [sys.executable, "-m", "mmlens", "--store", str(store), "run", "quiz", "--include", str(bench),
               "--model", "constant", "--model-args", "text=yes", "--output-dir", str(bench / "runs"),
               "--no-progress", "--wandb", "mmlens-tests", "--tag", "ci"]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, cwd=bench)
    assert done.returncode == 0, done.stderr
    (run_folder,) = (bench / "wb" / "wandb").glob("offline-run-*")
    files = run_folder / "files"
    (mmlens_run,) = (bench / "runs").iterdir()
    assert json.loads((files / "results.json").read_text()) == json.loads(
        (mmlens_run / "results.json").read_text()
    )
    assert (files / "samples.jsonl").read_text() == (mmlens_run / "samples.jsonl").read_text()
    (table_file,) = (files / "media" / "table").glob("samples_*.table.json")
    table = json.loads(table_file.read_text())
    assert table["columns"][:3] == ["id", "category", "target"] and len(table["data"]) == 12
    binary = next(run_folder.glob("run-*.wandb")).read_bytes()
    assert mmlens_run.name.encode() in binary and b"acc_ci95_low" in binary  # the summary and run name
    assert f"wandb: logged to {files}" in done.stderr


def test_push_to_a_local_hub_server_commits_results_and_samples(bench: Path) -> None:
    pytest.importorskip("huggingface_hub")
    yes = run(bench, "yes", "--tag", "paper")
    run(bench, "no")
    with HubServer() as hub:
        env = _env(HF_ENDPOINT=hub.base_url, HF_TOKEN="hf_local_test", HF_HUB_DISABLE_TELEMETRY="1")
        command = [sys.executable, "-m", "mmlens", "--store", str(bench / "store.sqlite"), "push",
                   "--hub", "me/evals", "--tag", "paper", "--private"]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=bench)
        assert done.returncode == 0, done.stderr
        assert "pushed 1 run(s) to me/evals" in done.stdout
        repo = hub.state.repos["datasets/me/evals"]
        assert repo["private"] is True and sorted(repo["files"]) == [
            f"runs/{yes}/results.json",
            f"runs/{yes}/samples.jsonl",
        ]
        folder = bench / "runs" / yes
        assert json.loads(repo["files"][f"runs/{yes}/results.json"]) == json.loads(
            (folder / "results.json").read_text()
        )
        assert repo["files"][f"runs/{yes}/samples.jsonl"].decode() == (folder / "samples.jsonl").read_text()
        assert hub.state.commits[0]["summary"] == "mmlens: 1 run(s)"
        assert all(token == "Bearer hf_local_test" for token in hub.state.tokens)
    command = command[: command.index("--hub")] + ["--hub", "me/evals"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=bench)
    assert done.returncode == 2 and "Traceback" not in done.stderr  # the server is gone: one line
    assert done.stderr.startswith("error: --hub me/evals:") and len(done.stderr.strip().splitlines()) == 1
