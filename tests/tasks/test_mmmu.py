"""MMMU on synthetic rows in the hub's per-subject layout: the official parser (every value below
was also produced by mmmu/utils/eval_utils.py@bb0b95a, run outside the repository on the same
inputs), the seeded random fallback in the official order, the prompt, and the no-guess profile."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from mmlens import api
from mmlens.tasks.mmmu.metric import eval_open, parse_multi_choice, parse_open
from tests.fixtures.benchmark_data import write_predictions
from tests.fixtures.ocrbench_mmmu_mathvista import OPTIONS, build_mmmu_folder

LETTERS = ["A", "B", "C", "D"]
INDEX2ANS = dict(zip(LETTERS, OPTIONS, strict=True))


@pytest.mark.parametrize(
    ("response", "letter"),
    [
        ("A", "A"),
        ("(B)", "B"),
        ("The answer is (C).", "C"),
        ("I think A or B", "B"),  # several candidates: the last one
        ("(A) and then (B)", "B"),
        ("B, C", "C"),
        ("Answer: D.", "D"),
        ("A.", "A"),  # the end punctuation is stripped
        ("C:", "C"),
        ("'D'", "D"),
        ("Option C is right, not D", "D"),  # the last letter, whatever it says
        ("It is clearly 15 cm because the ruler shows it", "B"),  # > 5 words: option text
        ("The length is 21 cm and not 12 cm at all here", "A"),  # the option text found last
        ("b", None),  # lower case is no candidate: the official code guesses
        ("(b)", None),
        ("A,B", None),  # letters glued to punctuation inside a short response
        ("", None),
    ],
)
def test_official_multiple_choice_parse(response: str, letter: str | None) -> None:
    assert parse_multi_choice(response, LETTERS, INDEX2ANS) == letter


@pytest.mark.parametrize(
    ("response", "parsed"),
    [
        ("1,250", [250.0, 1250.0]),  # thousands separator: both patterns match
        ("The answer is 3.14159.", [3.14]),  # floats rounded to 2 places
        ("so the result is 24/7", [7.0, 24.0, "24/7"]),
        ("It is 12. So final answer = 14", [14.0]),
        ("-120 V", [-120.0, "-120 v"]),  # units stay in the string
        ("1.2e3", [1.0, 3.0, 1200.0]),
        ("two", ["two"]),  # no number words
        ("The value is 50%", [50.0, "50%"]),
        ("C", [" c", "c "]),  # one character: padded
        ("", [""]),
    ],
)
def test_official_open_parse(response: str, parsed: list[str | float]) -> None:
    assert sorted(map(str, parse_open(response))) == sorted(map(str, parsed))


@pytest.mark.parametrize(
    ("answers", "response", "correct"),
    [
        (["24/7", "3.429"], "3.429", True),
        (["-120"], "-120 V", True),
        (["C"], "the answer is c", True),
        (["1000"], "1,000", True),
        (["0.10"], "0.1", True),
        (["embryonic"], "Embryonic stage", True),  # a gold string inside a prediction
        (["8"], "eight", False),
    ],
)
def test_official_open_scoring(answers: list[str], response: str, correct: bool) -> None:
    assert eval_open(answers, parse_open(response)) is correct


def test_the_random_fallback_is_the_official_stream() -> None:
    """random.seed(42) then random.choice(all_choices) per unparsed question, one stream; the
    official parse gives A, A, C, A, B for these five (four-, two-, five-, three-, four-letter)."""
    rng = random.Random(42)
    draws = [rng.choice(letters) for letters in (LETTERS, ["A", "B"], [*LETTERS, "E"], LETTERS[:3], LETTERS)]
    assert draws == ["A", "A", "C", "A", "B"]


# Official order: Accounting_1, Accounting_2, Art_1, Electronics_1 (open), Electronics_2, Math_1,
# Math_2 (open). The folders are written Accounting, Math, Art, Electronics.
UNPARSED: dict[str, str | None] = {
    "validation_Math_1": "no idea",
    "validation_Math_2": "so the answer is 24/7",
    "validation_Accounting_1": "nothing",
    "validation_Accounting_2": "B",
    "validation_Art_1": "hmm",
    "validation_Electronics_1": "The voltage is -120 V",
    "validation_Electronics_2": "???",
}


def test_score_reproduces_the_official_random_fallback(tmp_path: Path) -> None:
    """The official parse of these responses, in the official order, gives A (draw 1), B, A
    (draw 2), C (draw 3), B (draw 4): Random(42) draws A, A, C, B with four letters."""
    data = build_mmmu_folder(tmp_path / "MMMU")
    predictions = write_predictions(tmp_path / "p.jsonl", UNPARSED)
    result = api.score("mmmu_val", predictions, data=data)
    answers = {record.id: record.answer for record in result.records}
    assert [record.id for record in result.records][:3] == [
        "validation_Accounting_1", "validation_Accounting_2", "validation_Art_1",
    ]  # fmt: skip
    assert answers["validation_Accounting_1"] == "A"  # draw 1 (answer A: right)
    assert answers["validation_Accounting_2"] == "B"  # parsed (answer C: wrong)
    assert answers["validation_Art_1"] == "A"  # draw 2 (answer D: wrong)
    assert answers["validation_Electronics_2"] == "C"  # draw 3 (answer B: wrong)
    assert answers["validation_Math_1"] == "B"  # draw 4 (answer B: right)
    metrics = result.results["metrics"]
    assert metrics["random_guesses"]["value"] == 4
    # right: Accounting_1, Math_1 (guesses), Electronics_1 (-120), Math_2 (24/7): 4 of 7
    assert metrics["acc"]["value"] == pytest.approx(4 / 7)
    breakdown = result.results["breakdown"]
    assert breakdown["Business/Accounting"]["acc"]["value"] == 0.5
    assert breakdown["Science/Math"]["acc"]["value"] == 1.0
    assert breakdown["Tech and Engineering"]["acc"]["value"] == 0.5
    again = api.score("mmmu_val", predictions, data=data)  # a second pass restarts the stream
    assert {record.id: record.answer for record in again.records} == answers


def test_no_guess_counts_an_unparsed_answer_wrong(tmp_path: Path) -> None:
    data = build_mmmu_folder(tmp_path / "MMMU")
    predictions = write_predictions(tmp_path / "p.jsonl", UNPARSED)
    result = api.score("mmmu_val", predictions, data=data, profile="no-guess")
    assert result.results["metrics"]["acc"]["value"] == pytest.approx(2 / 7)  # the two open answers
    assert result.results["counts"]["failed_extraction"] == 4
    assert result.results["metrics"]["random_guesses"]["value"] == 0


def test_official_prompts_and_dev_variant(tmp_path: Path) -> None:
    data = build_mmmu_folder(tmp_path / "MMMU")
    result = api.evaluate("mmmu_val", "constant", model_args="text=(A)", data=data, output_dir=None)
    prompts = {record.id: record.prompt[0]["content"] for record in result.records}
    first = prompts["validation_Accounting_1"]
    assert first[0]["type"] == "image"
    assert first[1]["text"] == (
        "<image 1> Question 1 of Accounting?\n(A) 12 cm\n(B) 15 cm\n(C) 18 cm\n(D) 21 cm\n\n"
        "Answer with the option's letter from the given choices directly."
    )
    assert prompts["validation_Math_2"][1]["text"] == (
        "<image 1> Question 2 of Math?\nAnswer the question using a single word or phrase."
    )
    dev = api.evaluate("mmmu_dev", "constant", model_args="text=A", data=data, output_dir=None)
    assert sorted(record.id for record in dev.records)[0] == "dev_Accounting_1"
    assert dev.results["metrics"]["acc"]["value"] == 1.0
