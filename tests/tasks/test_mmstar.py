"""MMStar: the official first-letter rule, micro accuracy, and multimodal gain / leakage."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from mmlens import api
from mmlens.analyses.multimodal_gain import multimodal_gain
from mmlens.core.requests import Request, Response
from mmlens.models.base import Emit, Model, ModelArgs, models
from mmlens.tasks.mmstar.metric import extract_mmstar_letter
from tests.fixtures.benchmark_data import MMSTAR_ROWS, build_mmstar, write_predictions


class ImageAwareArgs(ModelArgs):
    with_image: str = "A"
    without_image: str = "B"


@models.register("bench_a_image_aware")
class ImageAwareModel(Model):
    """A test backend that answers one letter when the request carries an image and another without."""

    backend = "bench_a_image_aware"
    Args = ImageAwareArgs

    def process(self, requests: Sequence[Request], emit: Emit) -> None:
        args = self.args
        assert isinstance(args, ImageAwareArgs)
        for index, request in enumerate(requests):
            has_image = any(message.images for message in request.messages)
            emit(index, Response(text=args.with_image if has_image else args.without_image))


@pytest.mark.parametrize(
    ("response", "letter"),
    [
        ("B", "B"),
        ("(b) a circle", "B"),
        ("Option B", "B"),
        ("option\nd", "D"),  # newlines become spaces before the prefixes are checked
        ("the answer is b.", "B"),
        ("  c\n", "C"),
        ("B is wrong but A", "B"),  # only the first letter counts
        ("Answer: B", "A"),  # "answer" starts with "a": the official rule reads A
        ("The answer is (B)", None),  # position 14 is "(": no letter there
        ("", None),
        ("(", None),
        ("42", None),
    ],
)
def test_extraction_reads_only_the_official_positions(response: str, letter: str | None) -> None:
    assert extract_mmstar_letter(response).answer == letter


def test_score_micro_accuracy_by_hand(tmp_path: Path) -> None:
    data = build_mmstar(tmp_path / "mmstar")
    # targets: 0 A, 1 B, 2 A, 3 C (coarse perception); 4 A, 5 B, 6 C, 7 D (math)
    responses = {
        "0": "A",  # right
        "1": "(b) circle",  # right
        "2": "B is wrong but A",  # wrong: reads B
        "3": "Option C",  # right
        "4": "Answer: B",  # right: reads A
        "5": "the answer is b",  # right
        "6": "The answer is (C)",  # wrong: no letter at position 14
        # "7" has no prediction: counted, scored wrong
    }
    predictions = write_predictions(tmp_path / "predictions.jsonl", responses)
    result = api.score("mmstar", predictions, data=data).results
    assert result["metrics"]["acc"]["value"] == pytest.approx(5 / 8)
    assert result["metrics"]["acc"]["n"] == 8
    breakdown = result["breakdown"]
    assert breakdown["coarse perception"]["acc"]["value"] == pytest.approx(3 / 4)
    assert breakdown["coarse perception/image scene and topic"]["acc"]["value"] == pytest.approx(2 / 3)
    assert breakdown["coarse perception/image emotion"]["acc"]["value"] == 1.0
    assert breakdown["math/geometry"]["acc"]["value"] == pytest.approx(2 / 4)
    assert result["counts"]["missing_predictions"] == 1
    assert result["counts"]["failed_extraction"] == 1  # "The answer is (C)"

    # lmms-eval's deviation, as a profile: the mean of the three l2 accuracies
    lmms = api.score("mmstar", predictions, data=data, profile="lmms-eval").results
    assert lmms["metrics"]["acc"]["value"] == pytest.approx((2 / 3 + 1 + 2 / 4) / 3)


def test_evaluate_end_to_end_with_the_constant_backend(tmp_path: Path) -> None:
    data = build_mmstar(tmp_path / "mmstar")
    result = api.evaluate(
        "mmstar",
        "constant",
        model_args="text=A",
        data=data,
        store=tmp_path / "s.sqlite",
        output_dir=tmp_path / "runs",
    )
    share_of_a = sum(answer == "A" for _, answer, _, _ in MMSTAR_ROWS) / len(MMSTAR_ROWS)
    assert result.results["metrics"]["acc"]["value"] == pytest.approx(share_of_a)
    prompt = result.records[0].prompt[0]["content"]
    assert prompt[0]["type"] == "image"
    assert prompt[1]["text"].endswith(
        "D: line\nAnswer with the option's letter from the given choices directly."
    )
    assert (result.run_dir / "samples.jsonl").is_file()

    blind = api.evaluate("mmstar_blind", "constant", model_args="text=A", data=data, output_dir=None)
    assert all(part["type"] == "text" for r in blind.records for part in r.prompt[0]["content"])


def test_multimodal_gain_and_leakage(tmp_path: Path) -> None:
    data = build_mmstar(tmp_path / "mmstar")
    # targets A,B,A,C,A,B,C,D: with images the model answers A (3/8), without B (2/8)
    options = {"data": data, "store": tmp_path / "s.sqlite", "output_dir": None}
    gain = multimodal_gain(
        "mmstar",
        "bench_a_image_aware",
        "constant",
        model_args="with_image=A,without_image=B",
        backbone_model_args="text=D",  # the backbone alone: 1/8
        **options,
    )
    assert (gain.s_v, gain.s_wv, gain.s_t) == pytest.approx((3 / 8, 2 / 8, 1 / 8))
    assert gain.mg == pytest.approx(1 / 8) and gain.ml == pytest.approx(1 / 8)
    assert gain.to_dict()["metric"] == "acc"

    clipped = multimodal_gain(
        "mmstar", "bench_a_image_aware", "constant", model_args="with_image=A,without_image=B",
        backbone_model_args="text=A", **options,
    )  # fmt: skip
    assert clipped.s_t == pytest.approx(3 / 8)
    assert clipped.ml == 0.0  # S_wv - S_t = -1/8 is clipped at zero


def test_gain_command_runs_the_three_evaluations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mmlens.cli import main

    data = build_mmstar(tmp_path / "mmstar")
    common = ["--data", str(data), "--output-dir", str(tmp_path / "runs")]
    code = main(
        [
            "gain",
            "mmstar",
            "--model",
            "bench_a_image_aware",
            "--model-args",
            "with_image=A,without_image=B",
            "--backbone-model",
            "constant",
            "--backbone-model-args",
            "text=D",
            "--json",
            *common,
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (summary["S_v"], summary["S_wv"], summary["S_t"]) == pytest.approx((3 / 8, 2 / 8, 1 / 8))
    assert summary["MG"] == pytest.approx(1 / 8) and summary["ML"] == pytest.approx(1 / 8)
    assert len(list((tmp_path / "runs").iterdir())) == 3
    code = main(["gain", "--model", "bench_a_image_aware", "--backbone-model", "constant", *common])
    assert code == 0 and "MG = S_v - S_wv" in capsys.readouterr().out


def test_the_backbone_alone_gets_the_language_model_prompt(tmp_path: Path) -> None:
    data = build_mmstar(tmp_path / "mmstar")
    options = {"data": data, "store": tmp_path / "s.sqlite", "output_dir": None}
    gain = multimodal_gain(
        "mmstar", "bench_a_image_aware", "constant", backbone_model_args="text=D", **options
    )
    backbone_prompt = gain.runs["S_t"].records[0].prompt[0]["content"]
    assert [part["type"] for part in backbone_prompt] == ["text"]
    assert backbone_prompt[0]["text"].startswith("Question: ")
    assert backbone_prompt[0]["text"].endswith("such as answer letter 'A' only. \n")
    blind_prompt = gain.runs["S_wv"].records[0].prompt[0]["content"]
    assert blind_prompt[0]["text"].endswith(
        "Answer with the option's letter from the given choices directly."
    )
