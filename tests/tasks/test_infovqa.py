"""InfographicVQA: both layouts and the official script's breakdown by answer type, evidence and
operation (the ANLS function is checked in test_docvqa.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlens import api
from tests.fixtures.benchmark_helpers import write_predictions
from tests.fixtures.standard_vqa_data import build_docvqa_parquet, build_infovqa_json

# fixture: 98313 India (image span, figure); 98314 45% (image span, textual);
# 98315 12 (non span, table/list, arithmetic)
RESPONSES = {"98313": "india", "98314": "45", "98315": "13"}


def test_score_the_official_json_with_its_breakdowns(tmp_path: Path) -> None:
    data = build_infovqa_json(tmp_path / "infovqa")
    result = api.score(
        "infovqa_val", write_predictions(tmp_path / "p.jsonl", RESPONSES.items()), data=data
    ).results
    # india: 1.0; "45" vs "45%": 1 - 1/3; "13" vs "12": 0.5 (kept)
    values = [1.0, 1 - 1 / 3, 0.5]
    assert result["metrics"]["anls"]["value"] == pytest.approx(sum(values) / 3)
    breakdown = result["breakdown"]
    assert breakdown["answer_type/image span"]["anls"]["value"] == pytest.approx((1 + 2 / 3) / 2)
    assert breakdown["answer_type/non span"]["anls"]["value"] == pytest.approx(0.5)
    assert breakdown["evidence/figure"]["anls"]["value"] == pytest.approx(1.0)
    assert breakdown["operation\u2215reasoning/arithmetic"]["anls"]["value"] == pytest.approx(0.5)
    mmf = api.score(
        "infovqa_val", write_predictions(tmp_path / "q.jsonl", RESPONSES.items()), data=data, profile="mmf"
    ).results
    assert mmf["metrics"]["anls"]["value"] == pytest.approx(sum(values) / 3)


def test_the_parquet_config_loads_with_images(tmp_path: Path) -> None:
    data = build_docvqa_parquet(tmp_path / "DocVQA")  # the repository folder: InfographicVQA/ is found
    predictions = write_predictions(tmp_path / "p.jsonl", RESPONSES.items())
    result = api.score("infovqa_val", predictions, data=data).results
    assert result["counts"]["scored"] == 3
    assert "evidence/figure" not in result["breakdown"]  # the hub copy has no evidence column
    run = api.evaluate("infovqa_val", "constant", model_args="text=India", data=data, output_dir=None)
    assert run.records[0].prompt[0]["content"][0]["type"] == "image"
