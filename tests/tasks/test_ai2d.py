"""AI2D, ScienceQA-IMG and RealWorldQA: the lmms-eval and VLMEvalKit option-letter rules (values
worked out from lmms-eval@75571cf and VLMEvalKit@e8e78f05), and micro accuracy through mmlens score."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.task import TaskCatalog
from mmlens.tasks.ai2d.harness_rules import can_infer, extract_mcq_answer
from mmlens.tasks.ai2d.metric import (
    extract_ai2d_lmms_eval,
    extract_realworldqa_lmms_eval,
    extract_scienceqa_lmms_eval,
)
from tests.fixtures.benchmark_data import write_predictions
from tests.fixtures.standard_suite_data import build_ai2d, build_realworldqa, build_scienceqa

OPTIONS = {"A": "larva", "B": "adult", "C": "pupa", "D": "nymph"}


@pytest.mark.parametrize(
    ("response", "letter"),
    [
        ("B", "B"),
        (" B\n", "B"),  # filter misses (no period), then strip
        ("B. adult", "B"),  # ^\s*([A-Z])\. at the start
        ("  C. pupa", "C"),
        ("b.", "B"),  # the filter is case-sensitive, exact_match then drops case and punctuation
        ("(B)", "B"),  # punctuation removed
        ("B is right", None),  # "b is right" != "b"
        ("The answer is B.", None),
        ("AB", None),  # two letters: "ab" != "a"
        ("adult", None),  # option text instead of a letter
        ("", None),
    ],
)
def test_ai2d_lmms_eval_rule(response: str, letter: str | None) -> None:
    assert extract_ai2d_lmms_eval(response).answer == letter


@pytest.mark.parametrize(
    ("response", "letter"),
    [
        ("A", "A"),
        ("a", "A"),  # pred.lower() == target
        (" A. mole ", "A"),  # ^[A-Z]\.: the upper-case letter before the period
        ("a. mole", None),  # lower-case first letter: neither branch
        ("A)", None),
        ("(A)", None),
        ("The answer is A", None),  # "T." is not there: wrong
        ("mole", None),
        ("", None),
    ],
)
def test_scienceqa_lmms_eval_rule(response: str, letter: str | None) -> None:
    assert extract_scienceqa_lmms_eval(response).answer == letter


@pytest.mark.parametrize(
    ("response", "letter"),
    [
        ("B", "B"),
        ("The correct answer is (C).", "C"),  # "phrase" (7) beats "parentheses" (6)
        ("A or B? I choose B", "A"),  # starts with a standalone A: "start" (10) beats "end" (9)
        ("C. towards the camera", "C"),  # "start" (10)
        ("Between A and B, it is B.", "B"),  # stripped of the final ".", ends with B
        ("b", ""),  # letters are matched upper-case only
        ("Definitely", "D"),  # no format matches: the fallback finds the capital D
        ("", ""),
        ("Apple", "A"),  # fallback: the capital A inside a word
    ],
)
def test_lmms_eval_extract_mcq_answer(response: str, letter: str) -> None:
    assert extract_mcq_answer(response) == letter


@pytest.mark.parametrize(
    ("response", "target", "answer", "right"),
    [
        ("B.", "B", "B", True),
        ("Downhill.", "Downhill", "downhill", True),  # lower, strip, rstrip(".")
        ("downhill road", "Downhill", "downhill road", False),
        ("3", "3", "3", True),
        ("three", "3", "three", False),
    ],
)
def test_realworldqa_lmms_eval_rule(response: str, target: str, answer: str, right: bool) -> None:
    extraction = extract_realworldqa_lmms_eval(response, target)
    assert extraction.answer == answer
    metric = TaskCatalog().load("realworldqa").metric
    from mmlens.core.sample import Sample

    sample = Sample(id="0", messages=[], target=target)
    assert metric.score(sample, extraction)["acc"] == float(right)


@pytest.mark.parametrize(
    ("response", "letter"),
    [
        ("B", "B"),
        ("The answer is (B).", "B"),  # one letter among the last 4 words
        ("B. adult", "B"),
        ("A and B", None),  # two letters: can_infer_option gives up; no option text either
        (
            "B is correct because the larva grows into an adult later on",
            "B",
        ),  # verbose regex? no: B is word 0 of 12
        ("I think adult", "B"),  # option text, short enough
        ("adult or larva", None),  # two option texts
        ("Cannot determine the answer", "Z"),  # a refusal: VLMEvalKit's no answer
        ("Z", "Z"),
        ("", None),
    ],
)
def test_vlmevalkit_can_infer(response: str, letter: str | None) -> None:
    if response.startswith("B is correct"):
        # B is a word, but not among the last 4 -> no letter; the text holds "larva" and "adult" -> none
        assert can_infer(response, dict(OPTIONS)) is None
        return
    assert can_infer(response, dict(OPTIONS)) == letter


def test_ai2d_scores_by_hand_under_both_profiles(tmp_path: Path) -> None:
    data = build_ai2d(tmp_path / "ai2d")  # targets: 0 A, 1 C, 2 B, 3 B (3 options)
    responses: dict[str, str | None] = {"0": "A. larva", "1": "(C)", "2": "B is the root", "3": "6"}
    predictions = write_predictions(tmp_path / "p.jsonl", responses)
    lmms = api.score("ai2d", predictions, data=data).results
    assert lmms["metrics"]["acc"]["value"] == pytest.approx(2 / 4)  # 0, 1 right; "b is the root" != "b"
    vlm = api.score("ai2d", predictions, data=data, profile="vlmevalkit").results
    # 0: A (word 0 of 2); 1: C; 2: B is word 0 of 4, within the last 4 -> B; 3: "6" is option B's text
    assert vlm["metrics"]["acc"]["value"] == pytest.approx(4 / 4)
    assert lmms["counts"]["failed_extraction"] == 2


def test_ai2d_questions_only_copy_scores(tmp_path: Path) -> None:
    data = build_ai2d(tmp_path / "ai2d", with_images=False)
    predictions = write_predictions(tmp_path / "p.jsonl", {"0": "A", "1": "C", "2": "B", "3": "A"})
    assert api.score("ai2d", predictions, data=data).results["metrics"]["acc"]["value"] == pytest.approx(
        3 / 4
    )


def test_ai2d_prompts_as_the_harnesses_build_them(tmp_path: Path) -> None:
    data = build_ai2d(tmp_path / "ai2d")
    texts = {p: api.plan("ai2d", data=data, profile=p, limit=1).to_dict() for p in (None, "vlmevalkit")}
    default = str(texts[None])
    assert (
        "Which stage comes after the egg?\\nA. larva\\nB. adult\\nC. pupa\\nD. nymph\\nAnswer with the option"
        in default
    )
    vlm = str(texts["vlmevalkit"])
    assert "Question: Which stage comes after the egg?\\nOptions:\\nA. larva" in vlm
    assert "Please select the correct answer from the options above. \\n" in vlm


def test_scienceqa_context_line_and_accuracy(tmp_path: Path) -> None:
    data = build_scienceqa(tmp_path / "sqa")  # targets: 0 A, 1 C, 2 A
    plan = str(api.plan("scienceqa_img", data=data, limit=2).to_dict())
    assert "Context: Moles live underground.\\nWhich animal" in plan
    assert "Context: \\n" not in plan  # an empty hint adds no line
    predictions = write_predictions(tmp_path / "p.jsonl", {"0": "A. mole", "1": "c", "2": "a. 60 C"})
    result = api.score("scienceqa_img", predictions, data=data).results
    assert result["metrics"]["acc"]["value"] == pytest.approx(2 / 3)
    assert result["breakdown"]["natural science"]["acc"]["value"] == pytest.approx(1 / 2)


def test_realworldqa_letters_and_open_answers(tmp_path: Path) -> None:
    data = build_realworldqa(tmp_path / "rwqa")  # targets: B, A, 3, Downhill
    predictions = write_predictions(
        tmp_path / "p.jsonl", {"0": "The answer is B.", "1": "A", "2": "3.", "3": "uphill"}
    )
    assert api.score("realworldqa", predictions, data=data).results["metrics"]["acc"][
        "value"
    ] == pytest.approx(3 / 4)
    # VLMEvalKit: options read from the question lines; the open questions have none -> no answer
    vlm = api.score("realworldqa", predictions, data=data, profile="vlmevalkit").results
    assert vlm["metrics"]["acc"]["value"] == pytest.approx(2 / 4)
