"""TextVQA: the m4c normaliser and VQA accuracy, the other scorers as profiles, both data layouts.

Expected values were worked out with the official functions (mmf@b0ffc7f EvalAIAnswerProcessor /
TextVQAAccuracyEvaluator, GT-Vision-Lab/VQA@a013f00 vqaEval.py, VLMEvalKit vqa_eval.py, MiniCPM-V
vqa_evaluate.py), run outside the repository on the same inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.errors import DataError
from mmlens.tasks.textvqa.metric import normalize_m4c, normalize_vlmevalkit, textvqa_accuracy
from tests.fixtures.benchmark_helpers import prompt_text, write_predictions
from tests.fixtures.standard_vqa_data import build_textvqa_json, build_textvqa_parquet


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("The Dog", "dog"),  # case, article
        ("Two dogs", "2 dogs"),  # number word
        ("Ten", "10"),
        ("one two three", "1 2 3"),
        ("A", ""),  # an article alone leaves nothing
        ("an an", ""),
        ("it's", "it 's"),  # "'s" split
        ("Im", "im"),  # lower-cased before the (case-sensitive) contraction map
        ("dont", "don't"),
        ("1,000", "1000"),  # thousands separator deleted
        ("3.14", "3.14"),  # a period before a digit stays
        ("1.5.", "1.5"),
        ("v3.x", "v3x"),  # the mistyped look-behind removes a period after a digit too
        ("U.S.A.", "usa"),
        ("e.g. this", "eg this"),
        ("a" + "." * 40, "a" + "." * 8),  # re.UNICODE (32) is the count: 32 periods removed
        ("hello-world", "hello world"),  # no space next to "-": replaced by a space
        ("hello - world", "hello world"),  # a space next to "-": deleted
        ("(yes)", "yes"),
        ("what?", "what"),
        ("Coca-Cola, Inc.", "coca cola inc"),
        ("50%", "50%"),  # "%" is not punctuation here
        ("$5", "$5"),
        ("10 kg", "10 kg"),  # units stay
        ("ＡＢＣ", "ａｂｃ"),  # full-width letters are lower-cased, not folded
        ("new\nline", "new line"),
        ("", ""),
    ],
)
def test_m4c_normaliser(text: str, normalized: str) -> None:
    assert normalize_m4c(text) == normalized


def test_vlmevalkit_normaliser_differs_from_m4c_where_its_code_does() -> None:
    assert normalize_vlmevalkit("v3.x") == "v3.x"  # corrected period pattern
    assert normalize_vlmevalkit("1.5.") == "1.5."
    assert normalize_vlmevalkit("it's") == "it's"  # no "'s" split
    assert normalize_vlmevalkit("1,000") == "1000"  # digit-comma-digit: punctuation deleted
    assert normalize_vlmevalkit("x, y") == "x y"


TEN = 10
CASES = [
    # prediction, answers, m4c, vqa_eval_py, vlmevalkit, minicpm_v
    ("two", ["2"] * TEN, 1.0, 0.0, 1.0, 1.0),  # unanimous: vqaEval.py compares raw
    ("Coca Cola", ["coca cola"] * TEN, 1.0, 0.0, 1.0, 1.0),
    ("Coca Cola", ["coca cola"] * 9 + ["coke"], 1.0, 1.0, 1.0, 1.0),  # disagreement: normalised
    ("coca cola", ["Coca Cola"] * TEN, 1.0, 0.0, 1.0, 1.0),
    ("1,000", ["1000"] * 3 + ["1,000"] * 7, 1.0, 1.0, 1.0, 1.0),
    ("U.S.A.", ["usa"] * 4 + ["us"] * 6, 1.0, 1.0, 1.0, 1.0),
    ("v3.x", ["v3x"] * TEN, 1.0, 0.0, 0.0, 1.0),
    ("V3.X", ["v3.x"] * TEN, 1.0, 0.0, 1.0, 1.0),
    ("It's", ["it 's"] * 5 + ["its"] * 5, 1.0, 0.0, 0.0, 0.0),
    ("the dog", ["a dog"] * TEN, 1.0, 0.0, 1.0, 1.0),
    ("hello-world", ["hello world"] * TEN, 1.0, 0.0, 1.0, 1.0),
    ("what?", ["what"] * 4 + ["x"] * 6, 1.0, 1.0, 1.0, 1.0),
    ("x ,y", ["xy"] * 5 + ["q"] * 5, 0.0, 0.0, 0.0, 0.0),
    ("dog", ["dog"] + ["cat"] * 9, 0.3, 0.3, 0.3, 0.3),
    ("dog", ["dog"] * 2 + ["cat"] * 8, 0.6, 0.6, 0.6, 0.6),
    ("dog", ["dog"] * 3 + ["cat"] * 7, 0.9, 0.9, 0.9, 0.9),
    ("ＡＢＣ", ["abc"] * TEN, 0.0, 0.0, 0.0, 0.0),
    ("50%", ["50"] * TEN, 0.0, 0.0, 0.0, 0.0),
    ("", ["dog"] * TEN, 0.0, 0.0, 0.0, 0.0),
]


@pytest.mark.parametrize(("prediction", "answers", "m4c", "vqa", "vlm", "minicpm"), CASES)
def test_accuracy_under_each_scorer(
    prediction: str, answers: list[str], m4c: float, vqa: float, vlm: float, minicpm: float
) -> None:
    assert textvqa_accuracy(prediction, answers, "m4c") == pytest.approx(m4c)
    assert textvqa_accuracy(prediction, answers, "vqa_eval_py") == pytest.approx(vqa)
    assert textvqa_accuracy(prediction, answers, "vlmevalkit") == pytest.approx(vlm)
    assert textvqa_accuracy(prediction, answers, "minicpm_v") == pytest.approx(minicpm)


# fixture answers: 34602 2x "nous les gosses" + 8x "dakota"; 34603 10x "copenhagen";
# 34604 3x "two" + 6x "2" + "3"; 34605 4x "Coca-Cola" + 6x "coca cola"
RESPONSES = {"34602": "Nous les gosses", "34603": "Copenhagen.", "34604": "Two", "34605": "coca-cola"}


def test_score_the_official_json_by_hand(tmp_path: Path) -> None:
    data = build_textvqa_json(tmp_path / "textvqa")
    predictions = write_predictions(tmp_path / "p.jsonl", RESPONSES.items())
    result = api.score("textvqa_val", predictions, data=data)
    # m4c: 0.6 (2 matches), 1.0, 1.0 ("two" -> "2": 9 matches), 1.0 (all 10 -> "coca cola")
    assert result.results["metrics"]["acc"]["value"] == pytest.approx((0.6 + 1 + 1 + 1) / 4)
    assert result.results["counts"]["scored"] == 4
    # vqaEval.py: 34603 is unanimous, so "Copenhagen." is compared raw: 0
    vqa = api.score("textvqa_val", predictions, data=data, profile="vqa_eval_py").results
    assert vqa["metrics"]["acc"]["value"] == pytest.approx((0.6 + 0 + 1 + 1) / 4)


def test_the_parquet_copy_loads_with_images_and_the_lmms_eval_prompt(tmp_path: Path) -> None:
    data = build_textvqa_parquet(tmp_path / "hub")
    predictions = write_predictions(tmp_path / "p.jsonl", RESPONSES.items())
    assert api.score("textvqa_val", predictions, data=data).results["metrics"]["acc"][
        "value"
    ] == pytest.approx(0.9)
    run = api.evaluate(
        "textvqa_val", "constant", model_args="text=2", data=data, output_dir=None, profile="lmms_eval"
    )
    first = run.records[0].prompt[0]["content"]
    assert first[0]["type"] == "image"
    assert prompt_text(run.records[0].prompt) == (
        "What is the brand of this camera?\nAnswer the question using a single word or phrase."
    )
    assert {r.id: r.score for r in run.records}["34604"] == pytest.approx(1.0)


def test_a_questions_only_copy_refuses_to_run(tmp_path: Path) -> None:
    data = build_textvqa_json(tmp_path / "textvqa")
    with pytest.raises(DataError, match="train_images"):
        api.evaluate("textvqa_val", "constant", model_args="text=2", data=data, output_dir=None)
    with_images = build_textvqa_json(tmp_path / "with", with_images=True)
    run = api.evaluate("textvqa_val", "constant", model_args="text=2", data=with_images, output_dir=None)
    assert run.results["counts"]["scored"] == 4
