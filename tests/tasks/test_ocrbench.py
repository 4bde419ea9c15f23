"""OCRBench on synthetic rows in both published layouts: the official per-dataset rule (values
checked against the loop of OCRBench/example.py@794c36d, run on the same inputs) and the Final Score."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlens import api
from mmlens.tasks.ocrbench.metric import ocrbench_correct
from tests.fixtures.benchmark_data import write_predictions
from tests.fixtures.ocrbench_mmmu_mathvista import build_ocrbench_json, build_ocrbench_parquet

HME = ["y _ { 2 } = - 1\n", "y_2 = - 1\n"]


@pytest.mark.parametrize(
    ("dataset", "answers", "prediction", "correct"),
    [
        ("IIIT5K", "CENTRE", "The word is centre.", True),  # case-insensitive substring
        ("IIIT5K", "CENTRE", "CENT RE", False),  # spaces count outside HME100k
        ("svt", "Hotel", "  HOTEL\n", True),
        ("STVQA", ["coca cola", "coke"], "Coke", True),  # any of the answers
        ("STVQA", ["coca cola", "coke"], "Coca-Cola", False),  # punctuation is not removed
        ("docVQA", ["1,250.00"], "$1,250.00", True),
        ("docVQA", ["1,250.00"], "1250.00", False),  # no thousands-separator folding
        ("SROIE", "ACME SDN BHD", "acme sdn\nbhd", True),  # a newline becomes a space
        ("HME100k", HME, "y_{2}=-1", True),  # every space removed
        ("HME100k", ["y _ { 2 } = - 1\n"], "Y_{2}=-1", False),  # HME100k keeps case
        ("HME100k", "x ^ { 2 }", "$x^{2}$", True),
        ("IIIT5K", "CENTRE", "", False),  # an empty prediction is scored, and wrong
        ("ESTVQA", "５０", "50", False),  # full-width digits are not folded officially
        ("STVQA", "three", "3", False),  # no number words
        ("STVQA", "50%", "50 %", False),  # percentages as written
        ("IIIT5K", "A", "banana", True),  # no word boundary: "a" is in "banana"
    ],
)
def test_official_rule(dataset: str, answers: str | list[str], prediction: str, correct: bool) -> None:
    assert ocrbench_correct(prediction, answers, dataset) is correct


def test_lmms_eval_folds_full_width_ascii_except_hme() -> None:
    assert ocrbench_correct("50", "５０", "ESTVQA", fold_fullwidth=True)
    assert ocrbench_correct("ＡＣＭＥ\u3000SDN", "acme sdn", "SROIE", fold_fullwidth=True)
    assert not ocrbench_correct("ｘ^{2}", "x ^ { 2 }", "HME100k", fold_fullwidth=True)


RESPONSES: dict[str, str | None] = {
    "IIIT5K/1": "centre",  # right
    "svt/1": "hotal",  # wrong
    "STVQA/7": "It says Coke.",  # right
    "docVQA/9": "1250.00",  # wrong
    "SROIE/3": "acme sdn bhd",  # right
    "HME100k/14413": "y _ 2 = - 1",  # right (spaces removed)
}


def test_score_official_json_without_images(tmp_path: Path) -> None:
    data = build_ocrbench_json(tmp_path / "ocr", with_images=False)
    result = api.score("ocrbench", write_predictions(tmp_path / "p.jsonl", RESPONSES), data=data).results
    assert result["primary_metric"] == "final_score"
    assert result["metrics"]["final_score"]["value"] == 4
    assert result["metrics"]["acc"]["value"] == pytest.approx(4 / 6)
    breakdown = result["breakdown"]
    assert breakdown["Text Recognition"]["final_score"]["value"] == 1
    assert breakdown["Text Recognition"]["final_score"]["n"] == 2
    assert breakdown["Text Recognition/Regular Text Recognition/IIIT5K"]["acc"]["value"] == 1.0
    assert breakdown["Handwritten Mathematical Expression Recognition"]["final_score"]["value"] == 1
    assert breakdown["Doc-oriented VQA"]["final_score"]["value"] == 0
    lmms = api.score(
        "ocrbench", tmp_path / "p.jsonl", data=data, profile="lmms_eval"
    ).results  # Final_score / 1000 whatever N
    assert lmms["metrics"]["final_score"]["value"] == pytest.approx(0.004)


def test_hub_parquet_ids_and_prompt(tmp_path: Path) -> None:
    data = build_ocrbench_parquet(tmp_path / "test-00000-of-00001.parquet")
    result = api.evaluate("ocrbench", "constant", model_args="text=centre coke", data=data, output_dir=None)
    assert [r.id for r in result.records] == [
        "IIIT5K/0",
        "svt/1",
        "STVQA/2",
        "docVQA/3",
        "SROIE/4",
        "HME100k/5",
    ]
    assert result.results["metrics"]["final_score"]["value"] == 2  # CENTRE and coke
    content = result.records[0].prompt[0]["content"]
    assert content[0]["type"] == "image" and content[1]["text"] == "what is written in the image?"


def test_missing_image_is_a_bad_sample(tmp_path: Path) -> None:
    data = build_ocrbench_json(tmp_path / "ocr")
    (tmp_path / "ocr" / "OCRBench_Images" / "svt" / "test" / "1.png").unlink()
    result = api.evaluate("ocrbench", "constant", model_args="text=x", data=data, output_dir=None).results
    assert result["counts"]["bad_samples"] == 1 and result["bad_samples"][0]["id"] == "svt/1"
