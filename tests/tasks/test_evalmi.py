"""LMM4LMM / EvalMi-50K: correlations as IntMeGroup/LMM4LMM@5ee2b4e eval_scores.py computes them
(scipy on raw (MOS, score), the MOS read back from a bfloat16 tensor), the eval_qa.py yes/no
normalisation and substring match, and a tiny reward model scoring images through the hf backend."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from scipy.stats import kendalltau, pearsonr, spearmanr

from mmlens import api
from mmlens.tasks.evalmi.metric import bfloat16, normalise_yes_no
from tests.fixtures.evalmi_data import MOS, build_evalmi


@pytest.mark.parametrize("value", [3.14, 1.7, 4.33, 0.1, 2.05, 100.3, -1.234, 0.0, 1e-3])
def test_bfloat16_rounding_equals_torch(value: float) -> None:
    torch = pytest.importorskip("torch")
    assert bfloat16(value) == torch.tensor(float(value), dtype=torch.bfloat16).item()


def official_qa_accuracy(rows: list[list[str]]) -> float:
    """eval_qa.py save_and_evaluate, transcribed (rows: [imgname, answer, output])."""
    total, right = len(rows), 0
    for item in rows:
        if "yes" in item[2].lower():
            item[2] = "Yes"
        elif "no" in item[2].lower():
            item[2] = "No"
        if "yes" in item[1].lower():
            item[1] = "Yes"
        elif "no" in item[1].lower():
            item[1] = "No"
        if item[2] in item[1]:
            right += 1
    return right / total


@pytest.mark.parametrize(
    ("output", "normalised"),
    [
        ("Yes.", "Yes"),
        ("I don't know", "No"),
        ("cannot tell", "No"),
        ("eyes open", "Yes"),
        ("maybe", "maybe"),
        ("", ""),
    ],
)
def test_yes_no_normalisation(output: str, normalised: str) -> None:
    assert normalise_yes_no(output) == normalised


def test_qa_accuracy_equals_the_official_code(tmp_path: Path) -> None:
    data = build_evalmi(tmp_path / "e", with_images=False)
    outputs = {"a.png/0": "yes, a cow", "a.png/1": "I know it is", "b.png/0": "", "c.png/0": "maybe"}
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("".join(json.dumps({"id": i, "response": o}) + "\n" for i, o in outputs.items()))
    result = api.score("evalmi_qa", predictions, data=data, store=tmp_path / "s.sqlite")
    answers = ["Yes", "No", "yes", "No"]
    rows = [["x", a, o] for a, o in zip(answers, outputs.values(), strict=True)]
    expected = official_qa_accuracy(rows)  # "I know" -> No (right), "" in "Yes" (right), "maybe" wrong
    assert expected == 0.75
    assert result.results["metrics"]["accuracy"]["value"] == expected


def test_correlations_equal_scipy_on_bfloat16_mos(tmp_path: Path) -> None:
    data = build_evalmi(tmp_path / "e", with_images=False)
    scores = {"a.png": "3.0", "b.png": "score: 2.5", "c.png": "4.9", "d.png": "1.0", "e.png": "no idea"}
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("".join(json.dumps({"id": i, "response": s}) + "\n" for i, s in scores.items()))
    for profile, mos_of in ((None, bfloat16), ("fixed", float)):
        result = api.score(
            "evalmi_perception", predictions, data=data, profile=profile, store=tmp_path / "s.sqlite"
        )
        metrics = result.results["metrics"]
        mos = [mos_of(MOS[name]) for name in ("a.png", "b.png", "c.png", "d.png")]
        predicted = [3.0, 2.5, 4.9, 1.0]
        assert metrics["srcc"]["value"] == pytest.approx(spearmanr(mos, predicted)[0], abs=1e-12)
        assert metrics["plcc"]["value"] == pytest.approx(pearsonr(mos, predicted)[0], abs=1e-12)
        assert metrics["krcc"]["value"] == pytest.approx(kendalltau(mos, predicted)[0], abs=1e-12)
        assert metrics["unparsed"]["value"] == 1.0 and metrics["srcc"]["n"] == 4
    # the bfloat16 MOS changes PLCC (no logistic fit): the two profiles differ
    default = api.score("evalmi_perception", predictions, data=data, store=tmp_path / "s.sqlite")
    fixed = api.score(
        "evalmi_perception", predictions, data=data, profile="fixed", store=tmp_path / "s.sqlite"
    )
    assert default.results["metrics"]["plcc"]["value"] != fixed.results["metrics"]["plcc"]["value"]


def test_plan_strips_the_image_token(tmp_path: Path) -> None:
    data = build_evalmi(tmp_path / "e")
    plan = api.plan("evalmi_correspondence", data=data).to_dict()
    request = plan["samples"][0]["requests"][0]
    assert request["kind"] == "reward"
    assert [p["type"] for p in request["messages"][0]["content"]] == ["image", "text"]
    assert request["messages"][0]["content"][1]["text"].startswith("Rate how well")
    qa = api.plan("evalmi_qa", data=data).to_dict()
    assert [s["id"] for s in qa["samples"]] == ["a.png/0", "a.png/1", "b.png/0", "c.png/0"]


def test_a_tiny_reward_model_scores_the_images(tmp_path: Path) -> None:
    from tests.fixtures.rewardbench_data import build_tiny_reward_model

    model = build_tiny_reward_model(tmp_path / "rm")
    data = build_evalmi(tmp_path / "e")
    result = api.evaluate(
        "evalmi_perception",
        f"hf:{model}",
        model_args="drop_images=true,dtype=float32,device=cpu",
        data=data,
        store=tmp_path / "s.sqlite",
        output_dir=None,
    )
    assert result.results["counts"]["errors"] == 0
    predicted = [r.scores["predicted"] for r in result.records]
    # text only (drop_images): the five prompts are the same, so one reward for all, and the
    # correlations are undefined (scipy's nan, kept as it is)
    assert len(set(predicted)) == 1 and predicted[0] != 0.0
    srcc = result.results["metrics"]["srcc"]["value"]
    assert srcc is None or math.isnan(srcc)
