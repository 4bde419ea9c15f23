"""--judge, --role and --role-args on run and score: parsed into mmlens.api's roles/role_args, with
bad syntax ending in one line naming the option, and a live judge end to end."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from mmlens.cli import main
from mmlens.cli.parser import ArgumentParser, add_role_options, role_options
from mmlens.core.errors import MmlensError


def parse_roles(*argv: str) -> dict[str, Any]:
    parser = ArgumentParser(prog="test")
    add_role_options(parser)
    return dict(role_options(parser.parse_args(list(argv))))


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_role_options_become_roles_and_role_args() -> None:
    assert parse_roles() == {}
    assert parse_roles("--judge", "constant") == {"roles": {"judge": "constant"}, "role_args": {}}
    assert parse_roles(
        "--role",
        "judge=openai:gpt-4o",
        "--role",
        "embedder=constant",
        "--role-args",
        "judge=base_url=http://127.0.0.1:8000/v1,concurrency=8",
    ) == {
        "roles": {"judge": "openai:gpt-4o", "embedder": "constant"},
        # split at the first "=": the rest is the role's k=v list, itself with "=" in it
        "role_args": {"judge": "base_url=http://127.0.0.1:8000/v1,concurrency=8"},
    }
    # role args alone (for a role whose model the task names itself) are passed on as they are
    assert parse_roles("--role-args", "judge=text=no") == {"roles": {}, "role_args": {"judge": "text=no"}}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--role", "judge"], "--role: expected NAME=SPEC, got 'judge'"),
        (["--role", "=constant"], "--role: expected NAME=SPEC, got '=constant'"),
        (["--role", "judge="], "--role: expected NAME=SPEC, got 'judge='"),
        (["--role", "my judge=constant"], "--role: expected NAME=SPEC, got 'my judge=constant'"),
        (["--judge", ""], "--judge: expected a model SPEC"),
        (["--judge", "constant", "--role", "judge=constant"], "--role judge: the role is given twice"),
        (["--role", "a=constant", "--role", "a=constant"], "--role a: the role is given twice"),
        (["--role-args", "judge"], "--role-args: expected NAME=k=v,k2=v2, got 'judge'"),
        (["--role-args", "judge=novalue"], "--role-args judge: expected key=value, got 'novalue'"),
        (["--role-args", "judge=a=1", "--role-args", "judge=b=2"], "--role-args judge: given twice"),
        (["--judge", "hugface"], "--judge hugface: unknown model backend 'hugface'"),
        (["--role", "judge=hugface:x"], "--role judge=hugface:x: unknown model backend 'hugface'"),
        (
            ["--judge", "constant", "--role-args", "judge=colour=red"],
            "--judge constant: *colour: Extra inputs are not permitted",
        ),
    ],
)
def test_bad_role_options_are_one_line_naming_the_option(argv: list[str], message: str) -> None:
    with pytest.raises(MmlensError) as caught:
        parse_roles(*argv)
    start, _, rest = message.partition("*")  # "*": anything (the backend's wording) in between
    assert str(caught.value).startswith(start) and rest in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_role_options_through_main_fail_before_any_work(
    capsys: pytest.CaptureFixture[str], judged: Path, tmp_path: Path
) -> None:
    for command in (
        ["run", "judged", "--include", str(judged), "--model", "constant", "--output-dir", str(tmp_path)],
        ["score", "judged", "--include", str(judged), "--predictions", str(tmp_path / "none.jsonl")],
    ):
        code, out, err = run_main(capsys, *command, "--role", "judge")
        assert code == 2 and out == ""
        assert err == "error: --role: expected NAME=SPEC, got 'judge'\n"
    assert not list(tmp_path.glob("*/results.json"))


def test_run_passes_roles_to_evaluate_for_every_task(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, judged: Path, tmp_path: Path
) -> None:
    import mmlens.cli.run

    calls: list[dict[str, Any]] = []

    def fake_evaluate(task: str, model: object, **kwargs: Any) -> Any:
        calls.append({"task": task, **kwargs})
        raise MmlensError("stop here")

    monkeypatch.setattr(mmlens.cli.run, "evaluate", fake_evaluate)
    code, _, err = run_main(
        capsys,
        "run",
        "judged",
        "--include",
        str(judged),
        "--model",
        "constant",
        "--judge",
        "constant",
        "--role-args",
        "judge=text=no",
    )
    assert (code, err) == (2, "error: stop here\n")
    assert calls[0]["roles"] == {"judge": "constant"} and calls[0]["role_args"] == {"judge": "text=no"}
    calls.clear()
    run_main(capsys, "run", "judged", "--include", str(judged), "--model", "constant")
    assert "roles" not in calls[0] and "role_args" not in calls[0]  # nothing given: the api's defaults


def test_a_live_judge_scores_a_run_and_a_replayed_score(
    capsys: pytest.CaptureFixture[str], judged: Path, tmp_path: Path
) -> None:
    store = str(tmp_path / "store.sqlite")
    common = ["--store", store]
    run = ["run", "judged", "--include", str(judged), "--model", "constant", "--json"]
    run += ["--output-dir", str(tmp_path / "runs")]

    code, _, err = run_main(capsys, *common, *run)
    assert code == 2 and "task judged needs a 'judge' model: pass --role judge=SPEC (or --judge SPEC)" in err

    code, out, _ = run_main(capsys, *common, *run, "--judge", "constant", "--role-args", "judge=text=yes")
    results = json.loads(out)
    assert code == 0 and results["metrics"]["acc"]["value"] == 1.0
    assert results["provenance"]["roles"]["judge"]["label"].startswith("constant")

    code, out, _ = run_main(capsys, *common, *run, "--role", "judge=constant", "--role-args", "judge=text=no")
    assert code == 0 and json.loads(out)["metrics"]["acc"]["value"] == 0.0

    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("".join(json.dumps({"id": f"q{i}", "response": "?"}) + "\n" for i in range(4)))
    score = ["score", "judged", "--include", str(judged), "--predictions", str(predictions), "--json"]
    code, out, _ = run_main(capsys, *common, *score, "--judge", "constant", "--role-args", "judge=text=yes")
    scored = json.loads(out)
    assert code == 0 and scored["metrics"]["acc"]["value"] == 1.0
    assert scored["counts"]["scored"] == 4 and "judge" in scored["provenance"]["roles"]


def test_role_args_travel_as_text_for_the_backend_to_parse() -> None:
    """Quoted or JSON values with commas inside stay one option."""
    namespace = argparse.Namespace(judge="constant", role=[], role_args=['judge=text="a,b",logprob=-1.5'])
    assert role_options(namespace) == {
        "roles": {"judge": "constant"},
        "role_args": {"judge": 'text="a,b",logprob=-1.5'},
    }


def test_the_summary_shows_the_judge_requests_on_their_own_line(
    capsys: pytest.CaptureFixture[str], judged: Path, tmp_path: Path
) -> None:
    run = ["--store", str(tmp_path / "s.sqlite"), "run", "judged", "--include", str(judged)]
    run += ["--model", "constant", "--output-dir", str(tmp_path / "runs"), "--judge", "constant"]
    code, out, _ = run_main(capsys, *run, "--role-args", "judge=text=yes")
    assert code == 0
    assert "\nrequests: 4 unique, 0 from the cache, 4 computed, 0 errors" in out
    assert "\njudge requests: 4 unique, 0 from the cache, 4 computed, 0 errors" in out
