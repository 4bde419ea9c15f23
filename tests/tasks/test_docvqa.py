"""DocVQA: ANLS as the official RRC script computes it, the harness variants as profiles, both layouts.

Expected values were worked out with the official functions (Qwen-VL@aa00ed0 infographicsvqa_eval.py
evaluate_method, pix2struct@945f27e anls_metric, MiniCPM-V evaluate_anls, mmf STVQAANLSEvaluator),
run outside the repository on the same inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlens import api
from mmlens.tasks.docvqa.anls import anls, levenshtein
from tests.fixtures.benchmark_helpers import write_predictions
from tests.fixtures.standard_vqa_data import build_docvqa_json, build_docvqa_parquet


def test_levenshtein() -> None:
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert levenshtein("abc", "abc") == 0


@pytest.mark.parametrize(
    ("prediction", "answers", "official", "pix2struct", "minicpm_v", "mmf"),
    [
        ("Hello", ["hello"], 1.0, 1.0, 1.0, 1.0),  # case
        ("  hello   world ", ["hello world"], 1.0, 0.6875, 1.0, 0.8461538461538461),  # whitespace
        ("ab", ["ab  "], 1.0, 0.0, 1.0, 1.0),
        ("a b", ["a  b"], 1.0, 0.75, 1.0, 0.75),
        ("ab", ["abcd"], 0.5, 0.0, 0.5, 0.5),  # the 0.5 edge: kept, except pix2struct's "<"
        ("abc", ["abcdef"], 0.5, 0.0, 0.5, 0.5),
        ("abcde", ["abcd", "xyz"], 0.8, 0.8, 0.8, 0.8),  # best answer
        ("1,000", ["1000"], 0.8, 0.8, 0.8, 0.8),  # thousands separator is an edit
        ("$1,000", ["1000", "$1,000"], 1.0, 1.0, 1.0, 1.0),
        ("Straße", ["strasse"], 5 / 7, 5 / 7, 5 / 7, 5 / 7),  # len("Straße".upper()) == 7
        ("ＡＢＣ", ["abc"], 0.0, 0.0, 0.0, 0.0),  # full-width characters are other characters
        ("", ["abc"], 0.0, 0.0, 0.0, 0.0),  # empty prediction
        ("", [""], 1.0, 1.0, 1.0, 1.0),  # both empty (pix2struct/mmf would divide by zero)
    ],
)
def test_anls_under_each_scorer(
    prediction: str, answers: list[str], official: float, pix2struct: float, minicpm_v: float, mmf: float
) -> None:
    assert anls(prediction, answers) == pytest.approx(official)
    assert anls(prediction, answers, "pix2struct") == pytest.approx(pix2struct)
    assert anls(prediction, answers, "minicpm_v") == pytest.approx(minicpm_v)
    assert anls(prediction, answers, "mmf") == pytest.approx(mmf)


def test_raw_lengths_are_the_denominator() -> None:
    # official: distance of the collapsed strings over the raw lengths (12): 1 - 1/12
    assert anls("hello  worlx", ["hello world"]) == pytest.approx(1 - 1 / 12)
    assert anls("hello  worlx", ["hello world"], "minicpm_v") == pytest.approx(1 - 1 / 11)


# fixture: 57344 "1/8/93" (handwritten, form); 57345 "Annual Report" | "annual report 1999" (layout);
# 57346 "$1,000" (table/list); 57347 "John Smith" (handwritten)
RESPONSES = {"57344": "1/8/93", "57345": "annual report", "57346": "1,000", "57347": "Jane Doe"}


def test_score_the_official_json_with_the_type_breakdown(tmp_path: Path) -> None:
    data = build_docvqa_json(tmp_path / "docvqa")
    predictions = write_predictions(tmp_path / "p.jsonl", RESPONSES.items())
    result = api.score("docvqa_val", predictions, data=data).results
    jane = 0.0  # "jane doe" vs "john smith": 7 edits / 10 -> 0.3 < 0.5
    values = {"57344": 1.0, "57345": 1.0, "57346": 1 - 1 / 6, "57347": jane}
    assert result["metrics"]["anls"]["value"] == pytest.approx(sum(values.values()) / 4)
    breakdown = result["breakdown"]
    assert breakdown["question_types/handwritten"]["anls"]["value"] == pytest.approx(0.5)
    assert breakdown["question_types/form"]["anls"]["value"] == pytest.approx(1.0)
    assert breakdown["question_types/table\u2215list"]["anls"]["value"] == pytest.approx(1 - 1 / 6)
    assert breakdown["question_types/handwritten"]["anls"]["n"] == 2


def test_the_parquet_copy_loads_with_images(tmp_path: Path) -> None:
    data = build_docvqa_parquet(tmp_path / "DocVQA")
    predictions = write_predictions(tmp_path / "p.jsonl", RESPONSES.items())
    result = api.score("docvqa_val", predictions, data=data).results
    assert result["counts"]["scored"] == 4
    assert result["metrics"]["anls"]["value"] == pytest.approx((2 + 1 - 1 / 6) / 4)
    run = api.evaluate("docvqa_val", "constant", model_args="text=1/8/93", data=data, output_dir=None)
    assert run.records[0].prompt[0]["content"][0]["type"] == "image"
    assert run.records[0].score == 1.0


def test_profiles_change_only_the_variant(tmp_path: Path) -> None:
    data = build_docvqa_json(tmp_path / "docvqa")
    predictions = write_predictions(tmp_path / "p.jsonl", [("57344", " 1/8/93  "), ("57345", "x")])
    official = api.score("docvqa_val", predictions, data=data).results["metrics"]["anls"]["value"]
    pix = api.score("docvqa_val", predictions, data=data, profile="pix2struct").results["metrics"]["anls"]
    assert official == pytest.approx(1 / 4)  # two scored right-or-zero, two missing
    assert pix["value"] == pytest.approx((1 - 3 / 9) / 4)  # no strip: 3 edits over 9 characters
