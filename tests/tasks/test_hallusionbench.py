"""HallusionBench: the official judge protocol through the judge role, the official figure / pair
grouping for fAcc and qAcc worked out by hand (and by the official utils.py functions, see the
README), and VLMEvalKit's judge-free yes/no rule and keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlens import api
from mmlens.tasks.hallusionbench.metric import extract_yes_no_vlmevalkit, judge_prompt, parse_judge_reply
from tests.fixtures.standard_suite_data import (
    HALLUSIONBENCH_ROWS,
    build_hallusionbench_json,
    build_hallusionbench_parquet,
)

IDS = [
    "_".join(str(r[k]) for k in ("category", "subcategory", "set_id", "figure_id", "question_id"))
    for r in HALLUSIONBENCH_ROWS
]


def lines(path: Path, responses: list[str], judge: list[str] | None = None) -> Path:
    rows = []
    for index, (sample_id, response) in enumerate(zip(IDS, responses, strict=True)):
        row: dict[str, object] = {"id": sample_id, "response": response}
        if judge is not None:
            row["roles"] = {"judge": judge[index]}
        rows.append(row)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ("correct", "1"),
        ("Correct.", "1"),
        ("incorrect", "0"),
        ("The prediction is INCORRECT", "0"),
        ("This is not correct", "1"),  # only the substrings count
        ("unclear", "2"),
        ("", "2"),
        ("The answer is right", "2"),
    ],
)
def test_judge_reply_rule(reply: str, code: str) -> None:
    assert parse_judge_reply(reply) == code


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("Yes", "Yes"),
        ("yes.", "Yes"),
        ("No, it is not.", "No"),
        ("NO!", "No"),
        ("Yes and no", "Unknown"),
        ("I don't know", "Unknown"),
        ("Yes-or-no", "Unknown"),  # "-" deleted when no mark is next to a space: "yesorno"
        ("yes,no", "Unknown"),  # "," replaced by a space: both words
        ("", "Unknown"),
    ],
)
def test_vlmevalkit_yes_no_rule(response: str, answer: str) -> None:
    assert extract_yes_no_vlmevalkit(response) == answer


def test_the_official_judge_prompt_byte_for_byte() -> None:
    text = judge_prompt("Is it red?", "It is red.", "Yes")
    assert text.startswith("Imagine you are an intelligent teacher. Thoroughly read the question")
    assert (
        "please generate \u201ccorrect\u201d." in text
        and 'please generate "unclear". \n\n Question:Is it red?' in text
    )
    assert text.endswith("\nReference answer: It is red.\nPrediction answer:Yes\nOutput:")


# Judge verdicts per question (ids in HALLUSIONBENCH_ROWS order) and what the official rule makes of them.
VERDICTS = [
    "Correct.",
    "incorrect",
    "correct",
    "correct",
    "unclear",
    "The prediction is Incorrect",
    "correct",
    "correct",
    "I am not sure",
]
# right: 1 0 1 1 | 1 (unclear on a VS question without a figure) 0 1 1 | 0 (unclear with a figure)


def test_official_grouping_by_hand(tmp_path: Path) -> None:
    data = build_hallusionbench_json(tmp_path / "hb")
    predictions = lines(tmp_path / "p.jsonl", ["yes"] * 9, VERDICTS)
    result = api.score("hallusionbench", predictions, data=data, store=tmp_path / "s.sqlite")
    metrics = {name: value["value"] for name, value in result.results["metrics"].items()}
    assert metrics["aAcc"] == pytest.approx(6 / 9)
    # figures: VD_ocr_0_0 (1, 0) no; VD_ocr_0_1 yes; VS_chart_0_0 left out; VS_chart_0_1 yes;
    # VS_ocr_0_1 (0) no
    assert metrics["fAcc"] == pytest.approx(2 / 4)
    # pairs: VD_ocr_0_0 (q0 on figures 0, 1) yes; VD_ocr_0_1 no; VS_chart_0_0 yes; VS_chart_0_1 no;
    # VS_ocr_0_0 no
    assert metrics["qAcc"] == pytest.approx(2 / 5)
    assert metrics["easy_aAcc"] == pytest.approx(2 / 4)  # pairs among visual_input 0/1
    assert metrics["hard_aAcc"] == pytest.approx(2 / 3)  # pairs among visual_input 2
    vd = {name: value["value"] for name, value in result.results["breakdown"]["VD"].items()}
    assert (vd["aAcc"], vd["fAcc"], vd["qAcc"]) == (pytest.approx(3 / 4), 0.5, 0.5)
    assert [r.answer for r in result.records][:5] == ["correct", "incorrect", "correct", "correct", "unclear"]
    assert result.results["counts"]["errors"] == 0


def test_vlmevalkit_profile_yes_no_and_keys_without_category(tmp_path: Path) -> None:
    data = build_hallusionbench_json(tmp_path / "hb")
    responses = [
        "Yes",
        "No, it is not.",
        "yes and no",
        "Yes!",
        "I don't know",
        "no",
        "Yes, the chart shows it",
        "NO.",
        "No",
    ]
    result = api.score(
        "hallusionbench", lines(tmp_path / "p.jsonl", responses), data=data, profile="vlmevalkit"
    )
    metrics = {name: value["value"] for name, value in result.results["metrics"].items()}
    assert metrics["aAcc"] == pytest.approx(7 / 9)  # Unknown is wrong, even without a figure
    # figures ocr_0_0 yes; ocr_0_1 (VD 2, 3 and VS 8 together) no; chart_0_0 (no-figure questions
    # counted) no; chart_0_1 yes
    assert metrics["fAcc"] == pytest.approx(2 / 4)
    # pairs ocr_0_0 (VD q0 x2 and VS q0) no; ocr_0_1 yes; chart_0_0 no; chart_0_1 yes
    assert metrics["qAcc"] == pytest.approx(2 / 4)
    assert "easy_aAcc" not in metrics
    assert result.results["counts"]["failed_extraction"] == 2


def test_judge_path_end_to_end_with_a_constant_judge(tmp_path: Path) -> None:
    data = build_hallusionbench_json(tmp_path / "hb")
    predictions = lines(tmp_path / "p.jsonl", ["Yes"] * 8 + [""])  # an empty response is judged too
    result = api.score(
        "hallusionbench",
        predictions,
        data=data,
        roles={"judge": "constant"},
        role_args={"judge": "text=Output: unclear"},
        store=tmp_path / "s.sqlite",
    )
    # unclear everywhere: right only for the two VS questions without a figure
    assert result.results["metrics"]["aAcc"]["value"] == pytest.approx(2 / 9)
    assert result.results["metrics"]["qAcc"]["value"] == 0.0
    first = result.records[0]
    assert first.extraction == "judge" and first.details["verdict"] == "2"
    (exchange,) = [e for e in first.exchanges if e.role == "judge"]
    sent = json.dumps(exchange.prompt)
    assert "Reference answer: Statement 0 is true." in sent and "Prediction answer:Yes" in sent
    roles = result.results["provenance"]["roles"]["judge"]
    assert roles["label"] == "constant" and roles["task_default"] == "openai:gpt-4"
    last = result.records[-1]
    assert last.response == "" and last.answer == "unclear"


def test_parquet_splits_and_the_lmms_eval_profile(tmp_path: Path) -> None:
    data = build_hallusionbench_parquet(tmp_path / "hb")
    both = api.plan("hallusionbench", data=data).to_dict()
    image_only = api.plan("hallusionbench", data=data, profile="lmms-eval").to_dict()
    assert len(both["samples"]) == 9 and len(image_only["samples"]) == 7
    text = json.dumps(both)
    assert "VS_chart_0_0_0" in text and "VD_ocr_0_1_1" in text


def test_a_questions_only_json_copy_loads_for_scoring(tmp_path: Path) -> None:
    data = build_hallusionbench_json(tmp_path / "hb")
    plan = api.plan("hallusionbench", data=data).to_dict()
    assert len(plan["samples"]) == 9
