"""two_step end to end: reasoning, then the reasoning as the assistant's message and the answer prompt."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.errors import DataError
from mmlens.core.media import GeneratedImage
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.inferencers.two_step import (
    DEFAULT_ANSWER_PROMPT,
    DEFAULT_REASONING_PROMPT,
    add_to_last_user_message,
)
from tests.fixtures.dialogue_server import DialogueServer
from tests.inferencers.conftest import run_on_hf_batched_and_unbatched, run_on_server, sample_lines

QUESTIONS = {
    "q1": "Which colour is the square?",
    "q2": "What is 2 + 3?",
    "q3": "Is the square blue? Answer yes or no.",
}


def test_the_reasoning_prompt_ends_the_last_user_message() -> None:
    image = ImagePart(GeneratedImage("img", lambda: None))  # type: ignore[arg-type, return-value]
    system = Message.system("Be brief.")
    asked = add_to_last_user_message([system, Message("user", (image, TextPart("Q?")))], "Think.")
    assert asked == [system, Message("user", (image, TextPart("Q?\nThink.")))]
    only_image = add_to_last_user_message([Message("user", (image,))], "Think.")
    assert only_image == [Message("user", (image, TextPart("Think.")))]
    unchanged = [Message.user("Q?")]
    assert add_to_last_user_message(unchanged, "") == unchanged


def test_reason_then_answer_on_a_tiny_hf_model(llava: Path, bench: Path, tmp_path: Path) -> None:
    lines = run_on_hf_batched_and_unbatched("toy_two_step", llava, bench, tmp_path, rounds=2)
    for sample_id, question in QUESTIONS.items():
        line = lines[sample_id]
        reasoning_round, answer_round = line["exchanges"]
        assert (reasoning_round["round"], answer_round["round"]) == (1, 2)
        assert (
            reasoning_round["prompt"][-1]["content"][-1]["text"] == f"{question}\n{DEFAULT_REASONING_PROMPT}"
        )
        reasoning = reasoning_round["response"]
        assert line["details"]["reasoning"] == reasoning
        assert answer_round["prompt"] == [
            *reasoning_round["prompt"],
            {"role": "assistant", "content": [{"type": "text", "text": reasoning}]},
            {"role": "user", "content": [{"type": "text", "text": DEFAULT_ANSWER_PROMPT}]},
        ]
        assert line["response"] == answer_round["response"]


def test_reason_then_answer_over_http(bench: Path, server: DialogueServer, tmp_path: Path) -> None:
    result = run_on_server("toy_two_step", bench, server, tmp_path / "s.sqlite", output_dir=tmp_path / "runs")
    assert result.results["provenance"]["requests"]["rounds"] == 2
    assert Counter(server.turns()) == {1: 3, 2: 3}
    for item in server.received:
        first_user = item.messages[0]["content"]
        text = first_user if isinstance(first_user, str) else first_user[-1]["text"]
        question = text.removesuffix(f"\n{DEFAULT_REASONING_PROMPT}")
        assert question in QUESTIONS.values() and text != question
        if item.turn == 1:
            assert len(item.messages) == 1 and item.body["max_tokens"] == 12
        else:
            assert item.messages[1:] == [
                {"role": "assistant", "content": f"[1] {text}"},  # the model's own reasoning
                {"role": "user", "content": DEFAULT_ANSWER_PROMPT},
            ]
            assert item.body["max_tokens"] == 4  # answer_max_new_tokens
    lines = sample_lines(result.run_dir)
    for sample_id, question in QUESTIONS.items():
        assert lines[sample_id]["details"]["reasoning"] == f"[1] {question}\n{DEFAULT_REASONING_PROMPT}"
        assert lines[sample_id]["response"] == f"[2] {DEFAULT_ANSWER_PROMPT}"
    assert result.results["metrics"]["acc"]["value"] == pytest.approx(1 / 3)  # q2's target is that reply

    server.clear()
    rerun = run_on_server("toy_two_step", bench, server, tmp_path / "s.sqlite")
    assert server.turns() == [] and rerun.stats is not None and rerun.stats.computed == 0


def test_prompts_are_configurable(bench: Path, server: DialogueServer, tmp_path: Path) -> None:
    (bench / "custom.yaml").write_text(
        "name: toy_two_step_custom\nscenario: {type: jsonl, path: questions.jsonl}\n"
        "inferencer: {type: two_step, reasoning_prompt: '', answer_prompt: 'So?', answer_max_new_tokens: 2}\n"
        "metric: {type: accuracy, extractor: exact}\n"
    )
    run_on_server("toy_two_step_custom", bench, server, tmp_path / "s.sqlite")
    firsts = [item for item in server.received if item.turn == 1]
    assert {str(item.messages[0]["content"]) for item in firsts} >= {"What is 2 + 3?"}
    assert all(item.body["max_tokens"] == 256 for item in firsts)  # the default reasoning length
    seconds = [item for item in server.received if item.turn == 2]
    assert all(item.messages[-1] == {"role": "user", "content": "So?"} for item in seconds)
    assert all(item.body["max_tokens"] == 2 for item in seconds)


def test_score_replays_reasoning_and_answer(bench: Path, tmp_path: Path) -> None:
    predictions = tmp_path / "p.jsonl"
    lines = [
        {"id": "q1", "responses": ["It is red, so A.", "A"]},
        {"id": "q3", "responses": ["The square is blue.", "yes"]},
    ]
    predictions.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = api.score("toy_two_step", predictions, include=[bench])
    by_id = {r.id: r for r in result.records}
    assert by_id["q1"].response == "A" and by_id["q1"].details["reasoning"] == "It is red, so A."
    assert by_id["q1"].correct and by_id["q3"].correct
    assert by_id["q2"].extraction == "error"  # no line for it
    assert result.results["counts"]["missing_predictions"] == 1

    predictions.write_text(json.dumps({"id": "q1", "response": "A"}) + "\n")
    with pytest.raises(DataError, match=r'line 1: two_step has two rounds: give "responses"'):
        api.score("toy_two_step", predictions, include=[bench])
