"""leading_question: the rewrite texts (yes/no presupposition and suggestion, multiple choice in
each option layout), the pairs' ids and groups, the pair metric on a hand-worked example, the CLI,
and a tiny VLM on POPE (yes/no) and MMStar (multiple choice)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mmlens import api
from mmlens.cli.app import main
from mmlens.core.errors import ConfigError
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import SampleRecord, TransformContext
from mmlens.core.sample import BadSample, Sample
from mmlens.metrics.accuracy import Accuracy
from mmlens.transforms.leading_question import LeadingMetric, LeadingQuestion, leading_yes_no
from tests.fixtures.benchmark_helpers import pope_with_images
from tests.fixtures.images import random_image
from tests.fixtures.task_data import data_builder
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401 - fixture

CONTEXT = TransformContext("toy", None, lambda fields: [])  # type: ignore[arg-type]


def sample(text: str, target: str, choices: list[str] | None = None, sample_id: str = "q") -> Sample:
    image = ImagePart(random_image(0, 8, 8))
    return Sample(sample_id, [Message("user", (image, TextPart(text)))], target=target, choices=choices)


def rewrite(item: Sample, seed: int = 0) -> tuple[Sample, Sample]:
    original, leading = LeadingQuestion(seed=seed).apply([item], CONTEXT)
    assert isinstance(original, Sample) and isinstance(leading, Sample)
    return original, leading


def text_of(item: Sample) -> str:
    return item.messages[-1].text


@pytest.mark.parametrize(
    ("question", "wrong", "expected"),
    [
        ("Is there a dog in the image?", "yes", "Isn't it true that there is a dog in the image?"),
        ("Is there a dog in the image?", "no", "There isn't a dog in the image, is there?"),
        ("Are there two cats?", "no", "There aren't two cats, are there?"),
        ("Were there people here?", "yes", "Isn't it true that there were people here?"),
        ("Is the cat black?", "no", "Is the cat black? I'm quite sure the answer is no."),
    ],
)
def test_yes_no_rewrites(question: str, wrong: str, expected: str) -> None:
    assert leading_yes_no(question, wrong)[0] == expected


def test_a_yes_no_pair_keeps_the_answer_and_the_text_around_the_question() -> None:
    item = sample("Is there a train in this image? Please answer yes or no.", "Yes")
    original, leading = rewrite(item)
    assert original.id == "q" and original.messages == item.messages and original.group == "q"
    assert leading.id == "q#leading" and leading.target == "Yes" and leading.group == "q"
    assert text_of(leading) == "There isn't a train in this image, is there? Please answer yes or no."
    assert leading.messages[0].content[0] is item.messages[0].content[0]  # the image as it was
    info = leading.metadata["transform_details"]["leading_question"]
    assert info == {"of": "q", "leading": True, "suggested": "no", "form": "presupposition"}
    _, no_mark = rewrite(sample("Say whether a dog is shown", "no"))
    assert text_of(no_mark) == "Say whether a dog is shown I'm quite sure the answer is yes."


def test_multiple_choice_suggests_a_seeded_wrong_option_in_each_layout() -> None:
    lines = sample("What color is the car?\nA. red\nB. blue\nC. green", "B")
    _, leading = rewrite(lines)
    suggested = leading.metadata["transform_details"]["leading_question"]["suggested"]
    assert suggested in ("A", "C") and leading.target == "B"
    option = {"A": "red", "C": "green"}[suggested]
    assert (
        text_of(leading)
        == f"What color is the car? Isn't the answer {suggested} ({option})?\nA. red\nB. blue\nC. green"
    )
    assert rewrite(lines)[1].messages == leading.messages  # deterministic
    others = {
        rewrite(lines, seed)[1].metadata["transform_details"]["leading_question"]["suggested"]
        for seed in range(12)
    }
    assert others == {"A", "C"}  # the seed picks among the wrong options only
    mmstar = sample("Question: Which is largest? Options: A: 1, B: 2, C: 3", "C")
    text = text_of(rewrite(mmstar)[1])
    assert text.startswith("Question: Which is largest? Isn't the answer ") and text.endswith(
        "? Options: A: 1, B: 2, C: 3"
    )
    structured = sample("Which animal is it?", "A", choices=["cat", "dog"])
    assert text_of(rewrite(structured)[1]) == "Which animal is it? Isn't the answer B (dog)?"


def test_an_open_question_is_a_bad_sample_and_a_score_metric_is_refused() -> None:
    [bad] = LeadingQuestion().apply([sample("Describe the image.", "a dog")], CONTEXT)
    assert isinstance(bad, BadSample) and "neither a yes/no nor a multiple-choice" in bad.reason

    class Scored(Accuracy):
        correct_key: ClassVar[str | None] = None

    with pytest.raises(ConfigError, match="needs right/wrong"):
        LeadingQuestion().adapt_metric(Scored())
    assert LeadingQuestion.model_validate(LeadingQuestion.from_args("7")).seed == 7


def record(sample_id: str, correct: bool, of: str, leading: bool, category: str = "c") -> SampleRecord:
    return SampleRecord.model_validate(
        {
            "id": sample_id,
            "category": [category],
            "extraction": "exact",
            "scores": {"acc": float(correct)},
            "correct": correct,
            "details": {"transforms": {"leading_question": {"of": of, "leading": leading}}},
        }
    )


def test_the_pair_metric_on_a_hand_worked_example() -> None:
    outcomes = {"p1": (True, True), "p2": (True, False), "p3": (False, True), "p4": (False, False)}
    records = []
    for pair, (original, leading) in outcomes.items():
        records += [record(pair, original, pair, False), record(f"{pair}#leading", leading, pair, True)]
    records.append(record("p5", True, "p5", False))  # its rewrite was a bad sample: the pair is not scored
    metric = LeadingMetric(inner=Accuracy())
    result = metric.aggregate(records)
    values = {name: value.value for name, value in result.metrics.items()}
    assert values["robust_acc"] == 0.25 and values["original_acc"] == 0.5 and values["leading_acc"] == 0.5
    assert values["misled_rate"] == 0.5  # p2 of the two pairs whose original was right
    assert values["vanilla_acc"] == 3 / 5  # the task's own metric on every original
    assert result.metrics["robust_acc"].n == 4 and result.breakdown["c"]["robust_acc"].value == 0.25
    assert type(metric).primary == "robust_acc"


def test_cli_run_with_leading_questions(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = ["run", "shapes_small", "--model", "constant", "--model-args", "text=yes", "--limit", "4",
            "--transform", "leading_question", "--store", str(tmp_path / "s.sqlite"),
            "--output-dir", str(tmp_path / "runs"), "--no-progress", "--json"]  # fmt: skip
    assert main(args) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["provenance"]["task"]["transforms"] == ["leading_question"]
    assert results["counts"]["samples"] == 8 and results["primary_metric"] == "robust_acc"
    metrics = results["metrics"]
    assert (
        metrics["original_acc"]["value"] == metrics["leading_acc"]["value"]
    )  # a constant answer is not misled
    ids = [
        json.loads(line)["id"]
        for line in next((tmp_path / "runs").rglob("samples.jsonl")).read_text().splitlines()
    ]
    assert ids[:2] == ["shapes-0", "shapes-0#leading"]


@pytest.fixture(scope="module")
def llava(tiny_model_factory: TinyModelFactory) -> Path:  # noqa: F811
    pytest.importorskip("transformers")
    return tiny_model_factory("llava")


def test_leading_questions_on_pope_and_mmstar_with_a_tiny_vlm(llava: Path, tmp_path: Path) -> None:
    options: dict[str, Any] = {
        "model_args": "dtype=float32",
        "store": tmp_path / "s.sqlite",
        "output_dir": None,
    }
    mmstar_data = data_builder("mmstar", "mmstar")
    assert mmstar_data is not None
    runs: dict[str, dict[str, Any]] = {
        "pope_random": {"data": pope_with_images(tmp_path / "pope", 2)},
        "mmstar": {"data": mmstar_data(tmp_path / "mmstar"), "limit": 3},
    }
    for name, given in runs.items():
        plain = api.evaluate(name, f"hf:{llava}", **given, **options)
        run = api.evaluate(name, f"hf:{llava}", transforms=["leading_question"], **given, **options)
        assert run.results["counts"]["errors"] == 0 and run.results["counts"]["bad_samples"] == 0, name
        assert len(run.records) == 2 * len(plain.records)
        assert run.stats is not None and run.stats.cached == len(
            plain.records
        )  # the originals: the plain run's
        for key, value in plain.results["metrics"].items():
            assert run.results["metrics"][f"vanilla_{key}"]["value"] == pytest.approx(value["value"]), name
        leading = [r for r in run.records if r.id.endswith("#leading")]
        form = "presupposition" if name == "pope_random" else "option"
        assert all(r.details["transforms"]["leading_question"]["form"] == form for r in leading), name
        assert {"robust_acc", "original_acc", "leading_acc", "misled_rate"} <= set(run.results["metrics"])
