"""SEED-Bench-2 L3: image options shown as lmms-eval shows them, first-letter scoring, and the
likelihood ranking of option images (through the real hf backend on a tiny LLaVA built offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.parts import LoadContext
from mmlens.core.task import TaskCatalog
from tests.fixtures.benchmark_data import write_predictions
from tests.fixtures.seedbench2_l3_data import build_seed2_l3_json
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401 - fixture


def _samples(data: Path) -> dict[str, object]:
    task = TaskCatalog().load("seedbench2_l3")
    return {s.id: s for s in task.scenario.load(LoadContext(task.name, task.task_dir, str(data)))}


def test_options_are_images_in_place(tmp_path: Path) -> None:
    samples = _samples(build_seed2_l3_json(tmp_path))
    assert sorted(samples) == ["25_0", "26_0", "27_0"]  # L1 left out
    parts = samples["26_0"].messages[0].content
    kinds = [type(part).__name__ for part in parts]
    # three question frames, the question, then "A. " image "\n" ... "D. " image "\n", the post prompt
    assert kinds == ["ImagePart"] * 3 + ["TextPart"] + ["TextPart", "ImagePart", "TextPart"] * 4 + [
        "TextPart"
    ]
    assert [p.text for p in parts if type(p).__name__ == "TextPart"][1:3] == ["A. ", "\n"]
    assert samples["26_0"].metadata["question_images"] == 3
    assert samples["26_0"].category == ("Next Image Prediction",)
    creation = samples["27_0"].messages[0].content
    assert [type(p).__name__ for p in creation] == ["ImagePart"] * 4 + ["TextPart"]
    assert creation[-1].text == (
        "What does the Sydney Opera House look like?\nA. A tall tower.\nB. A round stadium.\n"
        "C. White sail-like shells.\nD. A bridge.\n"
        "Answer with the option's letter from the given choices directly."
    )


def test_generation_scores_the_first_character(tmp_path: Path) -> None:
    data = build_seed2_l3_json(tmp_path)
    predictions = write_predictions(tmp_path / "p.jsonl", {"25_0": "A. the purse", "26_0": "b", "27_0": " C"})
    result = api.score("seedbench2_l3", predictions, data=data, output_dir=None).results
    assert result["metrics"]["acc"]["value"] == pytest.approx(2 / 3)  # "b" is not B (case-sensitive)
    assert result["breakdown"]["Next Image Prediction"]["acc"]["value"] == 0.0
    assert result["breakdown"]["Text-Image Creation"]["acc"]["value"] == 1.0


def test_likelihood_requests_pair_each_option_image_with_its_text(tmp_path: Path) -> None:
    data = build_seed2_l3_json(tmp_path)
    task = TaskCatalog().load("seedbench2_l3", "likelihood")
    samples = _samples(data)
    for sample_id, texts in [
        ("25_0", [samples["25_0"].metadata["question_text"]] * 4),
        ("27_0", ["A tall tower.", "A round stadium.", "White sail-like shells.", "A bridge."]),
    ]:
        sample = samples[sample_id]
        requests = task.inferencer.plan(sample, task.instruction.build(sample))
        assert [r.continuation for r in requests] == texts
        asked = sample.metadata["question_images"]
        for index, request in enumerate(requests):
            images = [
                part.image for part in request.messages[-1].content if type(part).__name__ == "ImagePart"
            ]
            assert images == [*sample.images[:asked], sample.images[asked + index]]
    frames = task.inferencer.plan(samples["26_0"], task.instruction.build(samples["26_0"]))
    assert all(
        len([p for p in r.messages[-1].content if type(p).__name__ == "ImagePart"]) == 4 for r in frames
    )


def test_likelihood_replays_option_logprobs(tmp_path: Path) -> None:
    data = build_seed2_l3_json(tmp_path)
    lines = [
        {"id": "25_0", "option_logprobs": [-1.0, -2.0, -3.0, -4.0]},  # A: right
        {"id": "26_0", "option_logprobs": [-2.0, -2.0, -3.0, -4.0]},  # tie: the earlier, A: wrong
        {"id": "27_0", "option_logprobs": [-5.0, -4.0, -0.5, -4.0]},  # C: right
    ]
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = api.score("seedbench2_l3", predictions, data=data, profile="likelihood", output_dir=None)
    assert [record.answer for record in result.records] == ["A", "A", "C"]
    assert result.results["metrics"]["acc"]["value"] == pytest.approx(2 / 3)


def test_likelihood_with_a_tiny_llava(tmp_path: Path, tiny_model_factory: TinyModelFactory) -> None:  # noqa: F811
    pytest.importorskip("transformers")
    folder = tiny_model_factory("llava")
    data = build_seed2_l3_json(tmp_path)
    options = {"model_args": "dtype=float32", "data": data, "store": tmp_path / "s.db", "output_dir": None}
    run = api.evaluate("seedbench2_l3", f"hf:{folder}", profile="likelihood", **options)
    assert run.results["counts"]["errors"] == 0
    for record in run.records:
        scores = record.option_scores.logprobs
        assert len(scores) == 4 and all(score < 0 for score in scores)
        # 25, 26: the same text after each option image, so the images alone set the scores
        assert len(set(scores)) > 1
        assert record.answer == "ABCD"[scores.index(max(scores))]
    rerun = api.evaluate("seedbench2_l3", f"hf:{folder}", profile="likelihood", **options)
    assert rerun.stats is not None and rerun.stats.computed == 0
