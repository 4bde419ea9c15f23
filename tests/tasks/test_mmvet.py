"""MM-Vet: the official grader's prompt, score parsing, retries and aggregation, replayed from
recorded judge replies; expected values worked out from yuweihao/MM-Vet@7d717c2
mm-vet_evaluator.py (``runs`` and ``export_result``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mmlens import api
from mmlens.tasks.mmvet.metric import grader_text, parse_official, parse_vlmevalkit
from tests.fixtures.judged_bench_data import build_mmvet


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("0.5", 0.5),
        ("1.0", 1.0),
        ("0.8\n", 0.8),  # split(" ")[0] -> "0.8\n", strip -> "0.8"
        ("0.3 because", 0.3),  # only the first space-separated token
        ("1e-1", 0.1),  # float() reads it
        ("1.5", None),  # out of [0, 1] -> assert False -> retry
        ("-0.1", None),
        ("Score: 0.5", None),  # first token "Score:"
        ("0.5\nok", None),  # split(" ") keeps the newline inside the first token: "0.5\nok"
        ("", None),
        (None, None),  # content None: .split raises, caught -> retry
    ],
)
def test_official_score_parsing(reply: str | None, score: float | None) -> None:
    assert parse_official(reply) == score


def test_nan_passes_the_official_range_check() -> None:
    # "nan" > 1.0 and "nan" < 0.0 are both False, so the official loop accepts it
    parsed = parse_official("nan")
    assert parsed is not None and math.isnan(parsed)


def test_vlmevalkit_reads_the_whole_reply() -> None:
    assert parse_vlmevalkit(" 0.7 ") == 0.7  # float() strips whitespace
    assert parse_vlmevalkit("0.7 because") is None  # the official parser would read 0.7


def test_grader_prompt_byte_for_byte() -> None:
    text = grader_text("What is x?", "-1<AND>-5", "x = 3")
    assert text.startswith(
        "Compare the ground truth and prediction from AI models, to give a correctness score"
    )
    # the prompt ends with the last example's "1.0\n", then "\n" and the " | "-joined line
    assert text.endswith("physical characteristics. | 1.0\n\nWhat is x? | -1 <AND> -5 | x = 3 | ")
    assert text.count("\n") == 12


def lines(path: Path, rows: dict[str, tuple[str, list[str]]]) -> Path:
    path.write_text(
        "".join(
            json.dumps({"id": k, "response": r, "roles": {"judge": j}}) + "\n" for k, (r, j) in rows.items()
        )
    )
    return path


def test_official_retries_and_aggregation(tmp_path: Path) -> None:
    data = build_mmvet(tmp_path)
    rows = {
        "v1_0": ("0.5", ["1.0"]),
        "v1_1": ("one", ["Score: 1", "0.6"]),  # retry 1 (temperature 0.0) parses
        # five unparsable retries after the first reply: the 6th call's "1.0" is never read -> 0.0
        "v1_2": ("none", ["x", "x", "x", "x", "x", "1.0"]),
        "v1_3": ("1 and 0", ["0.4 partly"]),
    }
    result = api.score("mmvet", lines(tmp_path / "p.jsonl", rows), data=data, store=tmp_path / "s.sqlite")
    metrics = {k: v["value"] for k, v in result.results["metrics"].items()}
    # total = (1.0 + 0.6 + 0.0 + 0.4) / 4 * 100 = 50.0
    assert metrics["total"] == 50.0
    # ocr: v1_0, v1_3 -> (1.0 + 0.4) / 2 = 70.0; math the same; rec: v1_1, v1_2 -> 30.0; know: 0.0
    assert (metrics["ocr"], metrics["math"], metrics["rec"], metrics["know"]) == (70.0, 70.0, 30.0, 0.0)
    assert "gen" not in metrics
    breakdown = result.results["breakdown"]
    assert breakdown["integration/ocr_math"]["total"]["value"] == 100.0
    assert breakdown["integration/math_ocr"]["total"]["value"] == 40.0  # published order names the set
    assert result.results["counts"]["failed_extraction"] == 1
    by_id = {r.id: r for r in result.records}
    assert by_id["v1_2"].extraction == "failed" and by_id["v1_2"].details["grader_calls"] == 6
    judge = [e for e in by_id["v1_1"].exchanges if e.role == "judge"]
    assert len(judge) == 2
    assert json.dumps(judge[1].prompt).endswith('Predict the correctness of the answer (digit): "}]}]')


def test_vlmevalkit_profile_five_tries(tmp_path: Path) -> None:
    data = build_mmvet(tmp_path)
    rows = {
        "v1_0": ("0.5", ["0.5 "]),
        "v1_1": ("one", ["x", "x", "x", "x", "x"]),  # 5 failed tries -> 0.0
        "v1_2": ("none", ["0.25"]),
        "v1_3": ("1 and 0", ["2", "0.75"]),
    }
    result = api.score("mmvet", lines(tmp_path / "p.jsonl", rows), data=data, profile="vlmevalkit")
    metrics = {k: v["value"] for k, v in result.results["metrics"].items()}
    assert metrics["total"] == pytest.approx((0.5 + 0.0 + 0.25 + 0.75) / 4 * 100)
    assert metrics["rec"] == pytest.approx(12.5)  # not rounded


def test_evaluate_end_to_end_with_a_constant_judge(tmp_path: Path) -> None:
    data = build_mmvet(tmp_path)
    result = api.evaluate(
        "mmvet",
        "constant",
        model_args="text=0.5",
        data=data,
        roles={"judge": "constant"},
        role_args={"judge": "text=0.3"},
        store=tmp_path / "s.sqlite",
        output_dir=None,
    )
    assert result.results["metrics"]["total"]["value"] == 30.0
    first = result.records[0]
    assert [part["type"] for part in first.prompt[0]["content"]] == ["image", "text"]
    assert result.results["provenance"]["roles"]["judge"]["task_default"] == "openai:gpt-4-0613"


def test_a_questions_only_copy_scores(tmp_path: Path) -> None:
    data = build_mmvet(tmp_path, with_images=False)
    rows = {k: ("r", ["1"]) for k in ("v1_0", "v1_1", "v1_2", "v1_3")}
    result = api.score("mmvet", lines(tmp_path / "p.jsonl", rows), data=data)
    assert result.results["metrics"]["total"]["value"] == 100.0
