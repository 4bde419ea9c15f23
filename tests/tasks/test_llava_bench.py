"""LLaVA-Bench (In-the-Wild): the official review prompt, ``parse_score`` and the relative score of
summarize_gpt_review.py, replayed from recorded judge replies; expected values worked out from
haotian-liu/LLaVA@181a2f8 llava/eval/eval_gpt_review_bench.py (parse_score, content) and
summarize_gpt_review.py (column means rounded to 3 places, round(s[1] / s[0] * 100, 1))."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlens import api
from mmlens.tasks.llava_bench.metric import join_caption, parse_score, review_content
from tests.fixtures.judged_bench_data import build_llava_bench

TASK = "llava_bench_in_the_wild"


@pytest.mark.parametrize(
    ("review", "pair"),
    [
        ("8 9\nAssistant 2 is better.", [8.0, 9.0]),
        ("8,9", [8.0, 9.0]),  # commas become spaces
        ("8, 9", [-1, -1]),  # "8  9".split(" ") -> ["8", "", "9"]: three tokens
        ("8 9 ", [-1, -1]),  # a trailing space is a third (empty) token
        ("7.5 10", [7.5, 10.0]),
        ("Scores: 8 9", [-1, -1]),
        ("eight nine", [-1, -1]),  # float() fails
        ("", [-1, -1]),
        (None, [-1, -1]),
    ],
)
def test_official_parse_score(review: str | None, pair: list[float]) -> None:
    assert parse_score(review) == pair


def test_review_content_and_caption_joins() -> None:
    assert join_caption(["a", "b"], "official") == "a\nb"
    assert join_caption("ab", "official") == "a\nb"  # the official join of a string caption
    assert join_caption("ab", "lmms_eval") == "ab"
    text = review_content("cap", "Q?", "ref", "ans", "conv")
    assert text.startswith(
        "[Context]\ncap\n\n[Question]\nQ?\n\n[Assistant 1]\nref\n\n[End of Assistant 1]\n\n"
    )
    assert "[Assistant 2]\nans\n\n[End of Assistant 2]\n\n[System]\nWe would like to request" in text
    assert text.endswith("does not affect your judgment.\n\n")


def write(path: Path, reviews: list[str]) -> Path:
    rows = [{"id": str(i), "response": f"answer {i}", "roles": {"judge": r}} for i, r in enumerate(reviews)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


REVIEWS = ["8 6\nok", "9 9", "7 8", "8, 9\nunparsable pair"]


def test_relative_scores_by_hand(tmp_path: Path) -> None:
    data = build_llava_bench(tmp_path)
    result = api.score(TASK, write(tmp_path / "p.jsonl", REVIEWS), data=data, store=tmp_path / "s.sqlite")
    metrics = {k: v["value"] for k, v in result.results["metrics"].items()}
    # all: pairs (8,6) (9,9) (7,8) (-1,-1): means 23/4 = 5.75 and 22/4 = 5.5 -> round(5.5/5.75*100, 1)
    assert metrics["relative"] == round(5.5 / 5.75 * 100, 1) == 95.7
    # conv: (8,6) and (-1,-1) kept: 3.5 and 2.5 -> 71.4
    assert metrics["relative_conv"] == 71.4
    assert metrics["relative_detail"] == 100.0
    assert metrics["relative_complex"] == round(8 / 7 * 100, 1)
    assert result.results["counts"]["failed_extraction"] == 1
    first = result.records[0]
    (exchange,) = [e for e in first.exchanges if e.role == "judge"]
    sent = json.dumps(exchange.prompt)
    assert "You are a helpful and precise assistant" in sent
    assert "[Context]\\nA red square.\\nIt sits on a table.\\n\\n[Question]\\nWhat is in the photo?" in sent
    assert "[Assistant 1]\\nReference 0.\\n\\n" in sent and "[Assistant 2]\\nanswer 0\\n\\n" in sent


def test_three_place_rounding_before_the_ratio(tmp_path: Path) -> None:
    data = build_llava_bench(tmp_path)
    # all: reference mean 25/4 = 6.25, model mean (1+1+1+1.0004)/4 = 1.0001 -> 1.0 after rounding
    reviews = ["6 1", "6 1", "6 1", "7 1.0004"]
    official = api.score(TASK, write(tmp_path / "p.jsonl", reviews), data=data)
    vlmevalkit = api.score(TASK, write(tmp_path / "p.jsonl", reviews), data=data, profile="vlmevalkit")
    assert official.results["metrics"]["model_score"]["value"] == 1.0
    assert vlmevalkit.results["metrics"]["model_score"]["value"] == pytest.approx(1.0001)


def test_evaluate_end_to_end_with_a_constant_judge(tmp_path: Path) -> None:
    data = build_llava_bench(tmp_path)
    result = api.evaluate(
        TASK,
        "constant",
        model_args="text=A square.",
        data=data,
        roles={"judge": "constant"},
        role_args={"judge": "text=8 4"},
        store=tmp_path / "s.sqlite",
        output_dir=None,
    )
    assert result.results["metrics"]["relative"]["value"] == 50.0
    judge = [e for e in result.records[2].exchanges if e.role == "judge"][0]
    # the string caption "A blue square." joined character by character, as the official script does
    assert "[Context]\\nA\\n \\nb\\nl" in json.dumps(judge.prompt)
    assert result.results["provenance"]["roles"]["judge"]["task_default"] == "openai:gpt-4-0314"
