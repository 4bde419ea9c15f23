"""Honest leaderboards, end to end through the CLI and in Chromium: a --limit smoke run and a
transform run get rows of their own, never the full run's cell; partial, incomplete and unfinished
runs are marked; a cell with several runs shows the newest complete one and the others can be chosen
(in the page, and with --run)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mmlens.cli import main
from mmlens.report.payload import format_interval, format_value
from mmlens.store.sqlite import Store
from tests.fixtures.report_builders import build_task

FULL = "constant (text=yes)"


@dataclass
class Bench:
    folder: Path
    store: Path
    results: dict[str, dict[str, Any]]  # what -> results.json of the run

    def cli(self, *args: str) -> int:
        return main(["--store", str(self.store), *args])


def _run(bench_folder: Path, store: Path, *args: str) -> dict[str, Any]:
    output = bench_folder / "runs"
    code = main(
        ["--store", str(store), "run", "quiz", "--include", str(bench_folder), "--model", "constant",
         "--output-dir", str(output), "--no-progress", "--json", *args]
    )  # fmt: skip
    assert code in (0, 1)
    # --json prints results.json; the newest run folder holds the same
    folders = sorted(output.iterdir(), key=lambda p: p.stat().st_mtime)
    return dict(json.loads((folders[-1] / "results.json").read_text()))


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Bench:
    folder = tmp_path_factory.mktemp("honest")
    build_task(folder, "quiz", count=24, two_image_every=0, no_image_every=0)
    store = folder / "store.sqlite"
    results = {
        "older": _run(folder, store, "--model-args", "text=yes", "--seed", "1", "--name", "older"),
        "full": _run(folder, store, "--model-args", "text=yes", "--name", "full", "--tag", "paper"),
        "smoke": _run(folder, store, "--model-args", "text=yes", "--limit", "2", "--tag", "smoke"),
        "blind": _run(folder, store, "--model-args", "text=yes", "--transform", "blind"),
        "no": _run(folder, store, "--model-args", "text=no"),
        "broken": _run(folder, store, "--model-args", "text=maybe"),
    }
    with Store(store) as opened:  # a run that did not finish: listed, in no table
        opened.set_status(results["broken"]["provenance"]["run_id"], "failed")
    return Bench(folder, store, results)


def run_id(bench: Bench, what: str) -> str:
    return str(bench.results[what]["provenance"]["run_id"])


def value(bench: Bench, what: str) -> float:
    results = bench.results[what]
    return float(results["metrics"][results["primary_metric"]]["value"])


def test_show_table_gives_smoke_and_transform_runs_rows_of_their_own(
    bench: Bench, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.cli("show", "--table") == 0
    lines = {line.split("  ")[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(lines) == {FULL, f"{FULL} [limit=2]", f"{FULL} [blind]", "constant (text=no)"}
    full = bench.results["full"]["metrics"]["acc"]
    assert f"{format_value(full['value'])} {format_interval(full['ci95'])}" in lines[FULL]
    assert "(partial: 2 samples)" in lines[f"{FULL} [limit=2]"] and "partial" not in lines[FULL]
    assert bench.cli("show") == 0
    listing = capsys.readouterr().out
    assert "limit=2" in listing and "blind" in listing and "full, #paper" in listing and "failed" in listing


def test_exports_hold_the_newest_complete_run_per_cell_and_run_picks_another(
    bench: Bench, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.cli("export", "--format", "csv") == 0
    rows = {(r["model"], r["variant"]): r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert set(rows) == {(FULL, ""), (FULL, "limit=2"), (FULL, "blind"), ("constant (text=no)", "")}
    full = rows[(FULL, "")]
    assert full["quiz:run_id"] == run_id(bench, "full") and full["quiz:other_runs"] == "1"
    assert float(full["quiz:value"]) == value(bench, "full")
    ci = bench.results["full"]["metrics"]["acc"]["ci95"]
    assert [float(full["quiz:ci95_low"]), float(full["quiz:ci95_high"])] == ci
    assert rows[(FULL, "limit=2")]["quiz:limit"] == "2" and rows[(FULL, "limit=2")]["quiz:n"] == "2"
    assert bench.cli("export", "--format", "csv", "--run", "older") == 0  # by its name
    rows = {(r["model"], r["variant"]): r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert rows[(FULL, "")]["quiz:run_id"] == run_id(bench, "older")
    assert bench.cli("export", "--format", "markdown", "--tag", "paper") == 0
    markdown = capsys.readouterr().out
    # one model left: its label needs no backend options to tell it apart
    assert markdown.startswith("| model | quiz (acc) |") and "| constant |" in markdown
    assert "limit" not in markdown.split("Values")[0]
    latex_out = bench.folder / "table.tex"
    assert bench.cli("export", "--format", "latex", "--exclude", "smoke", "-o", str(latex_out)) == 0
    latex = latex_out.read_text()
    assert "\\toprule" in latex and "\\bottomrule" in latex and "limit=2" not in latex
    assert f"{FULL} [blind] &" in latex and format_interval(ci) in latex


@pytest.fixture(scope="module")
def report(bench: Bench) -> Path:
    output = bench.folder / "report.html"
    assert bench.cli("report", "-o", str(output)) == 0
    return output


def test_the_page_keeps_cells_apart_marks_partial_runs_and_lets_a_cell_switch_runs(
    bench: Bench, report: Path, browser: Any
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(report.as_uri())
        page.wait_for_function("window.mmlens && window.mmlens.ready", timeout=15000)
        models = page.eval_on_selector_all(
            "#leaderboard-table tbody tr", "rows => rows.map(r => r.dataset.model)"
        )
        assert set(models[:2]) == {FULL, "constant (text=no)"}  # full runs first, then the variants
        assert set(models[2:]) == {f"{FULL} [limit=2]", f"{FULL} [blind]"}
        full = page.locator(f'#leaderboard-table tr[data-model="{FULL}"] td[data-task="quiz"]')
        assert full.get_attribute("data-run") == run_id(bench, "full")
        assert float(full.get_attribute("data-value")) == value(bench, "full")
        assert full.locator(".badge.partial").count() == 0
        smoke = page.locator(f'#leaderboard-table tr[data-model="{FULL} [limit=2]"] td[data-task="quiz"]')
        assert smoke.get_attribute("data-run") == run_id(bench, "smoke")
        assert smoke.locator(".badge.partial").is_visible()
        select = full.locator("select.cell-runs")
        options = select.locator("option").evaluate_all("o => o.map(x => x.value)")
        assert options == [run_id(bench, "full"), run_id(bench, "older")]
        select.select_option(run_id(bench, "older"))
        assert full.get_attribute("data-run") == run_id(bench, "older")
        assert float(full.get_attribute("data-value")) == value(bench, "older")
        shown = full.locator(".cell-choice:visible")
        assert shown.count() == 1 and shown.get_attribute("data-run") == run_id(bench, "older")
        unfinished = page.locator("#unfinished tr[data-status]")
        assert unfinished.count() == 1
        assert unfinished.get_attribute("data-run") == run_id(bench, "broken")
        assert unfinished.get_attribute("data-status") == "failed"
        assert not errors
    finally:
        context.close()


def test_report_filters_and_run_choice(
    bench: Bench, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "r.html"
    assert bench.cli("report", "--tag", "paper", "--tag", "smoke", "-o", str(output)) == 0
    assert "2 run(s)" in capsys.readouterr().out
    assert bench.cli("report", "--model", "const*", "--exclude", "paper", "-o", str(output)) == 0
    assert "4 run(s)" in capsys.readouterr().out  # 5 finished, one tagged paper
    assert bench.cli("report", "--model", "hf:*", "-o", str(output)) == 2
    capsys.readouterr()
    assert bench.cli("report", "quiz__", "--exclude", "smoke", "--exclude", "older", "-o", str(output)) == 0
    assert "3 run(s)" in capsys.readouterr().out  # a prefix selects every run it matches
    assert bench.cli("report", "--task", "other*", "-o", str(output)) == 2
    assert "matches the runs and filters" in capsys.readouterr().err
    assert bench.cli("report", "--run", run_id(bench, "older"), "-o", str(output)) == 0
    html = output.read_text()
    row = html.split(f'<tr data-model="{FULL}">')[1].split("</tr>")[0]
    td = row.split('<td class="num metric-cell')[1].split(">")[0]
    assert f'data-run="{run_id(bench, "older")}"' in td  # the cell shows the run asked for
