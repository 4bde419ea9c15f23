"""Exit statuses and what a failed or partly failed run says (issue 15, item 1).

0 complete, 1 finished incomplete, 2 user error, 3 the model cannot answer (the run stopped early)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from mmlens.cli import main
from mmlens.store.sqlite import Store
from tests.fixtures import fault_server
from tests.fixtures.fault_server import FaultServer
from tests.fixtures.numbers_bench import build_numbers_task

pytestmark = pytest.mark.timeout(30)


def numbers_with_faults(folder: Path, faults: dict[int, str], count: int = 30) -> Path:
    """The numbers task whose row i asks the fault server for ``faults[i]`` (``"*"``: every row)."""
    task = build_numbers_task(folder, count=count, duplicates=0)
    data = folder / "numbers.jsonl"
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    for i, row in enumerate(rows):
        row["question"] += f" (row {i})"  # each prompt its own (the server plans faults per prompt)
        fault = faults.get(i, faults.get(-1))
        if fault:
            row["question"] += f" #fault={fault}"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return task


def run_cli(
    capsys: pytest.CaptureFixture[str], task: Path, base_url: str, tmp_path: Path, *extra: str
) -> tuple[int, str, str]:
    argv = ["run", "numbers", "--include", str(task), "--model", "openai:fault-model", "--base-url", base_url]
    argv += ["--output-dir", str(tmp_path / "runs"), "--no-progress", *extra]
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def only_run(store_path: Path) -> tuple[str, str]:
    with Store(store_path) as store:
        (run,) = store.find_runs()
        return run.run_id, run.status


def test_nothing_listening_exits_3_within_seconds_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    task = numbers_with_faults(tmp_path / "bench", {})
    with FaultServer() as server:
        base_url = server.base_url  # nothing listens there once it has stopped
    started = time.monotonic()
    code, out, err = run_cli(capsys, task, base_url, tmp_path)  # default retries and backoff
    assert time.monotonic() - started < 5
    assert code == 3, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("error: model openai:fault-model cannot answer, the run stopped")
    assert "connection to" in lines[0] and "rerun `mmlens run numbers" in lines[0] and "to resume" in lines[0]
    assert "score" not in out and "acc" not in out  # no made-up 0.0000
    store_path = Path(lines[0].split(" are saved in ")[1].split(";")[0])
    assert only_run(store_path)[1] == "failed"


def test_a_refused_key_exits_3_after_a_few_requests_and_the_same_command_resumes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rows 0-3 are answered, then every request is refused (the key was revoked... or never valid)
    task = numbers_with_faults(tmp_path / "bench", {-1: "401", 0: "ok", 1: "ok", 2: "ok", 3: "ok"}, count=100)
    with FaultServer() as server:
        code, out, err = run_cli(capsys, task, server.base_url, tmp_path, "--concurrency", "1")
        sent = server.record.total
        assert code == 3, (out, err)
        assert "HTTP 401" in err and "the API key was refused" in err
        assert "4 of 100 responses are saved" in err
        assert sent < 100 - 10  # it stopped; not every request was sent
        with Store(Path(err.split(" are saved in ")[1].split(";")[0])) as store:
            assert store.find_runs()[0].status == "failed"
        monkeypatch.setattr(fault_server, "planned_behaviour", lambda text, attempt: "ok")  # key fixed
        code, out, err = run_cli(capsys, task, server.base_url, tmp_path)
        resent = server.record.total - sent
    assert code == 0, (out, err)
    assert "100 samples: 100 scored, 0 errors" in out
    assert resent == 96 and "4 from the cache" in out  # what was answered is not asked again


def test_a_partly_failed_run_exits_1_marked_incomplete_with_errors_by_cause(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    faults = {3: "500,500", 7: "500,500", 11: "hang,hang"}
    task = numbers_with_faults(tmp_path / "bench", faults)
    with FaultServer(hang_seconds=5) as server:
        quick = "max_retries=1,retry_backoff=0,timeout=0.5"
        code, out, err = run_cli(capsys, task, server.base_url, tmp_path, "--model-args", quick)
        assert code == 1, (out, err)
        assert "INCOMPLETE run (3 request errors)" in out
        assert "errors by cause (3 samples):" in out
        assert "2  HTTP 500 from http://127.0.0.1" in out
        assert "e.g. sample n3: gave up after 2 attempts" in out
        assert "1  no reply from http://127.0.0.1" in out and "e.g. sample n11:" in out
        (run_dir,) = (tmp_path / "runs").iterdir()
        assert json.loads((run_dir / "results.json").read_text())["complete"] is False
        code, shown, _ = main(["show"]), capsys.readouterr().out, None
        assert code == 0 and "incomplete" in shown
        code, out, err = run_cli(capsys, task, server.base_url, tmp_path)  # the same command retries them
    assert code == 0, (out, err)
    assert "30 samples: 30 scored, 0 errors" in out and "INCOMPLETE" not in out
    assert json.loads((run_dir / "results.json").read_text())["complete"] is True


def test_every_request_failing_stops_the_run_with_exit_3(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    task = numbers_with_faults(tmp_path / "bench", {-1: "400"}, count=60)
    with FaultServer() as server:
        code, out, err = run_cli(capsys, task, server.base_url, tmp_path, "--concurrency", "2")
        sent = server.record.total
    assert code == 3, (out, err)
    assert "the first 20 requests all failed; the first: HTTP 400" in err
    assert len(err.strip().splitlines()) == 1
    assert sent < 30


def test_a_user_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "no-such-task"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
