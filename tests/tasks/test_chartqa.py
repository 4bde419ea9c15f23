"""ChartQA: relaxed accuracy as pix2struct's relaxed_correctness computes it, the harness variants
as profiles, both layouts and the human/<row>, augmented/<row> ids.

Expected values were worked out with the official function (pix2struct@945f27e metrics.py) and the
harness functions (lmms-eval chartqa_process_results, VLMEvalKit process_line, Qwen-VL
evaluate_relaxed_accuracy), run outside the repository on the same inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlens import api
from mmlens.tasks.chartqa.metric import chartqa_correct, to_float
from tests.fixtures.benchmark_helpers import write_predictions
from tests.fixtures.standard_vqa_data import build_chartqa_folder, build_chartqa_parquet


@pytest.mark.parametrize(
    ("text", "value"),
    [("12", 12.0), ("12%", 0.12), ("12 %", 0.12), ("50%%", 0.5), (" 3 ", 3.0), ("1e3", 1000.0),
     ("1_000", 1000.0), ("１０", 10.0), ("1,000", None), ("$5", None), ("5 kg", None),
     ("%", None), ("", None), ("abc", None)],
)  # fmt: skip
def test_float_parsing(text: str, value: float | None) -> None:
    assert to_float(text) == (pytest.approx(value) if value is not None else None)


@pytest.mark.parametrize(
    ("prediction", "target", "official", "vlmevalkit", "qwen_vl"),
    [
        ("10.4", "10", True, True, True),
        ("10.5", "10", True, True, True),  # exactly 5%
        ("10.6", "10", False, False, False),
        ("9.5", "10", True, True, False),  # qwen_vl divides by the prediction: 0.5 / 9.5
        ("10", "10.5", True, True, True),
        ("0", "0", True, True, True),  # target 0 is falsy: string comparison
        ("0.0", "0", False, False, False),
        ("50%", "0.5", True, True, True),  # percentages
        ("0.5", "50%", True, True, True),
        ("50", "50%", False, False, False),
        (" 10", "10", True, True, True),  # float() ignores the space
        ("1,000", "1000", False, False, False),  # thousands separator: string comparison
        ("1,000", "1,000", True, True, True),
        ("$5", "5", False, False, False),  # units and currency: string comparison
        ("5 kg", "5", False, False, False),
        ("１０", "10", True, True, True),  # full-width digits parse
        ("1e1", "10", True, True, True),
        ("nan", "nan", False, False, False),
        ("Yes", "yes", True, True, True),  # case-insensitive strings
        (" yes", "yes", False, True, True),  # no strip in the official rule
        ("", "", True, True, True),
    ],
)
def test_relaxed_correctness_under_each_scorer(
    prediction: str, target: str, official: bool, vlmevalkit: bool, qwen_vl: bool
) -> None:
    assert chartqa_correct(prediction, target) is official
    assert chartqa_correct(prediction, target, "vlmevalkit") is vlmevalkit
    assert chartqa_correct(prediction, target, "qwen_vl") is qwen_vl


# fixture: human/0 "45", human/1 "Japan", human/2 "12%"; augmented/0 "0", augmented/1 "Yes"
RESPONSES = {
    "human/0": "46",
    "human/1": "japan ",
    "human/2": "0.12",
    "augmented/0": "0.0",
    "augmented/1": "yes",
}


@pytest.mark.parametrize("layout", ["official", "parquet"])
def test_score_by_hand_in_both_layouts(tmp_path: Path, layout: str) -> None:
    data = (
        build_chartqa_folder(tmp_path / "c")
        if layout == "official"
        else build_chartqa_parquet(tmp_path / "c")
    )
    predictions = write_predictions(tmp_path / "p.jsonl", RESPONSES.items())
    result = api.score("chartqa", predictions, data=data).results
    # 46 vs 45: 2.2% right; "japan " (no strip) wrong; 0.12 vs 12%: right; 0.0 vs 0 wrong; yes right
    assert result["metrics"]["relaxed_accuracy"]["value"] == pytest.approx(3 / 5)
    assert result["breakdown"]["human"]["relaxed_accuracy"]["value"] == pytest.approx(2 / 3)
    assert result["breakdown"]["augmented"]["relaxed_accuracy"]["value"] == pytest.approx(1 / 2)
    stripped = api.score("chartqa", predictions, data=data, profile="vlmevalkit").results
    assert stripped["metrics"]["relaxed_accuracy"]["value"] == pytest.approx(4 / 5)


def test_run_with_images_and_the_prompt(tmp_path: Path) -> None:
    data = build_chartqa_folder(tmp_path / "c", with_images=True)
    run = api.evaluate("chartqa", "constant", model_args="text=45", data=data, output_dir=None)
    assert sorted(r.id for r in run.records) == [
        "augmented/0",
        "augmented/1",
        "human/0",
        "human/1",
        "human/2",
    ]
    content = next(r for r in run.records if r.id == "human/0").prompt[0]["content"]
    assert content[0]["type"] == "image"
    assert (
        content[1]["text"] == "What is the value of the tallest bar?\nAnswer the question with a single word."
    )
