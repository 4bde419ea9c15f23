"""MMXU: two X-rays per question, accuracy per change type, images optional for scoring."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.errors import DataError
from tests.fixtures.benchmark_data import write_predictions
from tests.fixtures.mmxu_data import build_mmxu, mmxu_rows

# targets: 1 A (no change), 2 C (worsen), 3 B (improved), 4 D (no change), 5 B (worsen), 6 A (improved)
RESPONSES = {
    "1": "A",  # right
    "2": "The answer is C",  # right
    "3": "(C) Improved significantly",  # wrong
    "4": "Developed a new abnormality",  # right: the option text
    "5": "I am not sure",  # failed
    "6": "a",  # right
}


def test_accuracy_per_change_type_by_hand(tmp_path: Path) -> None:
    data = build_mmxu(tmp_path / "mmxu")
    predictions = write_predictions(tmp_path / "p.jsonl", RESPONSES)
    result = api.score("mmxu", predictions, data=data, output_dir=None).results
    assert result["metrics"]["acc"]["value"] == pytest.approx(4 / 6)
    assert result["breakdown"]["no change"]["acc"]["value"] == 1.0
    assert result["breakdown"]["worsen"]["acc"]["value"] == pytest.approx(1 / 2)
    assert result["breakdown"]["improved"]["acc"]["value"] == pytest.approx(1 / 2)
    assert result["counts"]["failed_extraction"] == 1

    worsened = api.score(
        "mmxu", predictions, data=data, transforms=["select:content_type=worsen"], output_dir=None
    )
    assert [record.id for record in worsened.records] == ["2", "5"]


def test_the_prior_image_comes_first(tmp_path: Path) -> None:
    data = build_mmxu(tmp_path / "mmxu")
    result = api.evaluate("mmxu", "constant", model_args="text=A", data=data, limit=1,
                          store=tmp_path / "s.db", output_dir=None)  # fmt: skip
    content = result.records[0].prompt[0]["content"]
    assert [part["type"] for part in content] == ["image", "image", "text"]
    assert content[2]["text"] == (
        "The first image is the patient's prior chest X-ray and the second is the current one.\n"
        "What is the condition of region 1 across the two chest CXR images?\n"
        "A. Showed no significant change\nB. Worsened significantly\nC. Improved significantly\n"
        "D. Developed a new abnormality\nAnswer with the option's letter from the given choices directly."
    )
    samples = api.load_task("mmxu")
    assert samples.scenario.image_root == "."


def test_without_the_mimic_images_it_scores_but_does_not_run(tmp_path: Path) -> None:
    data = build_mmxu(tmp_path / "mmxu", with_images=False)
    predictions = write_predictions(tmp_path / "p.jsonl", RESPONSES)
    assert api.score("mmxu", predictions, data=data, output_dir=None).results["metrics"]["acc"]["n"] == 6
    with pytest.raises(DataError, match="MIMIC-CXR-JPG .PhysioNet. images go under"):
        api.evaluate("mmxu", "constant", data=data, store=tmp_path / "s.db", output_dir=None)


def test_bad_rows_are_named(tmp_path: Path) -> None:
    rows = mmxu_rows()
    rows[0]["options"] = {"A": "x", "B": "y"}
    rows[1]["content_type"] = "better"
    rows[2]["prior_image_path"] = "../outside/prior.jpg"
    rows[3]["prior_image_path"] = ["files/a/p1.jpg", "files/a/p2.jpg"]  # the dev split's list
    data = build_mmxu(tmp_path / "mmxu", rows=rows)
    predictions = write_predictions(tmp_path / "p.jsonl", {"4": "D", "5": "B", "6": "A"})
    result = api.score("mmxu", predictions, data=data, output_dir=None)
    reasons = {bad["id"]: bad["reason"] for bad in result.results["bad_samples"]}
    assert "options must be {A, B, C, D}" in reasons["1"]
    assert "content_type 'better'" in reasons["2"]
    assert "must be relative to" in reasons["3"]
    assert result.results["metrics"]["acc"]["value"] == 1.0
    with pytest.raises(DataError, match="--data PATH"):
        api.score("mmxu", predictions)
