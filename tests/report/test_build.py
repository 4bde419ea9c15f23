"""Building the report from real runs: run selection, labels, comparisons, the CLI and its errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from mmlens.cli import main
from mmlens.core.errors import MmlensError
from mmlens.core.results import RunResults, SampleRecord
from mmlens.report.build import build_report, comparison_pairs, render_report
from mmlens.report.compare import compare_runs
from mmlens.report.payload import script_json
from mmlens.report.runs import ReportRun, load_runs, outcome_of, resolve_run, select_runs
from mmlens.report.stats import mcnemar_exact
from mmlens.store.sqlite import RunRow, Store
from tests.report.conftest import Runs


def embedded_json(html: str, element_id: str) -> object:
    match = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.S)
    assert match is not None
    return json.loads(match.group(1))


def test_every_finished_run_is_selected_by_default_and_labels_tell_models_apart(runs: Runs) -> None:
    with Store(runs.store) as store:
        rows = select_runs(store, [])
        report_runs = load_runs(store, rows)
    assert sorted(run.run_id for run in report_runs) == sorted(r.run_id for r in runs.results.values())
    labels = {(run.task, run.label) for run in report_runs}
    assert ("survey", "constant (text=maybe)") in labels and ("quiz", "constant (text=no)") in labels
    maybe = next(run for run in report_runs if run.label == "constant (text=maybe)")
    assert set(maybe.outcomes) == {"failed"}  # "maybe" is neither yes nor no


def test_run_prefixes_resolve_and_bad_references_are_clear(runs: Runs) -> None:
    yes_run = runs.run("survey", "yes").run_id
    with Store(runs.store) as store:
        assert [row.run_id for row in select_runs(store, [yes_run[:-3]])] == [yes_run]
        survey = {r.run_id for (task, _), r in runs.results.items() if task == "survey"}
        assert {row.run_id for row in select_runs(store, ["survey"])} == survey  # a prefix: all 3
        with pytest.raises(MmlensError, match="matches 3 runs"):
            resolve_run(store, "survey")  # where one run is meant, a prefix must be unique
        with pytest.raises(MmlensError, match="no run 'nothing'"):
            select_runs(store, ["nothing"])


def test_comparison_counts_flips_from_the_records(runs: Runs) -> None:
    yes_records = {r["id"]: r for r in runs.records("survey", "yes")}
    no_records = {r["id"]: r for r in runs.records("survey", "no")}
    right_to_wrong = sorted(
        i for i in yes_records if yes_records[i]["scores"]["acc"] == 1 and no_records[i]["scores"]["acc"] == 0
    )
    wrong_to_right = sorted(
        i for i in yes_records if yes_records[i]["scores"]["acc"] == 0 and no_records[i]["scores"]["acc"] == 1
    )
    assert right_to_wrong and wrong_to_right
    with Store(runs.store) as store:
        a, b = load_runs(
            store, select_runs(store, [runs.run("survey", "yes").run_id, runs.run("survey", "no").run_id])
        )
    comparison = compare_runs(a, b)
    assert sorted(comparison.flipped["right_to_wrong"]) == right_to_wrong
    assert sorted(comparison.flipped["wrong_to_right"]) == wrong_to_right
    assert comparison.overall["n"] == len(yes_records)
    assert comparison.overall["p_value"] == mcnemar_exact(len(right_to_wrong), len(wrong_to_right))
    delta = (len(wrong_to_right) - len(right_to_wrong)) / len(yes_records)
    assert comparison.overall["delta"] == pytest.approx(delta)
    by_node = {row["node"]: row for row in comparison.categories}
    animals = [i for i, r in yes_records.items() if r["category"] == ["objects", "animals"]]
    assert by_node["objects/animals"]["n"] == len(animals)
    assert by_node["objects/animals"]["right_to_wrong"] == len([i for i in animals if i in right_to_wrong])
    assert set(by_node) >= {"objects", "colors", "counting"}


def test_comparing_runs_of_different_tasks_is_refused(runs: Runs) -> None:
    with Store(runs.store) as store, pytest.raises(MmlensError, match="different tasks"):
        render_report(store, [], [(runs.run("survey", "yes").run_id, runs.run("quiz", "no").run_id)])


def test_tasks_with_exactly_two_runs_are_compared_automatically(runs: Runs) -> None:
    with Store(runs.store) as store:
        report_runs = load_runs(store, select_runs(store, []))
    pairs = comparison_pairs(report_runs, [])
    assert [(a.task, b.task) for a, b in pairs] == [("quiz", "quiz")]
    explicit = (runs.run("survey", "no").run_id, runs.run("survey", "yes").run_id)
    pairs = comparison_pairs(report_runs, [explicit])
    assert [(a.run_id, b.run_id) for a, b in pairs][0] == explicit and len(pairs) == 2


def test_report_command_writes_one_self_contained_file(
    runs: Runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out" / "report.html"
    code = main(["--store", str(runs.store), "report", "-o", str(output), "--title", "Nightly <eval>"])
    out = capsys.readouterr().out
    assert code == 0 and f"wrote {output}" in out and "5 run(s)" in out
    html = output.read_text(encoding="utf-8")
    assert "<title>Nightly &lt;eval&gt;</title>" in html
    # Nothing is fetched: no external scripts, styles or images.
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', html)
    data = embedded_json(html, "mmlens-data")
    thumbnails = embedded_json(html, "mmlens-images")
    assert isinstance(data, dict) and isinstance(thumbnails, list)
    # Each distinct image is embedded once, though survey reuses images and three runs share them.
    digests = [
        part["image"]
        for result in runs.results.values()
        for record in result.records
        for message in record.prompt
        for part in message["content"]
        if part["type"] == "image"
    ]
    assert len(digests) > len(set(digests)) > 24
    assert len(thumbnails) == len(set(digests)) and all(thumbnails)
    assert len(data["runs"]) == 5


def test_report_command_errors_are_one_line(
    runs: Runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--store", str(runs.store), "report", "nothing", "-o", str(tmp_path / "r.html")])
    assert code == 2 and "no run 'nothing'" in capsys.readouterr().err
    code = main(
        ["--store", str(runs.store), "report", "--compare", "survey", "quiz", "-o", str(tmp_path / "r.html")]
    )
    assert code == 2 and "matches 3 runs" in capsys.readouterr().err  # --compare needs one run each
    code = main(["--store", str(tmp_path / "missing.sqlite"), "report", "-o", str(tmp_path / "r.html")])
    err = capsys.readouterr().err
    assert code == 2 and "no store at" in err and not (tmp_path / "missing.sqlite").exists()
    yes_run = runs.run("survey", "yes").run_id
    code = main(
        ["--store", str(runs.store), "report", "--compare", yes_run, yes_run, "-o", str(tmp_path / "r.html")]
    )
    assert code == 2 and "two different runs" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_script_json_cannot_close_its_script_element() -> None:
    value = {"response": "</script><script>alert(1)</script><!--"}
    text = script_json(value)
    assert "<" not in text and json.loads(text) == value


def test_unfinished_runs_are_left_out_or_refused(runs: Runs, tmp_path: Path) -> None:
    store_path = tmp_path / "copy.sqlite"
    shutil.copy(runs.store, store_path)  # every writer has closed it: no WAL file is left beside it
    interrupted = runs.run("quiz", "no").run_id
    with Store(store_path) as store:
        store.set_status(interrupted, "interrupted")
        assert interrupted not in [row.run_id for row in select_runs(store, [])]
        with pytest.raises(MmlensError, match="interrupted, not finished"):
            select_runs(store, [interrupted])
    summary = build_report(store_path, [], tmp_path / "r.html")
    assert summary.runs == 4 and summary.comparisons == 0


def _run_with_scores(run_id: str, scores: list[float]) -> ReportRun:
    """A run of a numeric metric: each record has a ``score`` and no right/wrong."""
    records = [
        SampleRecord(
            id=f"s{i}",
            category=("all", "even" if i % 2 == 0 else "odd"),
            extraction="exact",
            scores={"similarity": value},
            score=value,
        )
        for i, value in enumerate(scores)
    ]
    results = RunResults.load(
        {
            "task": "captions",
            "primary_metric": "similarity",
            "metrics": {},
            "counts": {"samples": len(scores), "scored": len(scores)},
            "complete": True,
        }
    )
    row = RunRow(run_id, "captions", "model", "done", None, {}, results.to_dict(), 0.0, 0.0)
    return ReportRun(row, results, run_id, records, [outcome_of(r) for r in records])


def test_non_binary_scores_are_compared_with_a_paired_bootstrap() -> None:
    a = _run_with_scores("a", [0.2, 0.4, 0.6, 0.8] * 5)
    b = _run_with_scores("b", [0.3, 0.5, 0.7, 0.9] * 5)
    assert not a.binary and set(a.outcomes) == {"scored"}
    comparison = compare_runs(a, b)
    assert not comparison.binary and comparison.flipped == {}
    assert comparison.overall["delta"] == pytest.approx(0.1)
    low, high = comparison.overall["delta_ci95"]
    assert low == pytest.approx(0.1) and high == pytest.approx(0.1)
    assert "p_value" not in comparison.overall
    assert [row["node"] for row in comparison.categories] == ["all", "all/even", "all/odd"]
