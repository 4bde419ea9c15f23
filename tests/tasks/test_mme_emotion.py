"""MME-Emotion: the two judge stages (prompts, frames), both score parsers with their quirks and
cal_metrics.py's arithmetic; expected values worked out by hand from FunAudioLLM/MME-Emotion@0c265d8
(extract_step/*/code/extract_step.py, eval_cot/*/code/eval_cot_gpt4o.py, eval_cot/*/metrics/
cal_metrics.py and eval_cot/Overall/metrics/cal_metrics.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mmlens import api
from mmlens.tasks.mme_emotion.metric import (
    SYSTEM,
    parse_overall_scores,
    parse_task_scores,
    prompt,
    step_metrics,
)
from mmlens.tasks.mme_emotion.scenario import TASKS
from tests.fixtures.dialogue_server import text_of
from tests.fixtures.mme_emotion_data import build_mme_emotion
from tests.fixtures.scripted_server import ScriptedServer


def block(text: str) -> str:
    return f"Ratings: <score>{text}</score>"


@pytest.mark.parametrize(
    ("reply", "task_scores", "overall_scores"),
    [
        (block("Step 1: 1/1, Step 2: 0/1, Step 3: 1/1"), [1, 0, 1], [1, 0, 1]),
        (block("Step 1:1/1"), [], [1.0]),  # the task parser needs ": " before the digit
        (block("Step 1: 1/2"), [], [0.5]),  # the task parser needs "/1"
        (block("Step 1: 1/10"), [1], [0.1]),  # ": 1/1" matches the start of "1/10"
        (block("Step 1: 2/1"), [2], [2.0]),  # not checked to be 0 or 1
        (block("Step 1: 0/0"), [], [0.0]),  # a zero denominator reads 0.0
        ("<score>\nStep 1: 1/1\n</score>", None, None),  # "." stops at a newline: no block
        ("Step 1: 1/1", None, None),
        (None, None, None),  # str(None): no block
    ],
)
def test_score_parsers(
    reply: str | None, task_scores: list[float] | None, overall_scores: list[float] | None
) -> None:
    assert parse_task_scores(reply, "ER-Lab") == task_scores
    assert parse_overall_scores(reply) == overall_scores


def test_fg_er_and_ml_er_read_any_denominator() -> None:
    assert parse_task_scores(block("Step 1: 1/2, Step 2:1/1"), "FG-ER") == [0.5, 1.0]
    assert parse_task_scores(block("Step 1: 1/2, Step 2:1/1"), "ML-ER") == [0.5, 1.0]
    assert parse_task_scores(block("Step 1: 1/2, Step 2:1/1"), "IR") == []


def test_step_metrics() -> None:
    assert step_metrics([1.0]) == (1.0, 0.0, 1)  # a single step: reasoning 0.0
    assert step_metrics([1.0, 0.0, 1.0]) == (1.0, 0.5, 3)


def test_prompts_are_the_official_text() -> None:
    for task in TASKS:
        assert prompt("extract", task).count("{model_response}") == 1
        assert all(
            prompt("eval", task).count(f"{{{name}}}") == 1 for name in ("audio_clue", "ground_truth", "step")
        )
    assert prompt("extract", "ER-Lab").startswith(
        "Given the following answer about the emotion conveyed in a video, please help me extract several key"
    )
    assert "showcase the predicted intent" in prompt("extract", "IR")
    assert "Output format: <score>Step 1: 0/1, Step 2: 1/1,...</score>" in prompt("eval", "SA")


VIDEO = {task: f"{task}/{task.replace('-', '_')}/video/c0.mp4" for task in TASKS}
REPLIES = {
    VIDEO["ER-Lab"]: block("Step 1: 1/1, Step 2: 0/1, Step 3: 1/1"),
    "ER-Lab/ER_Lab/video/c1.mp4": block("Step 1: 0/1"),
    VIDEO["ER-Wild"]: block("Step 1: 1/1, Step 2: 1/1"),
    VIDEO["Noise-ER"]: "<score>\nStep 1: 1/1\n</score>",  # skipped everywhere
    VIDEO["FG-ER"]: block("Step 1: 1/2, Step 2: 1/1"),
    VIDEO["ML-ER"]: block("Step 1:1/1"),
    VIDEO["SA"]: block("Step 1:1/1, Step 2: 0/1"),  # task parser [0], overall [1, 0]
    VIDEO["FG-SA"]: "I cannot rate this.",  # skipped
    VIDEO["IR"]: block("Step 1: 1/10"),  # task [1], overall [0.1]
}


def test_replayed_two_stages_and_metrics(tmp_path: Path) -> None:
    data = build_mme_emotion(tmp_path / "MME-Emotion-Dataset")
    rows = [
        {
            "id": k,
            "response": f"answer {i}",
            "roles": {"extractor": [f"<step>Step 1: s{i}</step>"], "judge": [v]},
        }
        for i, (k, v) in enumerate(REPLIES.items())
    ]
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = api.score("mme_emotion", predictions, data=str(data), store=tmp_path / "s.sqlite")
    metrics = {k: v["value"] for k, v in result.results["metrics"].items()}
    # overall parser, 7 rated samples: recognition (1+0+1+1+1+0+0.1)/7, reasoning (.5+0+1+.5+0+1+0)/7
    assert metrics["recognition"] == 58.6 and metrics["reasoning"] == 42.9
    assert metrics["cot"] == 50.7  # 0.5 * (4.1 + 3) / 7 = 0.50714
    assert metrics["steps"] == 1.7  # 12 / 7
    assert result.results["metrics"]["cot"]["n"] == 7
    breakdown = result.results["breakdown"]
    assert (
        breakdown["ER-Lab"]["recognition"]["value"] == 50.0
        and breakdown["ER-Lab"]["reasoning"]["value"] == 25.0
    )
    assert breakdown["ER-Lab"]["cot"]["value"] == 37.5
    assert breakdown["SA"]["cot"]["value"] == 0.0  # the task parser reads only "Step 2: 0/1"
    assert breakdown["IR"]["recognition"]["value"] == 100.0
    assert breakdown["FG-ER"]["reasoning"]["value"] == 50.0
    assert "ER-Wild/anger" in breakdown  # "angry" merged as ER-Wild's cal_metrics.py does
    assert "Noise-ER" not in breakdown and "FG-SA" not in breakdown
    by_id = {r.id: r for r in result.records}
    assert by_id[VIDEO["FG-SA"]].details["judge_parse"] == "unparsed"
    exchanges = by_id[VIDEO["ER-Lab"]].exchanges
    extractor = next(e for e in exchanges if e.role == "extractor")
    judge = next(e for e in exchanges if e.role == "judge")
    assert extractor.prompt[0] == {"role": "system", "content": [{"type": "text", "text": SYSTEM}]} or (
        text_of(extractor.prompt[0]["content"]) == SYSTEM
    )
    assert "answer: 'answer 0'" in text_of(extractor.prompt[1]["content"])
    content = judge.prompt[1]["content"]
    assert [p["type"] for p in content] == ["text"] + ["image"] * 3  # 12 frames at 4 fps: frames 0, 4, 8
    rating = content[0]["text"]
    assert "- Audio clue: 'loud voice in ER_Lab/video/c0.mp4'" in rating
    assert "- Model prediction: '<step>Step 1: s0</step>'" in rating
    c1 = next(e for e in by_id["ER-Lab/ER_Lab/video/c1.mp4"].exchanges if e.role == "judge")
    assert len(c1.prompt[1]["content"]) == 11  # 30 frames at 2 fps: 15 key frames, the first 10


def scripted(body: dict[str, Any]) -> str:
    text = text_of(body["messages"][-1]["content"])
    if body["model"] == "extractor":
        return "<step>Step 1: calm face. Step 2: The predicted emotion is anger.</step>"
    assert body["model"] == "judge"
    return (
        block("Step 1: 1/1, Step 2: 1/1")
        if "label(s): 'Anger'" in text or "label: 'Anger'" in text
        else block("Step 1: 0/1, Step 2: 0/1")
    )


def test_end_to_end_through_a_local_server(tmp_path: Path) -> None:
    data = build_mme_emotion(tmp_path / "MME-Emotion-Dataset")
    with ScriptedServer(chat=scripted) as server:

        def run() -> api.RunResult:
            return api.evaluate(
                "mme_emotion",
                "constant",
                model_args="text=He is angry.",
                data=str(data),
                roles={"extractor": "openai:extractor", "judge": "openai:judge"},
                role_args={
                    "extractor": f"base_url={server.base_url}",
                    "judge": f"base_url={server.base_url}",
                },
                store=tmp_path / "s.sqlite",
                output_dir=None,
            )

        first = run()
        asked = len(server.received)
        second = run()
        # 9 ratings; 6 distinct extraction prompts (the same answer: ER-Lab's two clips and ER-Wild
        # share one prompt text, FG-ER and ML-ER another), each sent once; the rerun asks nothing
        assert len(server.received) == asked == 9 + 6
    judge_bodies = [b for _, b in server.received if b["model"] == "judge"]
    assert all(b["temperature"] == 0.0 for b in judge_bodies)
    # ER-Lab (2 clips, label "Anger"), Noise-ER and FG-ER ("Anger") rate 1/1, 1/1; the other 5 rate 0
    assert first.results["metrics"]["recognition"]["value"] == pytest.approx(round(400 / 9, 1))
    assert first.results["judging"]["official"] is False
    assert second.results["metrics"]["cot"]["value"] == first.results["metrics"]["cot"]["value"]
