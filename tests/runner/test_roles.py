"""The judge role: where it comes from, and what a judge that fails does to a run."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.errors import ConfigError, ModelUnavailable
from tests.fixtures.fault_server import FaultServer
from tests.fixtures.judged_task import ROWS, write_judged_task

MODEL_ANSWER = "The answer is 3."
TASK_DEFAULT = {"judge": {"model": "constant", "args": {"text": "Verdict: correct"}}}


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def evaluate(folder: Path, tmp_path: Path, **kwargs: object) -> api.RunResult:
    return api.evaluate(
        "judged_toy",
        "constant",
        model_args=f"text={MODEL_ANSWER}",
        include=[folder],
        store=tmp_path / "store.sqlite",
        output_dir=None,
        **kwargs,  # type: ignore[arg-type]
    )


# -- where the judge comes from ------------------------------------------------------------------


def test_a_judged_task_without_a_judge_is_one_config_error_naming_the_flag(tmp_path: Path) -> None:
    folder = write_judged_task(tmp_path / "task")
    with pytest.raises(ConfigError) as caught:
        evaluate(folder, tmp_path)
    assert str(caught.value) == (
        "task judged_toy needs a 'judge' model: pass --role judge=SPEC (or --judge SPEC)"
    )
    assert not (tmp_path / "store.sqlite").exists()  # refused before anything was opened or sent


def test_the_task_default_judge_is_used_and_labelled(tmp_path: Path) -> None:
    folder = write_judged_task(tmp_path / "task", roles=TASK_DEFAULT)
    result = evaluate(folder, tmp_path)
    assert result.results["metrics"]["acc"]["value"] == 1.0
    judge = result.results["provenance"]["roles"]["judge"]
    assert judge["source"] == "task default" and judge["is_task_default"] is True
    assert judge["task_default"] == "constant" and judge["label"] == "constant"
    assert judge["fingerprint"]["args"]["text"] == "Verdict: correct"


def test_a_given_judge_overrides_the_task_default_and_says_so(tmp_path: Path) -> None:
    folder = write_judged_task(tmp_path / "task", roles=TASK_DEFAULT)
    default = evaluate(folder, tmp_path)
    given = evaluate(
        folder, tmp_path, roles={"judge": "constant"}, role_args={"judge": "text=Verdict: incorrect"}
    )
    assert given.results["metrics"]["acc"]["value"] == 0.0
    judge = given.results["provenance"]["roles"]["judge"]
    # The same backend as the default with other options is not the task's judge.
    assert judge["source"] == "given" and judge["is_task_default"] is False
    assert judge["task_default"] == "constant"
    assert given.run_id != default.run_id
    # Giving exactly the task's default judge is still "given", and is the task default.
    same = evaluate(
        folder, tmp_path, roles={"judge": "constant"}, role_args={"judge": "text=Verdict: correct"}
    )
    assert same.results["provenance"]["roles"]["judge"]["source"] == "given"
    assert same.results["provenance"]["roles"]["judge"]["is_task_default"] is True
    assert same.run_id == default.run_id


def test_role_args_on_top_of_the_task_default_make_it_another_judge(tmp_path: Path) -> None:
    folder = write_judged_task(tmp_path / "task", roles=TASK_DEFAULT)
    result = evaluate(folder, tmp_path, role_args={"judge": "text=Verdict: incorrect"})
    judge = result.results["provenance"]["roles"]["judge"]
    assert judge["source"] == "task default" and judge["is_task_default"] is False
    assert result.results["metrics"]["acc"]["value"] == 0.0


def test_task_default_args_are_taken_as_written_in_the_yaml(tmp_path: Path) -> None:
    """A comma inside a value and a number are the YAML's own values, not re-split "k=v" text."""
    roles = {"judge": {"model": "constant", "args": {"text": "Well, Verdict: correct", "logprob": -1.5}}}
    folder = write_judged_task(tmp_path / "task", roles=roles)
    result = evaluate(folder, tmp_path)
    assert result.results["metrics"]["acc"]["value"] == 1.0
    judge = result.results["provenance"]["roles"]["judge"]
    assert judge["fingerprint"]["args"] == {"text": "Well, Verdict: correct", "logprob": -1.5}
    assert judge["is_task_default"] is True


def test_a_bad_task_default_is_reported_unless_a_judge_is_given(tmp_path: Path) -> None:
    roles = {"judge": {"model": "constant", "args": {"colour": "blue"}}}
    folder = write_judged_task(tmp_path / "task", roles=roles)
    with pytest.raises(ConfigError, match=r"roles\.judge.*colour"):
        evaluate(folder, tmp_path)
    given = evaluate(
        folder, tmp_path, roles={"judge": "constant"}, role_args={"judge": "text=Verdict: correct"}
    )
    assert given.results["provenance"]["roles"]["judge"]["is_task_default"] is False


# -- a judge that fails ---------------------------------------------------------------------------


def test_an_unreachable_judge_stops_the_run_naming_it(tmp_path: Path) -> None:
    folder = write_judged_task(tmp_path / "task")
    port = closed_port()
    with pytest.raises(ModelUnavailable, match=r"^judge: model openai:grader cannot answer.*connection to"):
        evaluate(
            folder,
            tmp_path,
            roles={"judge": "openai:grader"},
            role_args={"judge": f"base_url=http://127.0.0.1:{port}/v1,max_retries=0,timeout=5"},
        )


def test_a_judge_whose_requests_fail_makes_errors_that_name_it(tmp_path: Path) -> None:
    rows = [{**row, "question": row["question"] + " #fault=500"} for row in ROWS]  # one failure each
    folder = write_judged_task(tmp_path / "task", rows=rows)
    with FaultServer() as server:
        result = evaluate(
            folder,
            tmp_path,
            roles={"judge": "openai:grader"},
            role_args={"judge": f"base_url={server.base_url},max_retries=0,timeout=5"},
        )
    counts = result.results["counts"]
    assert result.results["complete"] is False
    assert counts["errors"] == len(ROWS) and counts["role_errors"] == len(ROWS)
    assert counts["extraction"] == {"error": len(ROWS)}
    for record in result.records:
        assert record.extraction == "error" and record.answer is None and record.correct is False
        assert record.scores == {"acc": 0.0}
        assert record.error is not None and record.error.startswith("judge: ")
        assert record.response == MODEL_ANSWER  # the model's answer is kept
        judge_turn = record.exchanges[-1]
        assert judge_turn.role == "judge" and judge_turn.response is None and judge_turn.error
    stats = result.results["provenance"]["requests"]["by_role"]["judge"]
    assert stats["errors"] == len(ROWS)
    assert result.results["provenance"]["roles"]["judge"]["label"] == "openai:grader"


def test_a_rerun_with_the_judge_working_again_fills_the_errors(tmp_path: Path) -> None:
    """The fault server answers 500 to the first request for a prompt holding ``#fault=500``,
    then normally ("echo: <prompt>"): the same judge fails on the first run and works on the second."""
    rows = [dict(row) for row in ROWS]
    for row in rows[:2]:
        row["question"] += " #fault=500"
    folder = write_judged_task(tmp_path / "task", rows=rows)
    with FaultServer() as server:
        judge = {
            "roles": {"judge": "openai:grader"},
            "role_args": {"judge": f"base_url={server.base_url},max_retries=0"},
        }
        first = evaluate(folder, tmp_path, **judge)
        assert first.results["complete"] is False and first.results["counts"]["errors"] == 2
        failed = [r.id for r in first.records if r.extraction == "error"]
        assert failed == ["q1", "q2"]
        assert all("500" in (r.error or "") for r in first.records if r.id in failed)
        assert [r.extraction for r in first.records[2:]] == ["judge", "judge"]

        second = evaluate(folder, tmp_path, **judge)
    assert second.run_id == first.run_id
    assert second.results["complete"] is True and second.results["counts"]["errors"] == 0
    judge_stats = second.results["provenance"]["requests"]["by_role"]["judge"]
    assert (judge_stats["computed"], judge_stats["cached"]) == (2, 2)
    assert second.results["provenance"]["requests"]["by_role"]["model"]["computed"] == 0
    # The echo repeats the prompt, whose last line offers both verdicts: the last one counts.
    assert all(r.extraction == "judge" and r.answer == "incorrect" for r in second.records)
    assert server.record.total == 6


def test_a_missing_reference_is_a_bad_sample_not_a_judge_error(tmp_path: Path) -> None:
    rows = [dict(ROWS[0]), {k: v for k, v in ROWS[1].items() if k != "answer"}]
    folder = write_judged_task(tmp_path / "task", rows=rows, roles=TASK_DEFAULT)
    result = evaluate(folder, tmp_path)
    counts = result.results["counts"]
    assert counts["errors"] == 0 and counts["role_errors"] == 0 and counts["bad_samples"] == 1
    assert result.results["complete"] is True  # a rerun could not fill it: it is the data's fault
    (bad,) = result.results["bad_samples"]
    assert bad["id"] == "q2" and "no reference answer" in bad["reason"]
    assert [r.id for r in result.records] == ["q1"]


def test_the_judge_prompt_is_part_of_the_task_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = api.load_task("judged_toy", include=[write_judged_task(tmp_path / "a")])
    custom = write_judged_task(tmp_path / "b", metric={"prompt": "Grade: {response}\nVerdict: ?"})
    assert api.load_task("judged_toy", include=[custom]).version_hash != default.version_hash
    # The default prompt is read from a file: its text (not only the YAML) is in the hash.
    from mmlens.core.task import load_task_file
    from mmlens.metrics import judge

    edited_prompt = tmp_path / "correctness.txt"
    edited_prompt.write_text(judge.DEFAULT_PROMPT_FILE.read_text(encoding="utf-8") + "\nBe strict.\n")
    monkeypatch.setattr(judge, "DEFAULT_PROMPT_FILE", edited_prompt)
    judge.default_prompt.cache_clear()
    try:
        edited = load_task_file(default.source)
    finally:
        monkeypatch.undo()
        judge.default_prompt.cache_clear()
    assert edited.version_hash != default.version_hash


def test_score_uses_the_task_default_judge_only_for_lines_without_a_reply(tmp_path: Path) -> None:
    import json

    folder = write_judged_task(tmp_path / "task", roles=TASK_DEFAULT)
    predictions = tmp_path / "p.jsonl"
    lines = [
        {"id": "q1", "response": "3", "judge": "Verdict: incorrect"},  # replayed: the default says correct
        {"id": "q2", "response": "red"},  # asks the task's default judge
    ]
    predictions.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = api.score("judged_toy", predictions, include=[folder], store=tmp_path / "s.sqlite", limit=2)
    assert [r.answer for r in result.records] == ["incorrect", "correct"]
    roles = result.results["provenance"]["roles"]["judge"]
    assert roles["replayed_replies"] == 1 and roles["source"] == "task default"


def test_plan_names_the_roles_a_task_needs(tmp_path: Path) -> None:
    with_default = api.plan("judged_toy", include=[write_judged_task(tmp_path / "a", roles=TASK_DEFAULT)])
    assert with_default.to_dict()["roles"] == {"judge": "constant"}
    without = api.plan("judged_toy", include=[write_judged_task(tmp_path / "b")])
    assert without.roles == {"judge": None} and without.later_rounds


def test_a_sampling_judge_takes_the_run_seed(tmp_path: Path) -> None:
    from mmlens.runner.evaluate import with_run_seed

    folder = write_judged_task(tmp_path / "task", metric={"temperature": 0.7})
    task = api.load_task("judged_toy", include=[folder])
    seeded = with_run_seed(task, 7)
    assert seeded.metric.model_dump()["seed"] == 7 and task.metric.model_dump()["seed"] is None
    greedy = api.load_task("judged_toy", include=[write_judged_task(tmp_path / "greedy")])
    assert with_run_seed(greedy, 7) is greedy  # greedy decoding needs no seed
