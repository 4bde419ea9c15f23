"""MMVM: the published TSV with two images, can_infer exact matching and per match type means."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlens import api
from mmlens.tasks.mmvm.metric import match_type_names
from tests.fixtures.benchmark_data import write_predictions
from tests.fixtures.mmvm_data import QUESTION, build_tsv


def test_match_type_quirks() -> None:
    # official: eval() failure -> [1, 5]; an id outside 1-8 -> 2
    assert match_type_names("[2, 3]") == ["SP", "TM"]
    assert match_type_names("not a list") == ["CL", "RP"]
    assert match_type_names("[9]") == ["SP"]


def test_score_by_hand(tmp_path: Path) -> None:
    data = build_tsv(tmp_path / "mmvm")
    responses = {
        "0": "A",  # one letter token -> A, right
        "1": "The answer is B.",  # one letter token (B) among the last words -> B, right
        "2": "3",  # no letter; option text "3" is the one option contained -> C, right
        "3": "I think A or B",  # two letters, no text match -> Z, wrong
    }
    predictions = write_predictions(tmp_path / "p.jsonl", responses)
    result = api.score("mmvm", predictions, data=data).results
    assert result["metrics"]["hit"]["value"] == pytest.approx(3 / 4)
    breakdown = result["breakdown"]
    assert breakdown["match_type/CL"]["hit"]["value"] == pytest.approx(1.0)  # ids 0 and 2
    assert breakdown["match_type/SP"]["hit"]["value"] == pytest.approx(1 / 2)  # ids 1 and 3
    assert breakdown["match_type/RP"]["hit"]["n"] == 1
    assert result["counts"]["failed_extraction"] == 1


def test_evaluate_end_to_end_with_two_images(tmp_path: Path) -> None:
    data = build_tsv(tmp_path / "mmvm")
    result = api.evaluate("mmvm", "constant", model_args="text=A", data=data, output_dir=None)
    assert result.results["metrics"]["hit"]["value"] == pytest.approx(1 / 4)
    content = result.records[0].prompt[0]["content"]
    assert [part["type"] for part in content] == ["image", "image", "text"]
    assert content[2]["text"] == QUESTION


CHOICES = {"A": "1", "B": "2", "C": "3", "D": "4", "E": "None of the above choices are correct"}


@pytest.mark.parametrize(
    ("response", "letter"),
    [
        # worked out from zhouyiks/MMVMEvalKit@34ecca27 vlmeval/utils/matching_util.py
        ("C) because of its colour and shape which is distinctive", "C"),  # a lone letter anywhere
        ("The answer is B and not A", None),  # two letters, no option text: Z (no "answer is" rule)
        ("I'm sorry, but without the image provided I cannot tell", "Z"),
        ("Z", "Z"),
        ("Failed to obtain answer via API: timeout, option 2", "B"),  # only the letter rule gives up
        ("The object that matches is the one numbered 2, " + "clearly so " * 20, "B"),  # no length cap
        ("none of the above choices are correct", "E"),
        ("1 or 2", None),  # two option texts
    ],
)
def test_the_forks_can_infer(response: str, letter: str | None) -> None:
    from mmlens.tasks.mmvm.matching import can_infer

    assert can_infer(response, dict(CHOICES)) == letter
