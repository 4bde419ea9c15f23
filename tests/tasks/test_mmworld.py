"""MMWorld: eval.py's per-file question rule, the official prompt, answer post-processing and the
yes/no judge through the judge role (replayed and against a real HTTP server), per-flag
denominators, and lmms-eval's letter rule as a profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlens import api
from mmlens.tasks.mmworld.metric import answer_post_processing, judge_prompt
from tests.fixtures.fault_server import FaultServer
from tests.fixtures.mmworld_data import build_mmworld

pytestmark = pytest.mark.timeout(120)


def test_answer_post_processing_as_main_utils() -> None:
    assert answer_post_processing("The answer is B. Because...") == "b"
    assert answer_post_processing("'c': green") == "c'"  # quotes stripped before the ':' split
    assert answer_post_processing("D: it's yellow.") == "d"
    assert answer_post_processing("  A") == "a"


def test_judge_prompt_as_main_utils() -> None:
    prompt = judge_prompt("Q?", {"a": "x", "b": "y"}, "b", "b")
    assert prompt == (
        "For question: Q?\nOption A: x\nOption B: y(please select one)\nGround truth answer: b\n"
        "Model predicted answer: b\nBased on the question and the ground truth answer, is the model's "
        "predicted answer correct? If multi-choice provided, think about which choice is selected by the "
        "model, is it correct? (please answer yes/no)\n"
    )


def write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_questions_only_copy_scores_with_replayed_judge(tmp_path: Path) -> None:
    data = build_mmworld(tmp_path / "w", videos=False)  # no all_data: one sample per question
    rows = [
        {"id": "Science/clip1/0", "response": "The answer is b.", "judge": "Yes."},
        {"id": "Science/clip1/1", "response": "a", "judge": "no"},
        {"id": "Game/clip2/0", "response": "a", "judge": "YES"},
        {"id": "Business/missing/0", "response": "c", "judge": "Nope, wrong"},
    ]
    result = api.score("mmworld", write(tmp_path / "p.jsonl", rows), data=str(data)).results
    assert result["metrics"]["acc"]["value"] == pytest.approx(2 / 4)
    breakdown = result["breakdown"]
    assert breakdown["flag/requires_audio"]["acc"]["n"] == 1  # the denominator is the flagged questions
    assert breakdown["flag/requires_audio"]["acc"]["value"] == 0.0
    assert breakdown["flag/requires_domain_knowledge"]["acc"]["value"] == 1.0
    assert breakdown["flag/requires_video"]["acc"]["n"] == 4
    assert breakdown["flag/question_only"]["acc"]["n"] == 0
    assert breakdown["discipline/Game"]["acc"]["value"] == 1.0
    assert breakdown["type/Explanation"]["acc"]["value"] == pytest.approx(2 / 3)
    lmms = api.score(
        "mmworld",
        write(tmp_path / "q.jsonl", [{"id": r["id"], "response": r["response"]} for r in rows]),
        data=str(data),
        profile="lmms-eval",
    ).results
    # upper-case letters only: "The answer is b." -> "" ; "a" -> "" ... nothing matches
    assert lmms["metrics"]["acc"]["value"] == 0.0
    rows_upper = [{"id": row["id"], "response": str(row["response"]).upper()} for row in rows]
    lmms = api.score(
        "mmworld", write(tmp_path / "r.jsonl", rows_upper), data=str(data), profile="lmms-eval"
    ).results
    # "THE ANSWER IS B." -> the A of "ANSWER" (the prefix list is case-sensitive): A, A, A, C
    assert lmms["metrics"]["acc"]["value"] == pytest.approx(2 / 4)


def test_a_question_is_asked_once_per_mp4_and_judged_live(tmp_path: Path) -> None:
    data = build_mmworld(tmp_path / "w")
    with FaultServer() as server:
        result = api.evaluate(
            "mmworld",
            "constant",
            model_args="text=The answer is b.",
            data=str(data),
            output_dir=None,
            roles={"judge": "openai:judge"},
            role_args={"judge": f"base_url={server.base_url}"},
        )
        judged = [body for bodies in server.record.bodies.values() for body in bodies]
    ids = sorted(record.id for record in result.records)
    # two files for clip1 (its two questions twice), one for clip2, none for "missing" (skipped)
    assert ids == [
        "Game/clip2/0",
        "Science/clip1/0",
        "Science/clip1/0#b.mp4",
        "Science/clip1/1",
        "Science/clip1/1#b.mp4",
    ]
    assert result.results["counts"]["bad_samples"] == 1
    assert len(judged) == 3  # identical judge requests are asked once (the same question and answer)
    assert judged[0]["messages"][0]["content"] == "You are a helpful assistant that provides concise answers."
    assert "Model predicted answer: b\n" in judged[0]["messages"][1]["content"]
    text = result.records[0].prompt[0]["content"][1]["text"]
    assert text.startswith("Answer the question ")
    assert "{'a': 'red', 'b': 'blue', 'c': 'green', 'd': \"it's yellow\"}" in text
    assert result.records[0].prompt[0]["content"][0]["sampling"]["frames"] == 8
