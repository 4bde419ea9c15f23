"""``api.score``: outputs made elsewhere, replayed through the task's own inferencer and metric.

Generation (``response``), likelihood rankings (``option_logprobs``), judge replies given in the
line (``judge`` / ``roles``) or sent to a live judge, and the lines that cannot be used."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mmlens import api
from mmlens.core.errors import DataError
from mmlens.metrics.judge import DEFAULT_PROMPT_FILE
from mmlens.store.sqlite import Store
from tests.fixtures.fault_server import FaultServer
from tests.fixtures.judged_task import ROWS, write_judged_task

MC_ROWS = [
    {"id": "m1", "question": "Which is a fruit?", "choices": ["stone", "apple", "chair"], "answer": "B"},
    {"id": "m2", "question": "Which is blue?", "choices": ["sky", "grass"], "answer": "A"},
    {"id": "m3", "question": "Which can fly?", "choices": ["fish", "rock", "bird", "tree"], "answer": "C"},
]


def write_task(folder: Path, name: str, rows: list[dict[str, Any]], **parts: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    config = {"name": name, "scenario": {"type": "jsonl", "path": "data.jsonl"}, **parts}
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return folder


def write_lines(path: Path, lines: list[dict[str, Any] | str]) -> Path:
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def mc_task(tmp_path: Path) -> Path:
    return write_task(
        tmp_path / "mc",
        "toy_mc",
        MC_ROWS,
        inferencer={"type": "rank_choices"},
        metric={"type": "accuracy", "extractor": "choice_letter"},
    )


@pytest.fixture
def generate_task(tmp_path: Path) -> Path:
    return write_task(
        tmp_path / "gen",
        "toy_gen",
        MC_ROWS,
        inferencer={"type": "generate", "max_new_tokens": 4},
        metric={"type": "accuracy", "extractor": "choice_letter"},
    )


# -- (a) generation -------------------------------------------------------------------------------


def test_generated_responses_are_scored_by_the_task_extraction(generate_task: Path, tmp_path: Path) -> None:
    predictions = write_lines(
        tmp_path / "p.jsonl",
        [
            {"id": "m1", "response": "B"},
            {"id": "m2", "response": "The answer is (B)."},
            {"id": "m3", "response": None},
        ],
    )
    result = api.score("toy_gen", predictions, include=[generate_task])
    first, second, third = result.records
    assert (first.response, first.answer, first.extraction, first.correct) == ("B", "B", "exact", True)
    assert second.answer == "B" and second.correct is False
    assert third.response is None and third.extraction == "failed" and third.correct is False
    assert result.results["metrics"]["acc"]["value"] == pytest.approx(1 / 3)
    assert result.results["complete"] is True and result.results["counts"]["failed_extraction"] == 1


# -- (b) likelihood ranking ------------------------------------------------------------------------


def test_option_logprobs_decide_the_ranking(mc_task: Path, tmp_path: Path) -> None:
    predictions = write_lines(
        tmp_path / "p.jsonl",
        [
            {"id": "m1", "option_logprobs": [-3.0, -0.5, -2.0]},  # B: right
            {"id": "m2", "option_logprobs": [-1.0, -1.0]},  # a tie goes to the earlier option: A, right
            {"id": "m3", "option_logprobs": [-0.1, -4, -2.5, -7]},  # A: wrong (C is the answer)
        ],
    )
    result = api.score("toy_mc", predictions, include=[mc_task])
    by_id = {record.id: record for record in result.records}
    assert [by_id[i].answer for i in ("m1", "m2", "m3")] == ["B", "A", "A"]
    assert [by_id[i].correct for i in ("m1", "m2", "m3")] == [True, True, False]
    assert all(record.extraction == "exact" for record in result.records)
    scores = by_id["m3"].option_scores
    assert scores is not None
    assert (scores.logprobs, scores.normalization, scores.chosen) == ([-0.1, -4.0, -2.5, -7.0], "sum", 0)
    assert by_id["m2"].option_scores is not None and by_id["m2"].option_scores.chosen == 0
    assert result.results["metrics"]["acc"]["value"] == pytest.approx(2 / 3)


def test_a_wrong_count_of_option_logprobs_is_one_error_naming_the_file_and_line(
    mc_task: Path, tmp_path: Path
) -> None:
    predictions = write_lines(
        tmp_path / "p.jsonl",
        [
            {"id": "m1", "option_logprobs": [-1.0, -2.0, -3.0]},
            {"id": "m2", "option_logprobs": [-1.0, -2.0, -3.0]},
        ],
    )
    with pytest.raises(DataError) as caught:
        api.score("toy_mc", predictions, include=[mc_task])
    assert str(caught.value) == (
        f'{predictions}, line 2: "option_logprobs" has 3 values; sample m2 has 2 options'
    )


def test_a_ranking_task_refuses_a_generated_response(mc_task: Path, tmp_path: Path) -> None:
    predictions = write_lines(tmp_path / "p.jsonl", [{"id": "m1", "response": "B"}])
    with pytest.raises(DataError, match=r"p\.jsonl, line 1: this task ranks options by likelihood"):
        api.score("toy_mc", predictions, include=[mc_task])


# -- (c) judge replies in the line, (d) the rest sent to a live judge ---------------------------


def test_judge_replies_in_the_line_are_replayed(tmp_path: Path) -> None:
    folder = write_judged_task(tmp_path / "task")
    predictions = write_lines(
        tmp_path / "p.jsonl",
        [
            {"id": "q1", "response": "three", "judge": "Verdict: correct"},
            {"id": "q2", "response": "blue", "roles": {"judge": "Some thought.\nVerdict: incorrect"}},
            {"id": "q3", "response": "yes", "roles": {"judge": ["no verdict here"]}},
            {"id": "q4", "response": None, "judge": "Verdict: correct"},  # nothing to judge
        ],
    )
    result = api.score("judged_toy", predictions, include=[folder])
    q1, q2, q3, q4 = result.records
    assert (q1.extraction, q1.answer, q1.correct) == ("judge", "correct", True)
    assert (q2.extraction, q2.answer, q2.correct) == ("judge", "incorrect", False)
    assert (q3.extraction, q3.correct, q3.details["judge_reply"]) == ("failed", False, "no verdict here")
    assert q4.extraction == "failed" and q4.exchanges == []  # the judge reply is not used
    judge_turn = q1.exchanges[0]
    assert (judge_turn.role, judge_turn.response) == ("judge", "Verdict: correct")
    expected = DEFAULT_PROMPT_FILE.read_text(encoding="utf-8").format(
        question=ROWS[0]["question"], reference=ROWS[0]["answer"], response="three"
    )
    assert judge_turn.prompt[0]["content"][0]["text"] == expected
    assert result.results["metrics"]["acc"]["value"] == 0.25 and result.results["complete"] is True


def test_a_line_without_the_judge_reply_needs_a_live_judge(tmp_path: Path) -> None:
    folder = write_judged_task(tmp_path / "task")
    predictions = write_lines(tmp_path / "p.jsonl", [{"id": "q1", "response": "three"}])
    with pytest.raises(DataError) as caught:
        api.score("judged_toy", predictions, include=[folder])
    message = str(caught.value)
    assert message.startswith(f"{predictions}, line 1: no 'judge' reply in the line and no live judge model")
    assert "--role judge=SPEC" in message


def test_judge_requests_the_lines_lack_go_to_the_live_judge(tmp_path: Path) -> None:
    folder = write_judged_task(tmp_path / "task")
    predictions = write_lines(
        tmp_path / "p.jsonl",
        [
            {"id": "q1", "response": "three", "judge": "Verdict: correct"},
            {"id": "q2", "response": "red"},
            {"id": "q3", "response": "yes"},
        ],
    )
    result = api.score(
        "judged_toy",
        predictions,
        include=[folder],
        roles={"judge": "constant"},
        role_args={"judge": "text=Verdict: incorrect"},
        store=tmp_path / "s.sqlite",
    )
    q1, q2, q3, q4 = result.records
    assert (q1.answer, q2.answer, q3.answer) == ("correct", "incorrect", "incorrect")
    assert q2.exchanges[0].response == "Verdict: incorrect"
    assert (
        q4.error == "no prediction for this sample" and result.results["counts"]["missing_predictions"] == 1
    )
    assert result.results["provenance"]["roles"]["judge"]["label"] == "constant"


def test_live_judge_replies_go_through_the_store(tmp_path: Path) -> None:
    """A second score of the same file asks the (real HTTP) judge nothing: its replies are stored."""
    folder = write_judged_task(tmp_path / "task")
    predictions = write_lines(
        tmp_path / "p.jsonl",
        [{"id": "q1", "response": "three"}, {"id": "q2", "response": "red"}, {"id": "q3", "response": "red"}],
    )
    store = tmp_path / "s.sqlite"
    with FaultServer() as server:
        kwargs: dict[str, Any] = {
            "include": [folder],
            "roles": {"judge": "openai:grader"},
            "role_args": {"judge": f"base_url={server.base_url},max_retries=0"},
            "store": store,
        }
        first = api.score("judged_toy", predictions, **kwargs)
        assert server.record.total == 3
        second = api.score("judged_toy", predictions, **kwargs)
        assert server.record.total == 3
    # The server echoes the prompt, whose last line offers both verdicts: the last one counts.
    assert [r.answer for r in first.records[:3]] == ["incorrect"] * 3
    assert [e.cached for r in first.records for e in r.exchanges] == [False] * 3
    assert [e.cached for r in second.records for e in r.exchanges] == [True] * 3

    def uncached(record: Any) -> dict[str, Any]:
        data = record.to_dict()
        for exchange in data.get("exchanges", []):
            exchange.pop("cached")
        return data

    assert [uncached(r) for r in second.records] == [uncached(r) for r in first.records]
    with Store(store) as opened:
        assert opened.count_responses() == 3


# -- (e) lines that cannot be used ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (
            {"id": "m1", "option_logprobs": ["-1.0", -2.0, -3.0]},
            '"option_logprobs" must be a list of finite numbers',
        ),
        (
            {"id": "m1", "option_logprobs": [-1.0, None, -3.0]},
            '"option_logprobs" must be a list of finite numbers',
        ),
        (
            {"id": "m1", "option_logprobs": [-1.0, True, -3.0]},
            '"option_logprobs" must be a list of finite numbers',
        ),
        ({"id": "m1", "option_logprobs": -1.0}, '"option_logprobs" must be a list of finite numbers'),
        (
            '{"id": "m1", "option_logprobs": [NaN, -1, -2]}',
            '"option_logprobs" must be a list of finite numbers',
        ),
        ({"id": "m1"}, 'expected {"id": ..., "response": ...}'),
        ({"id": "m1", "answer": "B"}, 'expected {"id": ..., "response": ...}'),
        ({"id": "m1", "roles": "Verdict: correct"}, '"roles" must be an object'),
        ({"id": "m1", "roles": ["Verdict: correct"]}, '"roles" must be an object'),
        ({"id": "m1", "judge": 3}, '"roles.judge" must be a string or a list of strings'),
        ({"response": "B"}, 'expected {"id": ..., "response": ...}'),
        ("not json", ""),
    ],
)
def test_a_bad_line_is_one_data_error_naming_it(
    mc_task: Path, tmp_path: Path, line: Any, problem: str
) -> None:
    predictions = write_lines(tmp_path / "p.jsonl", [{"id": "m2", "option_logprobs": [-1.0, -2.0]}, line])
    with pytest.raises(DataError) as caught:
        api.score("toy_mc", predictions, include=[mc_task])
    message = str(caught.value)
    assert message.startswith(f"{predictions}, line 2: ") and problem in message
