"""``mmlens show`` reads runs through the typed results: incomplete runs are marked, and a row or
file it cannot read is one clear message, never a traceback."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from mmlens import api
from mmlens.cli import main
from tests.fixtures.fault_server import FaultServer
from tests.fixtures.numbers_bench import build_numbers_task


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_an_incomplete_run_is_marked_in_the_list_and_the_summary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    task = build_numbers_task(tmp_path / "bench", count=6, duplicates=0)
    # One request fails (a server error), the run is incomplete. (A closed port stops the run: exit 3.)
    data = tmp_path / "bench" / "numbers.jsonl"
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    rows[0]["question"] += " #fault=500"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with FaultServer() as server:
        result = api.evaluate(
            "numbers",
            "openai:nothing",
            model_args=f"base_url={server.base_url},max_retries=0,timeout=2",
            include=[task],
            output_dir=tmp_path / "runs",
        )
    assert result.results["complete"] is False
    code, out, _ = run_main(capsys, "show")
    assert code == 0 and result.run_id in out and "(incomplete)" in out
    code, out, _ = run_main(capsys, "show", result.run_id)
    assert code == 0 and "INCOMPLETE" in out
    code, out, _ = run_main(capsys, "show", str(result.run_dir))
    assert code == 0 and "INCOMPLETE" in out


def test_a_row_from_a_newer_mmlens_is_one_message(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    task = build_numbers_task(tmp_path / "bench", count=4, duplicates=0)
    result = api.evaluate("numbers", "constant", model_args="text=Yes", include=[task], output_dir=None)
    store = Path(result.results["provenance"]["store"])
    newer = {**result.results, "schema_version": 99}
    with sqlite3.connect(store) as db:
        db.execute("UPDATE runs SET results=? WHERE run_id=?", (json.dumps(newer), result.run_id))
    code, out, _ = run_main(capsys, "show")
    assert code == 0 and "unreadable" in out and "schema_version 99" in out
    code, out, err = run_main(capsys, "show", result.run_id)
    assert code != 0 and "Traceback" not in err
    assert f"run {result.run_id}" in err and "schema_version 99" in err and len(err.strip().splitlines()) == 1


def test_a_results_file_that_is_not_an_mmlens_result_names_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"hello": "world"}))
    code, _, err = run_main(capsys, "show", str(folder))
    assert code != 0 and str(folder / "results.json") in err and "Traceback" not in err
