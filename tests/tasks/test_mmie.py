"""MMIE: the official judge input, ### Score parsing with banker's rounding, the 0-6 range and the
round(mean, 3) averages, replayed from recorded judge replies; expected values from
Lillianwei-h/MMIE@eb0fd6e main.py (find_score, average), dataset.py and prompts.py (get_prompt)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlens import api
from mmlens.tasks.mmie.metric import find_score, kept_score, rubric
from tests.fixtures.mmie_data import build_mmie


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("### Feedback\nok\n### Score\n5", 5),
        ("### Score: 4.5", 4),  # round(4.5) == 4 (banker's)
        ("### Score\n5.5", 6),  # round(5.5) == 6
        ("### Score\n2.51", 3),
        ("### Score\n-1", -1),  # parsed, then out of 0-6
        ("### Score\nseven, 3", 3),  # .*? reaches the first number, across words
        ("Score: 5", None),  # no "### Score"
    ],
)
def test_find_score(reply: str, score: int | None) -> None:
    assert find_score(reply) == score


def test_range_rule() -> None:
    assert kept_score("### Score\n6.4") == 6
    assert kept_score("### Score\n6.5") == 6  # round(6.5) == 6: kept
    assert kept_score("### Score\n7") is None
    assert kept_score("### Score\n-0.4") == 0  # round(-0.4) == 0: kept


def lines(path: Path, rows: dict[str, tuple[str, str]]) -> Path:
    path.write_text(
        "".join(
            json.dumps({"id": k, "response": r, "roles": {"judge": [j]}}) + "\n" for k, (r, j) in rows.items()
        )
    )
    return path


def test_replayed_judge_scores_and_means(tmp_path: Path) -> None:
    data = build_mmie(tmp_path / "mmie")
    rows = {
        "SA_0": ("They went home.", "### Feedback\nfine\n### Score\n4.5"),  # -> 4
        "PBL_0": ("Fold it.", "### Score\n5"),
        "MSR_0": ("x = 1", "### Score\n9"),  # out of 0-6: left out of every mean
        "MSR_1": ("42", "### Score\n6"),  # never asked: 5 images > 4, dropped
    }
    result = api.score("mmie", lines(tmp_path / "p.jsonl", rows), data=str(data), store=tmp_path / "s.sqlite")
    metrics = result.results["metrics"]
    assert metrics["score"]["value"] == 4.5  # round(mean([4, 5]), 3)
    assert metrics["score"]["n"] == 2
    assert metrics["dropped"]["value"] == 1
    breakdown = result.results["breakdown"]
    assert breakdown["SA"]["score"]["value"] == 4 and breakdown["PBL"]["score"]["value"] == 5
    assert "MSR" not in breakdown


def test_judge_prompt_is_the_official_text(tmp_path: Path) -> None:
    data = build_mmie(tmp_path / "mmie")
    rows = {k: ("ans", "### Score\n3") for k in ("SA_0", "PBL_0", "MSR_0", "MSR_1")}
    result = api.score("mmie", lines(tmp_path / "p.jsonl", rows), data=str(data), store=tmp_path / "s.sqlite")
    by_id = {r.id: r for r in result.records}
    (exchange,) = [e for e in by_id["MSR_0"].exchanges if e.role == "judge"]
    content = exchange.prompt[0]["content"]
    assert [p["type"] for p in content] == ["text", "image", "text"]
    text = content[0]["text"] + "<image>" + content[2]["text"]
    assert text == (
        rubric("MSR") + "### Question\nSolve:\nImage-0: <image>\nx+1=2\n\n### Answer\nans\n\n"
        "### Correct Answer\nThe correct answer to this question should be: x = 1\n### Feedback\n"
    )
    assert rubric("SA").endswith("The final score should be an integer between 0 and 6.")
    assert result.results["metrics"]["score"]["value"] == 3.0


def test_evaluate_end_to_end_with_a_constant_judge(tmp_path: Path) -> None:
    data = build_mmie(tmp_path / "mmie")
    result = api.evaluate(
        "mmie",
        "constant",
        model_args="text=an answer",
        data=str(data),
        roles={"judge": "constant"},
        role_args={"judge": "text=### Score\n2.5"},
        store=tmp_path / "s.sqlite",
        output_dir=None,
    )
    assert result.results["metrics"]["score"]["value"] == 2.0  # round(2.5) == 2
    first = {r.id: r for r in result.records}["SA_0"]
    assert [p["type"] for p in first.prompt[0]["content"]] == ["text", "image", "text"]  # interleaved
