"""MME-RealWorld on synthetic rows in both published schemas: the official prompt, the official
extraction with its quirks, micro accuracy by task / subtask / category."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlens import api
from mmlens.tasks.mme_realworld.metric import extract_mme_realworld_letter
from tests.fixtures.benchmark_data import (
    MME_RW_CHOICES,
    build_mme_realworld_json,
    build_mme_realworld_parquet,
    write_predictions,
)


@pytest.mark.parametrize(
    ("response", "letter"),
    [
        ("B", "B"),
        ("The best answer is C", "C"),
        ("Based on the image, the answer is D", "B"),  # the first capital A-E anywhere: the B of "Based"
        ("", "A"),  # the empty text is contained in every option: the first one
        ("The answer", "A"),  # the prefix is removed, leaving the empty text
        ("the image shows a scene that is not easy to see at all here", None),  # > 10 words, no A-E
        ("many cars and one truck", "B"),  # contained in option (B)'s text
        ("(e)", "E"),
        ("nothing", None),
    ],
)
def test_official_extraction(response: str, letter: str | None) -> None:
    assert extract_mme_realworld_letter(response, MME_RW_CHOICES).answer == letter


def test_score_official_json_by_hand(tmp_path: Path) -> None:
    data = build_mme_realworld_json(tmp_path / "mme-rw")
    ids = [
        "Perception/Monitoring/Vehicle/counting/0001",  # B
        "Perception/Monitoring/Vehicle/counting/0002",  # A
        "Perception/Monitoring/Vehicle/attribute/color/0003",  # D
        "Perception/Monitoring/Vehicle/attribute/orientation/0004",  # B
        "Reasoning/Diagram and Table/diagram/0005",  # C
        "Reasoning/Diagram and Table/diagram/0006",  # E
    ]
    responses = [
        "B",
        "",
        "Based on the image, the answer is D",
        "many cars and one truck",
        "The best answer is C",
        "nothing",
    ]
    predictions = write_predictions(tmp_path / "p.jsonl", dict(zip(ids, responses, strict=True)))
    result = api.score("mme_realworld", predictions, data=data).results
    assert result["metrics"]["acc"]["value"] == pytest.approx(4 / 6)
    breakdown = result["breakdown"]
    assert breakdown["Perception"]["acc"]["value"] == pytest.approx(3 / 4)
    assert breakdown["Perception/Monitoring/vehicle-counting"]["acc"]["value"] == 1.0
    # color and orientation are both "vehicle/attribute" for the official scorer
    assert breakdown["Perception/Monitoring/vehicle-attribute"]["acc"]["n"] == 2
    assert breakdown["Perception/Monitoring/vehicle-attribute"]["acc"]["value"] == 0.5
    assert breakdown["Reasoning/Diagram and Table/diagram"]["acc"]["value"] == 0.5
    assert result["counts"]["failed_extraction"] == 1


def test_evaluate_hub_schema_end_to_end(tmp_path: Path) -> None:
    data = build_mme_realworld_parquet(tmp_path / "train-00000-of-00001.parquet")
    result = api.evaluate("mme_realworld", "constant", model_args="text=B", data=data, output_dir=None)
    assert result.results["metrics"]["acc"]["value"] == pytest.approx(2 / 6)  # ground truths B: rows 0 and 3
    assert set(result.results["breakdown"]) == {
        "Perception", "Perception/Monitoring", "Perception/Monitoring/vehicle-counting",
        "Perception/Monitoring/vehicle-attribute", "Reasoning", "Reasoning/Diagram and Table",
        "Reasoning/Diagram and Table/diagram",
    }  # fmt: skip
    content = result.records[0].prompt[0]["content"]
    assert content[0]["type"] == "image"
    assert content[1]["text"] == (
        "What is in picture 0? The choices are listed below: \n"
        + "".join(choice + "\n" for choice in MME_RW_CHOICES)
        + "Select the best answer to the above multiple-choice question based on the image. "
        "Respond with only the letter (A, B, C, D, or E) of the correct option.\nThe best answer is:"
    )
    lite = api.evaluate("mme_realworld_lite", "constant", model_args="text=B", data=data, output_dir=None)
    assert lite.results["metrics"]["acc"]["value"] == pytest.approx(2 / 6)


def test_missing_image_is_a_bad_sample(tmp_path: Path) -> None:
    data = build_mme_realworld_json(tmp_path / "mme-rw")
    (tmp_path / "mme-rw" / "MME-RealWorld" / "monitoring_images" / "5.png").unlink()
    result = api.evaluate(
        "mme_realworld", "constant", model_args="text=E", data=data, output_dir=None
    ).results
    assert result["counts"]["bad_samples"] == 1
    assert result["bad_samples"][0]["id"] == "Reasoning/Diagram and Table/diagram/0006"
    assert result["metrics"]["acc"]["value"] == 0.0  # the only E question was the unusable one
