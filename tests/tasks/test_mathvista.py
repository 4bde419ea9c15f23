"""MathVista on synthetic problems: the official shortcuts and normalisation (every value below was
also produced by extract_answer.py / calculate_score.py@53d5258, run outside the repository on the
same inputs), the judge path end to end with the constant backend as judge, the rules profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlens import api
from mmlens.tasks.mathvista.ext_ans import DEMO_PROMPT
from mmlens.tasks.mathvista.metric import create_test_prompt, normalize_extracted_answer, rule_extraction
from tests.fixtures.benchmark_data import write_predictions
from tests.fixtures.ocrbench_mmmu_mathvista import (
    MATHVISTA_PROBLEMS,
    build_mathvista_json,
    build_mathvista_parquet,
)

CHOICES = ["3/11", "8/11", "6/11", "3/5"]


@pytest.mark.parametrize(
    ("response", "question_type", "answer_type", "quick", "extracted"),
    [
        ("", "free_form", "integer", False, ""),  # empty: "" without a judge
        ("8/11", "multi_choice", "text", False, "8/11"),  # one of the choices
        ("B", "multi_choice", "text", False, None),  # a letter goes to the judge
        (" 14 ", "free_form", "integer", False, "14"),  # int() strips
        ("14.0", "free_form", "integer", False, None),
        ("1_000", "free_form", "integer", False, "1000"),  # int() reads underscores
        ("٣", "free_form", "integer", False, "3"),  # and other scripts' digits
        ("1e3", "free_form", "float", False, "1000.0"),
        ("1.50", "free_form", "float", False, "1.5"),
        ("nan", "free_form", "float", False, "nan"),
        ('The answer is "42".', "free_form", "integer", False, None),  # quick_extract is opt-in
        ('The answer is "42".', "free_form", "integer", True, "42"),
    ],
)
def test_official_shortcuts(
    response: str, question_type: str, answer_type: str, quick: bool, extracted: str | None
) -> None:
    choices = CHOICES if question_type == "multi_choice" else None
    assert rule_extraction(response, question_type, answer_type, choices, quick) == extracted


@pytest.mark.parametrize(
    ("extraction", "question_type", "answer_type", "precision", "normalized"),
    [
        ("B", "multi_choice", "text", None, "8/11"),
        ("(c) 6/11", "multi_choice", "text", None, "6/11"),  # "(x)" -> X, case folded
        ("b", "multi_choice", "text", None, "3/5"),  # a lower-case letter: the closest choice
        ("", "multi_choice", "text", None, "3/5"),  # empty: the closest (shortest) choice
        ("8/12", "multi_choice", "text", None, "8/11"),  # Levenshtein-closest, first of equals
        ("E", "multi_choice", "text", None, "3/5"),  # a letter past the choices
        ("14.0", "free_form", "integer", None, "14"),
        ("14.7", "free_form", "integer", None, "14"),  # int() truncates
        ("1,000", "free_form", "integer", None, None),  # no thousands separators
        ("1e3", "free_form", "integer", None, "1000"),
        ("inf", "free_form", "integer", None, None),
        ("1.455", "free_form", "float", 2.0, "1.46"),
        ("2", "free_form", "float", 1.0, "2.0"),
        ("50%", "free_form", "float", 1.0, None),  # no percentages
        ("0.6", "free_form", "float", None, None),  # no precision: int(None) fails
        ("[2007, 2008]", "free_form", "list", None, "[2007, 2008]"),
    ],
)
def test_official_normalisation(
    extraction: str, question_type: str, answer_type: str, precision: float | None, normalized: str | None
) -> None:
    choices = CHOICES if question_type == "multi_choice" else None
    assert (
        normalize_extracted_answer(extraction, choices, question_type, answer_type, precision) == normalized
    )


def test_ignore_empty_extractions() -> None:
    assert (
        normalize_extracted_answer("", CHOICES, "multi_choice", "text", None, ignore_empty_extractions=True)
        is None
    )


def test_judge_prompt_is_the_official_one() -> None:
    prompt = create_test_prompt("QUERY", "RESPONSE")
    assert prompt == DEMO_PROMPT.strip() + "\n\nQUERY\n\nRESPONSE\n\nExtracted answer: "
    assert prompt.startswith("Please read the following example.")
    assert "Choices:\n(A) 3/11\n(B) 8/11" in prompt  # real newlines, as Python reads the official file


RESPONSES: dict[str, str | None] = {
    "1": "The correct answer is (B) 8/11.",  # judge
    "2": "14",  # integer shortcut
    "3": "It costs $1.45 in total.",  # judge
    "4": "0.6",  # float shortcut: "0.6" -> round(0.6, 1) -> "0.6"
}


def test_judge_path_end_to_end(tmp_path: Path) -> None:
    data = build_mathvista_json(tmp_path / "mv")
    predictions = write_predictions(tmp_path / "p.jsonl", RESPONSES)
    result = api.score(
        "mathvista_testmini",
        predictions,
        data=data,
        roles={"judge": "constant"},
        role_args={"judge": "text= B \n"},
        store=tmp_path / "store.sqlite",
    )
    records = {record.id: record for record in result.records}
    assert records["1"].extraction == "judge" and records["1"].answer == "B" and records["1"].correct
    assert records["3"].extraction == "judge" and records["3"].answer == "B" and not records["3"].correct
    assert records["2"].extraction == "exact" and records["2"].correct
    assert records["4"].correct
    judge_turn = records["1"].exchanges[-1]
    assert (
        judge_turn.role == "judge" and judge_turn.response is not None and judge_turn.response.strip() == "B"
    )
    sent = judge_turn.prompt[0]["content"][0]["text"]
    assert sent == create_test_prompt(MATHVISTA_PROBLEMS[0]["query"], str(RESPONSES["1"]))
    assert len(records["2"].exchanges) == 0 or all(e.role != "judge" for e in records["2"].exchanges)
    metrics, breakdown = result.results["metrics"], result.results["breakdown"]
    assert metrics["acc"]["value"] == pytest.approx(3 / 4)
    assert breakdown["question_type=multi_choice"]["acc"]["value"] == 1.0
    assert breakdown["answer_type=float"]["acc"]["value"] == 0.5
    assert breakdown["language=chinese"]["acc"]["n"] == 1
    assert breakdown["skills=logical reasoning"]["acc"]["n"] == 1
    assert breakdown["skills=arithmetic reasoning"]["acc"]["n"] == 4  # a problem counts in each of its skills
    assert result.results["provenance"]["roles"]["judge"]["label"] == "constant"


def test_an_empty_judge_reply_is_a_failed_extraction(tmp_path: Path) -> None:
    data = build_mathvista_json(tmp_path / "mv")
    predictions = write_predictions(tmp_path / "p.jsonl", RESPONSES)
    result = api.score(
        "mathvista_testmini",
        predictions,
        data=data,
        roles={"judge": "constant"},
        role_args={"judge": "text="},
    )
    assert result.results["counts"]["failed_extraction"] == 2
    assert result.results["metrics"]["acc"]["value"] == 0.5


def test_rules_profile_asks_no_judge(tmp_path: Path) -> None:
    data = build_mathvista_parquet(tmp_path / "testmini-00000-of-00001.parquet")
    responses = {**RESPONSES, "3": 'The answer is "1.45".'}
    result = api.score(
        "mathvista_testmini", write_predictions(tmp_path / "p.jsonl", responses), data=data, profile="rules"
    )
    records = {record.id: record for record in result.records}
    assert records["1"].extraction == "failed" and not records["1"].correct
    assert records["3"].answer == "1.45" and records["3"].correct  # quick_extract
    assert result.results["metrics"]["acc"]["value"] == pytest.approx(3 / 4)
    assert "roles" not in result.results["provenance"] or not result.results["provenance"]["roles"]


def test_prompt_is_the_query_with_the_image(tmp_path: Path) -> None:
    data = build_mathvista_parquet(tmp_path / "testmini-00000-of-00001.parquet")
    result = api.evaluate(
        "mathvista_testmini", "constant", model_args="text=14", data=data, output_dir=None, profile="rules"
    )
    content = result.records[0].prompt[0]["content"]
    assert content[0]["type"] == "image" and content[1]["text"] == MATHVISTA_PROBLEMS[0]["query"]
    assert result.results["metrics"]["acc"]["value"] == 0.25  # "14": the integer problem only
