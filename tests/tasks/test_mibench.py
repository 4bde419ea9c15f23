"""MIBench: interleaved images at <image> tags, option letters, accuracy per family and sub-task."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlens import api
from tests.fixtures.benchmark_data import write_predictions
from tests.fixtures.mibench_data import build_mibench


def test_score_by_hand(tmp_path: Path) -> None:
    data = build_mibench(tmp_path / "mibench")
    responses = {
        "MII/0": "A",  # right
        "MII/1": "The answer is A.",  # one letter token A, answer B: wrong
        "MKS/0": "blue",  # no letter; the one option text contained -> B, right
        "MIC/0": "A or B",  # two letters: failed, wrong
    }
    result = api.score("mibench", write_predictions(tmp_path / "p.jsonl", responses), data=str(data)).results
    assert result["metrics"]["hit"]["value"] == pytest.approx(2 / 4)
    assert result["breakdown"]["MII"]["hit"]["value"] == pytest.approx(1 / 2)
    assert result["breakdown"]["MII/subtle_difference"]["hit"]["value"] == 0.0
    assert result["breakdown"]["MKS/fine_grained_visual_recognition"]["hit"]["value"] == 1.0
    assert result["counts"]["failed_extraction"] == 1


def test_evaluate_interleaves_images_at_tags(tmp_path: Path) -> None:
    data = build_mibench(tmp_path / "mibench")
    result = api.evaluate("mibench", "constant", model_args="text=B", data=str(data), output_dir=None)
    assert result.results["metrics"]["hit"]["value"] == pytest.approx(3 / 4)
    prompts = {record.id: record.prompt[0]["content"] for record in result.records}
    assert [p["type"] for p in prompts["MII/1"]] == ["text", "image", "text", "image", "text"]
    assert prompts["MII/1"][0]["text"] == "Image 1: "
    assert prompts["MII/1"][-1]["text"].startswith("\nSame?\nA. yes\nB. no\nC. unsure")
    assert [p["type"] for p in prompts["MKS/0"]] == ["image", "text"]  # no tags: images first


def test_shuffled_variant_needs_every_rotation(tmp_path: Path) -> None:
    data = build_mibench(tmp_path / "mibench")
    result = api.evaluate(
        "mibench_shuffled", "constant", model_args="text=B", data=str(data), output_dir=None
    )
    # a constant letter can be right in one rotation only: no question passes every rotation
    assert result.results["metrics"]["circular_acc"]["value"] == 0.0
    rotated = next(r for r in result.records if r.id == "MII/0#circular1").prompt[0]["content"][-1]["text"]
    assert "A. the second\nB. the first" in rotated  # the inline options rotate with the answer
