"""The report, the terminal summary and the gain analysis read results through the typed models:
schema-1 rows and files (as mmlens 0.1 wrote them) still load and render, newer or foreign ones end
in one message naming the run or file, incomplete runs are marked, roles, exchanges and option
scores are shown, and comparisons read each record's ``correct``."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mmlens.analyses.multimodal_gain import MultimodalGain, _primary_value
from mmlens.cli import main
from mmlens.cli.show import run_status
from mmlens.core.errors import DataError, MmlensError
from mmlens.core.results import RunResults, SampleRecord
from mmlens.report.build import render_report
from mmlens.report.compare import compare_runs
from mmlens.report.payload import provenance_view, sample_data
from mmlens.report.runs import ReportRun, legacy_correct_key, load_runs, outcome_of, select_runs
from mmlens.report.stats import mcnemar_exact
from mmlens.runner.evaluate import RunResult
from mmlens.store.sqlite import RunRow, Store
from mmlens.summary import format_summary, headline, load_results_file
from tests.report.conftest import Runs, TypedRuns

# -- schema 1, exactly as mmlens 0.1 wrote it ---------------------------------------------------

CATEGORIES = [["objects", "animals"], ["objects", "vehicles"], ["colors", "warm"], ["colors", "cool"]]
TARGETS = ["yes", "no", "yes", "yes"]


def v1_provenance(run_id: str, text: str, metric: dict[str, Any]) -> dict[str, Any]:
    return {
        "mmlens_version": "0.1.0",
        "git_commit": "6846690857b4468308bd00fe625e64d11b725b5a",
        "python": "3.11.7",
        "platform": "Linux-6.1-x86_64-with-glibc2.36",
        "run_id": run_id,
        "task": {
            "name": "quiz",
            "version": 1,
            "version_hash": "66755ee3949a1e1b",
            "profile": None,
            "source": "/data/quiz.yaml",
            "inferencer": {"type": "generate", "max_new_tokens": 4},
            "instruction": {"type": "template"},
            "metric": metric,
        },
        "model": {
            "label": "constant",
            "fingerprint": {"backend": "constant", "name": "", "args": {"text": text, "logprob": 0.0}},
        },
        "generation": {"max_new_tokens": 4, "temperature": 0.0, "top_p": 1.0, "stop": [], "seed": None},
        "dataset": {"fingerprint": "43b4d235" * 8, "data": None, "limit": None},
        "seed": 0,
        "store": "/home/user/.mmlens/store.sqlite",
        "started": 1796195125.16,
        "resume": "rerun the same command",
        "process": {"host": "vm", "pid": 21417},
        "finished": 1796195125.28,
        "requests": {"planned": 4, "unique": 4, "cached": 0, "computed": 4, "errors": 0},
    }


def v1_records(text: str, extra_scores: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """samples.jsonl lines as mmlens 0.1 wrote them: no schema_version, correct or score."""
    records = []
    for i, (category, target) in enumerate(zip(CATEGORIES, TARGETS, strict=True)):
        records.append(
            {
                "id": f"quiz-{i}",
                "category": category,
                "group": None,
                "target": target,
                "prompt": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image", "image": f"sha256:{i:064x}"},
                            {"type": "text", "text": f"Question {i}: is it? Please answer yes or no."},
                        ],
                    }
                ],
                "response": text,
                "answer": text if text in ("yes", "no") else None,
                "extraction": "exact" if text in ("yes", "no") else "failed",
                "scores": {"acc": float(text == target), **(extra_scores or {})},
            }
        )
    return records


def v1_results(run_id: str, text: str, metric: dict[str, Any] | None = None) -> dict[str, Any]:
    """results.json as mmlens 0.1 wrote it (NaN-free; no schema_version, roles or role_errors)."""
    hits = [float(text == target) for target in TARGETS]
    value = sum(hits) / len(hits)
    return {
        "task": "quiz",
        "primary_metric": "acc",
        "metrics": {"acc": {"value": value, "ci95": [max(0.0, value - 0.4), min(1.0, value + 0.4)], "n": 4}},
        "breakdown": {
            "colors": {"acc": {"value": (hits[2] + hits[3]) / 2, "ci95": None, "n": 2}},
            "objects": {"acc": {"value": (hits[0] + hits[1]) / 2, "ci95": None, "n": 2}},
        },
        "counts": {
            "samples": 4,
            "scored": 4,
            "bad_samples": 0,
            "errors": 0,
            "failed_extraction": 0,
            "extraction": {"exact": 4},
        },
        "complete": True,
        "bad_samples": [],
        "provenance": v1_provenance(run_id, text, metric or {"type": "accuracy", "extractor": "yes_no"}),
    }


def put_run(store: Store, run_id: str, results: Any, records: list[dict[str, Any]]) -> None:
    provenance = results.get("provenance", {}) if isinstance(results, dict) else {}
    store.begin_run(run_id, "quiz", "constant", "", provenance)
    store.finish_run(run_id, results, records)


def test_schema_1_store_rows_load_and_render(tmp_path: Path) -> None:
    with Store(tmp_path / "old.sqlite") as store:
        put_run(
            store,
            "quiz__constant__0000000yes",
            v1_results("quiz__constant__0000000yes", "yes"),
            v1_records("yes"),
        )
        put_run(
            store,
            "quiz__constant__00000000no",
            v1_results("quiz__constant__00000000no", "no"),
            v1_records("no"),
        )
        row = store.get_run("quiz__constant__0000000yes")
        assert row is not None
        typed = row.typed_results()
        assert isinstance(typed, RunResults) and typed.schema_version == 2 and typed.counts.role_errors == 0
        assert legacy_correct_key(typed) == "acc"  # from the metric the run names (accuracy)
        report_runs = load_runs(store, select_runs(store, []))
        html, counts = render_report(store)
    yes_run, no_run = sorted(report_runs, key=lambda run: run.run_id, reverse=True)
    assert [r.correct for r in yes_run.records] == [True, False, True, True]
    assert yes_run.outcomes == ["right", "wrong", "right", "right"]
    assert no_run.outcomes == ["wrong", "right", "wrong", "wrong"]
    comparison = compare_runs(yes_run, no_run)
    assert comparison.binary and comparison.left_out == []
    assert comparison.flipped == {
        "right_to_wrong": ["quiz-0", "quiz-2", "quiz-3"],
        "wrong_to_right": ["quiz-1"],
    }
    assert comparison.overall["p_value"] == mcnemar_exact(3, 1)
    assert counts == {"runs": 2, "samples": 8, "images": 0, "comparisons": 1}
    assert 'data-value="0.75"' in html and 'data-value="0.25"' in html
    assert 'data-field="right_to_wrong">3<' in html and "incomplete" not in _leaderboard(html)


def test_schema_1_records_of_an_unknown_metric_follow_the_schema_1_rule(tmp_path: Path) -> None:
    """Without the metric's correct_key, one 0/1 score is right/wrong; two leave ``correct`` unset
    (then the sample is 'scored', and a comparison says why it has no McNemar test)."""
    unknown = {"type": "some_plugin_metric"}
    with Store(tmp_path / "old.sqlite") as store:
        one = v1_results("quiz__plugin__1", "yes", unknown)
        put_run(store, "quiz__plugin__1", one, v1_records("yes"))
        two = v1_results("quiz__plugin__2", "yes", unknown)
        put_run(store, "quiz__plugin__2", two, v1_records("yes", {"strict": 0.0}))
        put_run(
            store,
            "quiz__plugin__3",
            v1_results("quiz__plugin__3", "no", unknown),
            v1_records("no", {"strict": 1.0}),
        )
        runs = {run.run_id: run for run in load_runs(store, select_runs(store, []))}
    assert legacy_correct_key(runs["quiz__plugin__1"].results) is None
    assert runs["quiz__plugin__1"].outcomes == ["right", "wrong", "right", "right"]
    assert set(runs["quiz__plugin__2"].outcomes) == {"scored"}
    assert all(record.correct is None and record.score is None for record in runs["quiz__plugin__2"].records)
    with pytest.raises(MmlensError, match="no sample has a right/wrong or a numeric score in both runs"):
        compare_runs(runs["quiz__plugin__2"], runs["quiz__plugin__3"])


def test_schema_1_results_json_loads_and_summarises(tmp_path: Path) -> None:
    folder = tmp_path / "quiz__constant__0000000yes"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(v1_results(folder.name, "yes"), indent=2))
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in v1_records("yes")))
    results = load_results_file(folder)
    assert results.primary is not None and results.primary.value == 0.75
    text = format_summary(results)
    assert text.splitlines()[:2] == [
        "task quiz · model constant",
        "4 samples: 4 scored, 0 errors, 0 failed extraction, 0 bad samples",
    ]
    assert re.search(r"^acc\s+0\.7500\s+\[0\.3500, 1\.0000\]\s+4$", text, re.M)
    assert "incomplete" not in text.lower() and "judge" not in text
    lines = (folder / "samples.jsonl").read_text().splitlines()
    records = [SampleRecord.from_dict(json.loads(line), legacy_correct_key(results)) for line in lines]
    assert [record.correct for record in records] == [True, False, True, True]


def test_typed_readers_give_the_numbers_schema_1_rows_of_the_same_runs_give(
    runs: Runs, tmp_path: Path
) -> None:
    """The test runs (schema 2) and the same rows rewritten as mmlens 0.1 stored them render the same
    leaderboard, sample columns and comparisons."""
    copy = tmp_path / "v1.sqlite"
    shutil.copy(runs.store, copy)
    with Store(copy) as store:
        for row in store.find_runs():
            assert row.results is not None
            results = {k: v for k, v in row.results.items() if k != "schema_version"}
            results["counts"] = {k: v for k, v in results["counts"].items() if k != "role_errors"}
            results["provenance"] = {k: v for k, v in results["provenance"].items() if k != "roles"}
            records = [
                {k: v for k, v in record.items() if k not in ("schema_version", "correct", "score")}
                for record in store.iter_records(row.run_id)
            ]
            store.finish_run(row.run_id, results, records)
    pair = [(runs.run("survey", "yes").run_id, runs.run("survey", "no").run_id)]
    with Store(runs.store) as store:
        new_html, new_counts = render_report(store, [], pair)
    with Store(copy) as store:
        old_html, old_counts = render_report(store, [], pair)
    assert new_counts == old_counts
    new_data, old_data = _data(new_html), _data(old_html)
    for key in ("runs", "tasks", "comparisons", "categories", "methods"):
        assert new_data[key] == old_data[key], key
    assert _leaderboard(new_html) == _leaderboard(old_html)
    # and both equal what the runs computed
    for result in runs.results.values():
        run = next(r for r in new_data["runs"] if r["id"] == result.run_id)
        assert run["columns"]["value"] == [float(record.scores["acc"]) for record in result.records]


# -- newer or foreign results: one message naming the run or the file -------------------------------


@pytest.mark.parametrize(
    ("results", "message"),
    [
        (
            {"schema_version": 3, "task": "quiz"},
            "run {run}: schema_version 3 is newer than this mmlens reads",
        ),
        ({"hello": "world"}, "run {run}: not an mmlens result"),
        ([1, 2, 3], "run {run}: not an mmlens result"),
    ],
)
def test_a_newer_or_foreign_store_row_is_one_message_naming_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], results: Any, message: str
) -> None:
    store_path = tmp_path / "store.sqlite"
    run_id = "quiz__future__0123456789"
    with Store(store_path) as store:
        put_run(
            store,
            "quiz__constant__0000000yes",
            v1_results("quiz__constant__0000000yes", "yes"),
            v1_records("yes"),
        )
        put_run(store, run_id, results, v1_records("no"))
        row = store.get_run(run_id)
        assert row is not None
        with pytest.raises(DataError, match=re.escape(message.format(run=run_id))):
            row.typed_results()
    code = main(["--store", str(store_path), "report", "-o", str(tmp_path / "r.html")])
    err = capsys.readouterr().err
    assert code == 2 and message.format(run=run_id) in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists()
    # The other run alone still makes a report.
    assert main(["--store", str(store_path), "report", "quiz__constant", "-o", str(tmp_path / "r.html")]) == 0


def test_a_newer_sample_record_in_the_store_names_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_path = tmp_path / "store.sqlite"
    records = v1_records("yes")
    records[1] = {**records[1], "schema_version": 7}
    with Store(store_path) as store:
        put_run(store, "quiz__constant__0000000yes", v1_results("quiz__constant__0000000yes", "yes"), records)
    assert main(["--store", str(store_path), "report", "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "run quiz__constant__0000000yes: sample record 'quiz-1' has schema_version 7" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            json.dumps({"schema_version": 3, "task": "quiz"}),
            "{path}: schema_version 3 is newer than this mmlens reads",
        ),
        (json.dumps({"rows": []}), "{path}: not an mmlens result (task: Field required)"),
        (json.dumps(["not", "an", "object"]), "{path}: not an mmlens result (a JSON object was expected)"),
        ('{"task": "quiz", ', "{path}: not an mmlens result (not JSON"),
    ],
)
def test_a_newer_or_foreign_results_json_is_one_message_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "run" / "results.json"
    path.parent.mkdir()
    path.write_text(text)
    for given in (path, path.parent):
        with pytest.raises(DataError) as caught:
            load_results_file(given)
        assert str(caught.value).startswith(message.format(path=path))
    with pytest.raises(DataError, match="cannot read"):
        load_results_file(tmp_path / "missing.json")


def test_format_summary_names_the_run_of_a_newer_result() -> None:
    newer = {"schema_version": 9, "provenance": {"run_id": "quiz__x__1"}}
    with pytest.raises(DataError, match=r"^run quiz__x__1: schema_version 9 is newer"):
        format_summary(newer)
    with pytest.raises(DataError, match=r"^results.json: schema_version 9"):
        format_summary(newer, where="results.json")


# -- provenance: typed, every part optional, a malformed part one message ---------------------------


def test_schema_1_provenance_loads_typed_and_is_written_back_unchanged() -> None:
    data = v1_results("quiz__constant__0000000yes", "yes")
    results = RunResults.load(data)
    provenance = results.provenance
    assert provenance.model.label == "constant" and provenance.model.fingerprint["args"]["text"] == "yes"
    assert provenance.task.name == "quiz"
    assert provenance.task.metric == {"type": "accuracy", "extractor": "yes_no"}
    assert provenance.process.host == "vm" and provenance.process.pid == 21417
    assert provenance.dataset.limit is None and provenance.seed == 0
    assert provenance.roles == {} and provenance.requests.by_role == {}  # schema 1 has neither
    assert provenance.requests.rounds is None and provenance.requests.computed == 4
    written = results.to_dict()["provenance"]
    assert written == data["provenance"] and list(written) == list(data["provenance"])  # no key added
    json.dumps(results.to_dict())


PARTIAL_PROVENANCE = [
    pytest.param({}, id="empty"),
    pytest.param({"run_id": "quiz__constant__0000000yes", "note": {"kept": True}}, id="run-id-and-extra"),
    pytest.param(
        {"task": {"name": "quiz"}, "roles": {"judge": {"source": "replayed", "replayed_replies": 4}}},
        id="score-like",
    ),
    pytest.param(
        {k: v for k, v in v1_provenance("quiz__x", "yes", {"type": "accuracy"}).items() if k != "model"},
        id="no-model",
    ),
]


@pytest.mark.parametrize("provenance", PARTIAL_PROVENANCE)
def test_a_provenance_missing_parts_loads_summarises_and_reports(
    tmp_path: Path, provenance: dict[str, Any]
) -> None:
    run_id = "quiz__constant__0000000yes"
    data = {**v1_results(run_id, "yes"), "provenance": provenance}
    results = RunResults.load(data)
    assert results.to_dict()["provenance"] == provenance  # defaults are never written
    assert results.provenance.model.label is None and results.provenance.requests.by_role == {}
    text = format_summary(results)
    assert text.splitlines()[0] == "task quiz"
    if "roles" in provenance:
        assert "\njudge: ? (replayed)\n" in text
    with Store(tmp_path / "store.sqlite") as store:
        put_run(store, run_id, data, v1_records("yes"))
        row = store.get_run(run_id)
        assert row is not None and row.typed_provenance().to_dict() == provenance
        (report_run,) = load_runs(store, select_runs(store, []))
        view = provenance_view(report_run)
        render_report(store)
    environment = dict(dict(view["groups"])["environment"])
    if "note" in provenance:
        assert environment["note"] == '{"kept": true}'  # a key this mmlens does not know is shown too
    assert view["fingerprint"] is None and (view["git_commit"] is None) == ("git_commit" not in provenance)


MALFORMED_PROVENANCE = [
    pytest.param({"model": "constant"}, "provenance.model", id="model-a-string"),
    pytest.param({"model": {"label": "c", "fingerprint": "abc"}}, "provenance.model.fingerprint", id="fp"),
    pytest.param({"task": ["quiz"]}, "provenance.task", id="task-a-list"),
    pytest.param({"roles": {"judge": "constant"}}, "provenance.roles.judge", id="role-a-string"),
    pytest.param({"roles": {"judge": {"source": "elsewhere"}}}, "provenance.roles.judge.source", id="source"),
    pytest.param({"requests": {"by_role": {"judge": 3}}}, "provenance.requests.by_role.judge", id="by-role"),
    pytest.param({"process": {"host": "vm", "pid": "many"}}, "provenance.process.pid", id="pid"),
    pytest.param("run 7", "provenance", id="provenance-a-string"),
]


@pytest.mark.parametrize(("provenance", "location"), MALFORMED_PROVENANCE)
def test_a_malformed_provenance_is_one_data_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], provenance: Any, location: str
) -> None:
    run_id = "quiz__constant__0000000yes"
    data = {**v1_results(run_id, "yes"), "provenance": provenance}
    message = f"not an mmlens result ({location}: "
    with pytest.raises(DataError) as caught:
        RunResults.load(data, "results.json")
    assert str(caught.value).startswith(f"results.json: {message}")
    with pytest.raises(DataError, match=re.escape(f"run {run_id}: {message}")):
        format_summary(data, where=f"run {run_id}")
    folder = tmp_path / run_id
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(data))
    store_path = tmp_path / "store.sqlite"
    with Store(store_path) as store:
        store.begin_run(run_id, "quiz", "constant", "", provenance)
        store.finish_run(run_id, data, v1_records("yes"))
        row = store.get_run(run_id)
        assert row is not None
        with pytest.raises(DataError, match=re.escape(f"run {run_id}: not an mmlens provenance (")):
            row.typed_provenance()
        assert run_status(row) == "done"
    for argv, code in (
        (["show", str(folder)], 2),
        (["show", run_id], 2),
        (["report", "-o", str(tmp_path / "r.html")], 2),
    ):
        assert main(["--store", str(store_path), *argv]) == code, argv
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, (argv, err)
        assert location.split(".", 1)[-1] in err, (argv, err)
    # the listing still lists the run, its headline saying why it cannot be read
    assert main(["--store", str(store_path), "show"]) == 0
    out = capsys.readouterr().out
    assert run_id in out and "unreadable (run quiz__constant__0000000yes: not an mmlens result" in out


def test_run_status_reads_the_rows_typed_process(tmp_path: Path) -> None:
    """A running row whose process is gone on this host is killed; one still alive, or on another
    host, or whose provenance cannot be read, is shown as recorded."""
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    gone = int(finished.stdout)
    here = socket.gethostname()
    rows: dict[str, dict[str, Any]] = {
        "alive": {"process": {"host": here, "pid": os.getpid()}},
        "gone": {"process": {"host": here, "pid": gone}},
        "elsewhere": {"process": {"host": here + "-not", "pid": gone}},
        "unreadable": {"process": "nope"},
        "schema_1_without_process": {"run_id": "x"},
    }
    with Store(tmp_path / "store.sqlite") as store:
        for name, provenance in rows.items():
            store.begin_run(name, "quiz", "constant", "", provenance)
        status = {name: run_status(row) for name in rows if (row := store.get_run(name)) is not None}
    assert status == {
        "alive": "running",
        "gone": "killed",
        "elsewhere": "running",
        "unreadable": "running",
        "schema_1_without_process": "running",
    }


# -- incomplete runs ----------------------------------------------------------------------------


def _leaderboard(html: str) -> str:
    return html[html.index('id="leaderboard"') : html.index('id="tasks"')]


def _data(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="mmlens-data">(.*?)</script>', html, re.S)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_incomplete_runs_are_marked_in_the_summary(typed_runs: TypedRuns) -> None:
    flaky, steady = typed_runs.results["flaky"], typed_runs.results["steady"]
    assert flaky.results["complete"] is False and steady.results["complete"] is True
    text = format_summary(flaky.results)
    assert "INCOMPLETE run (1 request error): its scores are not final; to retry what failed:" in text
    assert re.search(r"^acc\s+0\.8333 \(incomplete\)", text, re.M)
    assert "by category" not in text or "incomplete run" in text
    assert headline(flaky.results) == "acc 0.8333 (incomplete)"
    assert "incomplete" not in format_summary(steady.results).lower()
    assert headline(steady.results) == "acc 1.0000"


def test_incomplete_runs_are_marked_in_the_report(typed_runs: TypedRuns) -> None:
    flaky, steady = typed_runs.results["flaky"], typed_runs.results["steady"]
    with Store(typed_runs.store) as store:
        html, _ = render_report(store)
    board = _leaderboard(html)
    cell = re.search(
        rf'<td class="num metric-cell incomplete"[^>]*data-run="{flaky.run_id}"[^>]*>(.*?)</td>', board, re.S
    )
    assert cell is not None and 'data-complete="false"' in cell.group(0)
    assert '<span class="badge incomplete" title="1 request error">incomplete</span>' in cell.group(1)
    complete_cell = re.search(
        rf'<td class="num metric-cell"[^>]*data-run="{steady.run_id}"[^>]*>(.*?)</td>', board, re.S
    )
    assert complete_cell is not None and "incomplete" not in complete_cell.group(1)
    assert board.count('class="badge incomplete" title=') == 1
    row = re.search(rf'<tr data-run="{flaky.run_id}" data-complete="false">(.*?)</tr>', html, re.S)
    assert row is not None and "badge incomplete" in row.group(1)
    assert re.search(rf'<tr data-run="{steady.run_id}" data-complete="true">', html)
    # The automatic comparison of the two flaky_quiz runs says which side is incomplete.
    card = html[html.index("<h3>flaky_quiz:") :]
    card = card[: card.index("</article>")]
    assert "is incomplete (1 request error): its scores are not final" in card
    runs = {run["id"]: run for run in _data(html)["runs"]}
    assert runs[flaky.run_id]["incomplete"] == "1 request error" and runs[steady.run_id]["incomplete"] is None


def test_gain_says_which_runs_are_incomplete(typed_runs: TypedRuns) -> None:
    results = typed_runs.results
    runs = {"S_v": results["steady"], "S_wv": results["flaky"], "S_t": results["steady"]}
    gain = MultimodalGain("acc", 1.0, 5 / 6, 1.0, runs)
    assert gain.incomplete == {"S_wv": "1 request error"}
    assert gain.to_dict()["incomplete"] == {"S_wv": "1 request error"}
    assert _primary_value(results["flaky"], None) == ("acc", pytest.approx(5 / 6))
    newer = RunResult("quiz__x__9", {"schema_version": 5}, [], None)
    with pytest.raises(DataError, match=r"^run quiz__x__9: schema_version 5 is newer"):
        _primary_value(newer, None)


# -- roles, exchanges, option scores ------------------------------------------------------------


def test_roles_are_shown_in_the_summary_and_the_provenance_view(typed_runs: TypedRuns) -> None:
    default, given = typed_runs.results["debate_default"], typed_runs.results["debate_given"]
    assert "\njudge: constant (task default)\n" in format_summary(default.results)
    assert "\njudge: report_test_flaky (given; the task's default is constant)\n" in format_summary(
        given.results
    )
    assert "judge:" not in format_summary(typed_runs.results["pick"].results)
    with Store(typed_runs.store) as store:
        report_runs = {run.run_id: run for run in load_runs(store, select_runs(store, []))}
        html, _ = render_report(store)
    view = provenance_view(report_runs[given.run_id])
    groups = dict(view["groups"])
    assert groups["roles"][0] == ("judge", "report_test_flaky (given; the task's default is constant)")
    assert groups["roles"][1][0] == "judge fingerprint" and "report_test_flaky" in groups["roles"][1][1]
    assert "roles" not in dict(groups["environment"])
    assert view["roles"] == [("judge", "report_test_flaky (given; the task's default is constant)")]
    assert '<span class="role" data-role="judge">· judge: constant (task default)</span>' in html
    assert "judge: report_test_flaky (given; the task&#39;s default is constant)" in html


def test_exchanges_and_option_scores_reach_the_sample_data(typed_runs: TypedRuns) -> None:
    with Store(typed_runs.store) as store:
        report_runs = load_runs(store, select_runs(store, []))
        data, _ = sample_data(report_runs, sorted({r.task for r in report_runs}), [], store)
    by_id = {run["id"]: run for run in data["runs"]}
    debate = by_id[typed_runs.results["debate_default"].run_id]
    exchanges = debate["exchanges"]
    assert sorted(exchanges) == [0, 1, 2]
    first = exchanges[0]
    assert [(x["round"], x["role"], x["kind"]) for x in first] == [
        (1, "model", "generate"),
        (2, "model", "generate"),
        (3, "judge", "generate"),
    ]
    assert [x["response"] for x in first] == ["yes", "yes", "Verdict: correct"]
    second_prompt = data["prompts"][first[1]["prompt"]]
    assert [m["role"] for m in second_prompt] == ["user", "assistant", "user"]
    assert second_prompt[2]["content"][0]["text"] == "Are you sure? Answer once more."
    judge_prompt = data["prompts"][first[2]["prompt"]][0]["content"][0]["text"]
    assert judge_prompt.startswith("Judge: is 'yes' the answer 'yes'?")
    assert debate["score"] == "correct" and debate["columns"]["outcome"] == [0, 0, 0]
    pick = by_id[typed_runs.results["pick"].run_id]
    assert pick["exchanges"] == {}
    assert pick["optionScores"][0] == {
        "normalization": "sum",
        "chosen": 0,
        "options": [
            ["A", -3.0, pytest.approx(0.8789, abs=1e-4)],
            ["B", -5.0, pytest.approx(0.1189, abs=1e-4)],
            ["C", -9.0, pytest.approx(0.0022, abs=1e-4)],
        ],
    }
    assert pick["optionScores"][1]["chosen"] == 2


def test_judged_runs_are_compared_by_their_records_correct(typed_runs: TypedRuns) -> None:
    with Store(typed_runs.store) as store:
        html, counts = render_report(store)
    assert counts["comparisons"] == 2  # debate and flaky_quiz have two runs each
    comparisons = {c["task"]: c for c in _data(html)["comparisons"]}
    assert sorted(comparisons["debate"]["flipped"]["right_to_wrong"]) == ["debate-0", "debate-1", "debate-2"]


# -- comparisons read `correct`, and say what they leave out --------------------------------------


def _run(run_id: str, records: list[SampleRecord]) -> ReportRun:
    results = RunResults.load(
        {
            "task": "mixed",
            "primary_metric": "acc",
            "metrics": {},
            "counts": {"samples": len(records), "scored": len(records)},
            "complete": True,
        }
    )
    row = RunRow(run_id, "mixed", "model", "done", None, {}, results.to_dict(), 0.0, 0.0)
    return ReportRun(row, results, run_id, records, [outcome_of(r) for r in records])


def _record(sample_id: str, correct: bool | None = None, score: float | None = None) -> SampleRecord:
    # The scores say the opposite of ``correct``: comparisons must not read them.
    scores = {"acc": 0.0 if correct else 1.0} if correct is not None else {"similarity": score or 0.0}
    return SampleRecord(
        id=sample_id, category=("all",), extraction="exact", scores=scores, correct=correct, score=score
    )


def test_comparisons_read_correct_and_leave_numeric_samples_out_of_mcnemar_with_a_reason() -> None:
    a = _run(
        "a",
        [
            _record("s0", True),
            _record("s1", True),
            _record("s2", False),
            _record("s3", score=0.5),
            _record("s4", score=0.1),
            _record("s5", True),
        ],
    )
    b = _run(
        "b",
        [
            _record("s0", False),
            _record("s1", True),
            _record("s2", True),
            _record("s3", score=0.7),
            _record("s4", True),
            _record("s6", True),
        ],
    )
    comparison = compare_runs(a, b)
    assert comparison.binary and comparison.score_name == "correct"
    assert comparison.flipped == {"right_to_wrong": ["s0"], "wrong_to_right": ["s2"]}
    assert comparison.overall["n"] == 3 and comparison.overall["p_value"] == mcnemar_exact(1, 1)
    assert comparison.left_out == [
        {"count": 1, "reason": "numeric score in both runs: McNemar needs right/wrong in both runs"},
        {
            "count": 1,
            "reason": "numeric score in A, right/wrong in B: McNemar needs right/wrong in both runs",
        },
    ]
    assert (comparison.only_in_a, comparison.only_in_b) == (1, 1)
    assert a.outcomes == ["right", "right", "wrong", "scored", "scored", "right"]


def test_numeric_samples_are_compared_by_score_with_the_paired_bootstrap() -> None:
    a = _run("a", [_record(f"s{i}", score=0.2 * (i % 4)) for i in range(8)])
    b = _run("b", [_record(f"s{i}", score=0.2 * (i % 4) + 0.1) for i in range(8)])
    comparison = compare_runs(a, b)
    assert not comparison.binary and comparison.score_name == "acc" and comparison.left_out == []
    assert comparison.overall["delta"] == pytest.approx(0.1) and "p_value" not in comparison.overall
    assert not a.binary and a.value_name == "acc"


def test_the_page_says_which_samples_a_comparison_left_out_and_why(tmp_path: Path) -> None:
    def records(text: str) -> list[dict[str, Any]]:
        typed = [SampleRecord.from_dict(record, "acc").to_dict() for record in v1_records(text)]
        # quiz-3 got a numeric score instead of a right/wrong in both runs
        typed[3] = {**typed[3], "correct": None, "score": 0.5, "scores": {"similarity": 0.5}}
        return typed

    with Store(tmp_path / "store.sqlite") as store:
        for text in ("yes", "no"):
            run_id = f"quiz__constant__{text:0>10}"
            put_run(store, run_id, {**v1_results(run_id, text), "schema_version": 2}, records(text))
        html, _ = render_report(store)
    assert (
        '<li data-field="left_out">1 paired sample left out: numeric score in both runs: '
        "McNemar needs right/wrong in both runs.</li>"
    ) in html
    assert "Paired on the 3 samples right or wrong in both runs" in html
