"""MME-VideoOCR: the three scoring modes as utils.py / process_results.py score them, the
translation judge through the judge role (replayed and live), sum / 2000, and a run on real mp4s."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlens import api
from mmlens.tasks.mme_videoocr.metric import containment_score, extract_characters_regex
from tests.fixtures.fault_server import FaultServer
from tests.fixtures.mme_videoocr_data import build_mme_videoocr

pytestmark = pytest.mark.timeout(120)


def test_containment_rules_auto_and_manual() -> None:
    gt = "Don’t Stop; EXIT"
    assert containment_score("he said: don't stop at the exit", gt, "text_recognition") == 1.0
    assert containment_score("don't stop", gt, "text_recognition") == 0.0  # every ;-part needed
    # manual: the gt keeps its case, pred is lower-cased -> capitals in the gt can never match
    assert containment_score("DON'T STOP EXIT", gt, "text_recognition", manual=True) == 0.0
    assert containment_score("abc", "abc", "text_recognition", manual=True) == 1.0
    # exact tasks: the gt is stripped, the prediction is not
    assert containment_score("Left Right", "Left Right ", "trajectory_recognition") == 1.0
    assert containment_score("Left Right ", "Left Right ", "trajectory_recognition") == 0.0
    assert containment_score("left right", "Left Right", "scrambled_recognition") == 0.0


def test_multiple_choice_prefixes() -> None:
    assert extract_characters_regex("Answer: C") == "C"  # "Answer" removed anywhere
    assert extract_characters_regex("The best option is D") == "D"
    assert extract_characters_regex("Best option: B") == "B"  # removed here (commas present)
    assert extract_characters_regex("Definitely A") == "D"  # first capital A-D
    assert extract_characters_regex("c") == ""


def predictions(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def test_score_with_replayed_judge_replies(tmp_path: Path) -> None:
    data = build_mme_videoocr(tmp_path / "ocr", videos=False)
    lines = [
        {"id": "0", "response": "Don't stop at the EXIT"},  # 1
        {"id": "1", "response": "Left Right"},  # 1 (gt stripped)
        {"id": "2", "response": "The answer is C."},  # 1
        {"id": "3", "response": "Hello world", "judge": "Correct"},  # 1
        {"id": "4", "response": "Good night", "judge": "incorrect"},  # "correct" in "incorrect": 1
    ]
    result = api.score("mme_videoocr", predictions(tmp_path / "p.jsonl", lines), data=str(data)).results
    metrics = result["metrics"]
    assert metrics["sum"]["value"] == 5.0
    assert metrics["acc"]["value"] == pytest.approx(5 / 2000)  # the hard-coded denominator
    assert metrics["acc_of_run"]["value"] == 1.0
    lines[4]["judge"] = "wrong"
    lines[0]["response"] = "DON'T STOP EXIT"
    again = api.score("mme_videoocr", predictions(tmp_path / "q.jsonl", lines), data=str(data)).results
    assert again["metrics"]["sum"]["value"] == 4.0
    assert again["breakdown"]["task/translation"]["score"]["value"] == pytest.approx(0.5)
    manual = api.score(
        "mme_videoocr", predictions(tmp_path / "q.jsonl", lines), data=str(data), profile="videoocr_manual"
    ).results
    assert manual["metrics"]["sum"]["value"] == 3.0  # the capitalised gt no longer matches


def test_run_on_videos_with_a_live_judge_through_openai(tmp_path: Path) -> None:
    data = build_mme_videoocr(tmp_path / "ocr")
    with FaultServer() as server:
        result = api.evaluate(
            "mme_videoocr",
            "constant",
            model_args="text=The answer is C",
            data=str(data),
            output_dir=None,
            roles={"judge": "openai:judge"},
            role_args={"judge": f"base_url={server.base_url}"},
        )
        judged = [body for bodies in server.record.bodies.values() for body in bodies]
    assert result.results["counts"]["errors"] == 0
    assert len(judged) == 2  # the two translation questions
    assert judged[0]["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    assert "Sentence 2: The answer is C" in judged[0]["messages"][1]["content"]
    prompt = result.records[2].prompt[0]["content"]
    assert prompt[0]["type"] == "video"
    assert prompt[1]["text"].endswith("Option:\nA. stop\nB. go\nC. yield\nD. exit\nThe best answer is:")
