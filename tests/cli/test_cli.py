"""The command line: every command, and bad input ending in one clear message (never a traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmlens.cli import main
from tests.fixtures.numbers_bench import build_numbers_task


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(autouse=True)
def in_a_tmp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands here run in the test's folder: a run without --output-dir (or one that fails after
    making it) writes the default mmlens-runs/ there, never in the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def numbers(tmp_path: Path) -> Path:
    return build_numbers_task(tmp_path / "bench", count=12, duplicates=0)


def test_run_show_and_list(capsys: pytest.CaptureFixture[str], numbers: Path, tmp_path: Path) -> None:
    code, out, _ = run_main(
        capsys,
        "run",
        "numbers",
        "--include",
        str(numbers),
        "--model",
        "constant",
        "--model-args",
        "text=Yes",
        "--output-dir",
        str(tmp_path / "runs"),
    )
    assert code == 0
    assert "acc" in out and "0.5000" in out and "12 samples: 12 scored" in out
    run_id = next((tmp_path / "runs").iterdir()).name
    code, out, _ = run_main(capsys, "show")
    assert code == 0 and run_id in out and "done" in out
    code, out, _ = run_main(capsys, "show", run_id[:12], "--json")
    assert code == 0 and json.loads(out)["metrics"]["acc"]["value"] == 0.5
    code, out, _ = run_main(capsys, "show", str(tmp_path / "runs" / run_id))
    assert code == 0 and "0.5000" in out
    code, out, _ = run_main(capsys, "list", "--include", str(numbers))
    assert code == 0 and "numbers" in out and "constant" in out


def test_score_predictions_made_elsewhere(
    capsys: pytest.CaptureFixture[str], numbers: Path, tmp_path: Path
) -> None:
    predictions = tmp_path / "predictions.jsonl"
    rows = [{"id": f"n{i}", "response": "Yes" if i % 2 == 0 else "no, it is not"} for i in range(12)]
    rows[0]["response"] = "I cannot tell"
    predictions.write_text("".join(json.dumps(r) + "\n" for r in rows[:-1]))  # n11 has no prediction
    code, out, _ = run_main(
        capsys, "score", "numbers", "--include", str(numbers), "--predictions", str(predictions), "--json"
    )
    assert code == 0
    # n0 fails extraction, n11 is missing: 10 of 12 right. --json prints the whole result.
    results = json.loads(out)
    assert results["metrics"]["acc"]["value"] == pytest.approx(10 / 12)
    assert results["task"] == "numbers" and "breakdown" in results
    assert results["counts"]["scored"] == 12 and results["counts"]["missing_predictions"] == 1
    assert results["counts"]["failed_extraction"] == 1
    assert results["provenance"]["predictions"] == str(predictions)
    code, out, _ = run_main(
        capsys, "score", "numbers", "--include", str(numbers), "--predictions", str(predictions)
    )
    assert "1 failed extraction" in out and "1 without a prediction" in out


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": "n0", "response": "yes"}', "{oops"], "line 2: not valid JSON"),
        (
            ['{"id": "n0", "response": "yes"}', '{"id": "n0", "response": "no"}'],
            "line 2: id 'n0' appears twice",
        ),
        (['{"id": "n99", "response": "yes"}'], "1 id(s) are not samples of task numbers"),
        (['{"sample": "n0"}'], 'line 1: expected {"id": ..., "response": ...}'),
        ([], "is empty"),
    ],
)
def test_bad_predictions_files(
    capsys: pytest.CaptureFixture[str], numbers: Path, tmp_path: Path, lines: list[str], message: str
) -> None:
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("\n".join(lines) + "\n")
    code, out, err = run_main(
        capsys, "score", "numbers", "--include", str(numbers), "--predictions", str(predictions)
    )
    assert code == 2 and out == ""
    assert message in err and str(predictions) in err
    assert len(err.strip().splitlines()) == 1


def test_bad_input_messages(capsys: pytest.CaptureFixture[str], numbers: Path, tmp_path: Path) -> None:
    cases = {
        ("run", "numbrs", "--include", str(numbers)): "unknown task 'numbrs'. Did you mean 'numbers'?",
        (
            "run",
            "numbers",
            "--include",
            str(numbers),
            "--model",
            "hugface",
        ): "unknown model backend 'hugface'",
        (
            "run",
            "numbers",
            "--include",
            str(numbers),
            "--model",
            "constant",
            "--model-args",
            "colour=red",
        ): "bad --model-args (or args: in a model file): colour: Extra inputs are not permitted",
        (
            "run",
            "numbers",
            "--include",
            str(numbers),
            "--model-args",
            "novalue",
        ): "--model-args: expected key=value, got 'novalue'",
        ("run", "--frobnicate"): "unrecognized arguments: --frobnicate",
        ("run", "numbers", "--include", str(tmp_path / "nowhere")): "--include",
        ("run", "numbers", "--include", str(numbers), "--limit", "0"): "--limit must be at least 1",
        (
            "run",
            "numbers",
            "--include",
            str(numbers),
            "--model",
            "constant",
            "--data",
            str(tmp_path / "missing.jsonl"),
        ): "missing.jsonl does not exist",
        ("show", "no-such-run"): "no run 'no-such-run'",
        (
            "run",
            "shapes_small",
            "--model",
            "constant",
            "--data",
            str(tmp_path),
        ): "task shapes_small generates its samples and reads no data",
        (
            "run",
            "shapes_small",
            "--model",
            "constant",
            "--output-dir",
            "/proc/forbidden",
        ): "--output-dir /proc/forbidden: cannot create it",
        (
            "run",
            "numbers",
            "--include",
            str(numbers),
            "--model",
            str(tmp_path / "m.yaml"),
        ): "m.yaml does not exist",
    }
    for args, message in cases.items():
        code, _, err = run_main(capsys, *args)
        assert code == 2, args
        assert message in err, (args, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_bad_task_files_name_the_file_and_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "typo.yaml").write_text(
        "name: typo\nscenario: {type: jsonl, pth: x.jsonl}\nmetric: {type: accuracy}\n"
    )
    (folder / "nometric.yaml").write_text("name: nometric\nscenario: {type: jsonl}\n")
    (folder / "badpart.yaml").write_text("name: badpart\nscenario: {type: jsnl}\nmetric: {type: accuracy}\n")
    for task, message in {
        "typo": "typo.yaml: scenario.pth: Extra inputs are not permitted",
        "nometric": "nometric.yaml: metric: Field required",
        "badpart": "scenario.type: unknown scenario 'jsnl'. Did you mean 'jsonl'?",
    }.items():
        code, _, err = run_main(capsys, "run", task, "--include", str(folder), "--model", "constant")
        assert code == 2 and message in err, err


def test_empty_data_and_bad_rows(capsys: pytest.CaptureFixture[str], numbers: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, _, err = run_main(
        capsys, "run", "numbers", "--include", str(numbers), "--model", "constant", "--data", str(empty)
    )
    assert code == 2 and "no samples in" in err and "empty.jsonl" in err
    rows = tmp_path / "rows.jsonl"
    good = json.loads((numbers.parent / "numbers.jsonl").read_text().splitlines()[0])
    good["image"] = str(numbers.parent / good["image"])
    rows.write_text(
        "\n".join(
            [
                json.dumps(good),
                json.dumps({"id": "noquestion", "image": good["image"]}),
                json.dumps({**good, "id": "noimage", "image": str(tmp_path / "gone.png")}),
            ]
        )
        + "\n"
    )
    code, out, _ = run_main(
        capsys,
        "run",
        "numbers",
        "--include",
        str(numbers),
        "--model",
        "constant",
        "--data",
        str(rows),
        "--output-dir",
        str(tmp_path / "runs"),
    )
    assert code == 0
    assert "3 samples: 1 scored" in out and "2 bad samples" in out
    assert "noquestion" in out and "missing question" in out
    assert "noimage" in out and "gone.png does not exist" in out


def test_entry_point_reports_errors_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mmlens", "run", "no_such_task"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown task 'no_such_task'")
    assert "Traceback" not in result.stderr


def test_several_tasks_share_one_model(
    capsys: pytest.CaptureFixture[str], numbers: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmlens.models.constant import ConstantModel

    built: list[ConstantModel] = []
    closed: list[ConstantModel] = []
    original_init = ConstantModel.__init__
    monkeypatch.setattr(
        ConstantModel, "__init__", lambda self, *a: (built.append(self), original_init(self, *a))[1]
    )
    monkeypatch.setattr(ConstantModel, "close", lambda self: closed.append(self))
    code, out, _ = run_main(
        capsys,
        "run",
        "numbers",
        "shapes_small",
        "--include",
        str(numbers),
        "--model",
        "constant",
        "--json",
        "--output-dir",
        str(tmp_path / "runs"),
    )
    assert code == 0
    results = json.loads(out)
    assert [r["task"] for r in results] == ["numbers", "shapes_small"]
    assert results[0]["counts"]["scored"] == 12 and results[1]["counts"]["scored"] == 200
    assert len(built) == 1 and closed == built
    code, _, err = run_main(
        capsys, "run", "numbers", "nope", "--include", str(numbers), "--model", "constant"
    )
    assert code == 2 and "unknown task 'nope'" in err and len(built) == 1  # checked before loading a model
    code, _, err = run_main(
        capsys, "run", "numbers", "shapes_small", "--include", str(numbers), "--data", str(tmp_path)
    )
    assert code == 2 and "with several tasks, name the task (--data numbers=PATH)" in err


def test_score_counts_missing_predictions_once_and_respects_limit(numbers: Path, tmp_path: Path) -> None:
    from mmlens import api

    predictions = tmp_path / "p.jsonl"
    predictions.write_text("".join(json.dumps({"id": f"n{i}", "response": "yes"}) + "\n" for i in (0, 1, 9)))
    counts = api.score("numbers", predictions, include=[numbers]).results["counts"]
    assert (counts["errors"], counts["missing_predictions"], counts["scored"]) == (0, 9, 12)
    limited = api.score("numbers", predictions, include=[numbers], limit=4).results
    assert limited["counts"]["scored"] == 4 and limited["counts"]["predictions_past_limit"] == 1
    assert limited["complete"] is False and limited["metrics"]["acc"]["value"] == 0.25  # n0 right of 4


def test_malformed_yaml_is_one_line_with_its_position(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "broken.yaml").write_text("name: broken\nscenario: {type: jsonl\nmetric: {type: accuracy}\n")
    (tmp_path / "model.yaml").write_text("backend: constant\nargs: [unclosed\n")
    code, _, err = run_main(capsys, "list", "tasks", "--include", str(tmp_path / "broken.yaml"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "broken.yaml: not valid YAML: line 3, column" in err
    code, _, err = run_main(capsys, "run", "shapes_small", "--model", str(tmp_path / "model.yaml"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "model.yaml: not valid YAML: line" in err


def test_included_tasks_cannot_shadow_built_in_ones(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "mine.yaml").write_text("name: shapes\nscenario: {type: jsonl}\nmetric: {type: accuracy}\n")
    code, _, err = run_main(capsys, "run", "shapes", "--include", str(tmp_path), "--model", "constant")
    assert code == 2 and "mine.yaml: 'shapes' is a built-in task; give yours another name" in err


def test_gain_works_for_a_task_without_a_blind_variant(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """S_wv and S_t come from the task with the blind transform: the requests carry no image."""
    from mmlens.store.sqlite import Store

    store = tmp_path / "store.sqlite"
    code, out, _ = run_main(
        capsys,
        "--store",
        str(store),
        "gain",
        "shapes_small",
        "--model",
        "constant",
        "--backbone-model",
        "constant",
        "--limit",
        "10",
        "--output-dir",
        str(tmp_path),
        "--json",
    )
    assert code == 0
    summary = json.loads(out)
    with Store(store) as opened:
        rows = {name: opened.get_run(run_id) for name, run_id in summary["runs"].items()}
        transforms = {name: row.provenance["task"]["transforms"] for name, row in rows.items() if row}
    assert transforms == {"S_v": [], "S_wv": ["blind"], "S_t": ["blind"]}
    assert summary["runs"]["S_v"] != summary["runs"]["S_wv"]
    blind_prompts = [
        json.loads(line)["prompt"]
        for line in (tmp_path / summary["runs"]["S_wv"] / "samples.jsonl").read_text().splitlines()
    ]
    assert blind_prompts and all(
        part["type"] == "text"
        for prompt in blind_prompts
        for message in prompt
        for part in message["content"]
    )


def test_an_answer_outside_the_options_is_a_bad_sample(tmp_path: Path) -> None:
    from mmlens import api

    (tmp_path / "t.yaml").write_text(
        "name: mc\nscenario: {type: jsonl, path: d.jsonl}\nmetric: {type: accuracy}\n"
    )
    rows = [
        {"id": "ok", "question": "q", "choices": ["a", "b"], "answer": "B"},
        {"id": "bad", "question": "q", "choices": ["a", "b"], "answer": "C"},
    ]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = api.evaluate(
        "mc", "constant", include=[tmp_path / "t.yaml"], store=tmp_path / "s.sqlite", output_dir=None
    )
    assert result.results["bad_samples"] == [
        {"id": "bad", "reason": f"{tmp_path / 'd.jsonl'}, line 2: answer 'C' is not one of the options"}
    ]


def test_binary_or_non_object_lines_are_reported_not_crashed_on(numbers: Path, tmp_path: Path) -> None:
    from mmlens import api
    from mmlens.core.errors import DataError

    binary = tmp_path / "p.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage\n")
    with pytest.raises(DataError, match="p.jsonl is not UTF-8 text"):
        api.score("numbers", binary, include=[numbers])
    data = tmp_path / "d.jsonl"
    data.write_text('[1, 2]\n{"id": "q", "question": "Is it? Please answer yes or no.", "answer": "yes"}\n')
    result = api.evaluate(
        "numbers", "constant", include=[numbers], data=data, store=tmp_path / "s.sqlite", output_dir=None
    )
    assert result.results["bad_samples"] == [{"id": "d.jsonl:1", "reason": "expected a JSON object"}]
