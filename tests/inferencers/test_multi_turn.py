"""multi_turn end to end: a dialogue with the model's own answers, on a tiny hf model and on a real
HTTP chat server, plus replay of predictions files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mmlens import api
from mmlens.core.errors import ConfigError, DataError
from tests.fixtures.dialogue_server import DialogueServer
from tests.inferencers.conftest import run_on_hf_batched_and_unbatched, run_on_server, sample_lines

# toy_dialogue (tests/fixtures/rounds_bench/dialogues.jsonl): the user turns of each sample
TURNS = {
    "d1": ["What colour is the square?", "Are you sure?", "Say it in one word."],
    "d2": ["What colour is this square?", "Are you sure?"],
    "d3": ["Name a fruit.", "Name another one.", "And one more."],
    "d4": ["Is the sky blue? Answer yes or no."],
    "d5": ["How many apples are in the picture? Count them.", "Count again."],
}
WITH_IMAGE = {"d1", "d2", "d5"}


def text_message(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "content": [{"type": "text", "text": text}]}


def check_dialogue_prompts(line: dict[str, Any], turns: list[str], has_image: bool) -> None:
    """Round k's prompt is round k-1's, then the model's own answer k-1, then user turn k."""
    answers = line["details"]["turns"]
    assert len(answers) == len(turns) and line["response"] == answers[-1]
    exchanges = line.get("exchanges", [])
    if len(turns) == 1:  # a one-round sample keeps prompt/response only
        assert exchanges == [] and line["prompt"][-1]["content"][-1]["text"] == turns[0]
        return
    assert [e["round"] for e in exchanges] == list(range(1, len(turns) + 1))
    assert [e["response"] for e in exchanges] == answers
    first = exchanges[0]["prompt"]
    assert first == line["prompt"]
    assert [part["type"] for part in first[-1]["content"]] == (["image", "text"] if has_image else ["text"])
    for k in range(1, len(turns)):
        previous, prompt = exchanges[k - 1]["prompt"], exchanges[k]["prompt"]
        assert prompt == [
            *previous,
            text_message("assistant", answers[k - 1]),
            text_message("user", turns[k]),
        ]
        later_parts = [part["type"] for message in prompt[len(first) :] for part in message["content"]]
        assert set(later_parts) == {"text"}  # images stay in the first user message


# ----- a real (tiny) transformers model -----


def test_dialogue_on_a_tiny_hf_model(llava: Path, bench: Path, tmp_path: Path) -> None:
    lines = run_on_hf_batched_and_unbatched("toy_dialogue", llava, bench, tmp_path, rounds=3)
    assert sorted(lines) == sorted(TURNS)
    for sample_id, turns in TURNS.items():
        check_dialogue_prompts(lines[sample_id], turns, sample_id in WITH_IMAGE)
    # The tiny model's answers differ from turn to turn, so the history really is its own.
    assert len(set(lines["d1"]["details"]["turns"])) > 1


# ----- a real HTTP chat server -----


def test_every_turn_carries_the_models_own_previous_answers(
    bench: Path, server: DialogueServer, tmp_path: Path
) -> None:
    result = run_on_server("toy_dialogue", bench, server, tmp_path / "s.sqlite", output_dir=tmp_path / "runs")
    assert result.results["provenance"]["requests"]["rounds"] == 3
    assert Counter(server.turns()) == {1: 5, 2: 4, 3: 2}  # 5 dialogues of 3, 2, 3, 1 and 2 turns
    replies = {(item.turn, json.dumps(item.messages[:1])): item.reply for item in server.received}
    for item in server.received:
        assistant = [m["content"] for m in item.messages if m["role"] == "assistant"]
        # each assistant message is the reply the server itself gave to that turn of this dialogue
        first = json.dumps(item.messages[:1])
        assert assistant == [replies[(turn, first)] for turn in range(1, item.turn)]
        images = [
            i
            for i, m in enumerate(item.messages)
            if isinstance(m["content"], list) and any(p["type"] == "image_url" for p in m["content"])
        ]
        assert images in ([], [0])
    d1 = next(
        item for item in server.received if item.turn == 3 and "colour is the square" in str(item.messages)
    )
    assert [m["role"] for m in d1.messages] == ["user", "assistant", "user", "assistant", "user"]
    assert d1.messages[1:] == [
        {"role": "assistant", "content": "[1] What colour is the square?"},
        {"role": "user", "content": "Are you sure?"},
        {"role": "assistant", "content": "[2] Are you sure?"},
        {"role": "user", "content": "Say it in one word."},
    ]
    assert d1.body["max_tokens"] == 8 and d1.body["temperature"] == 0.0 and "seed" not in d1.body

    lines = sample_lines(result.run_dir)
    for sample_id, turns in TURNS.items():
        check_dialogue_prompts(lines[sample_id], turns, sample_id in WITH_IMAGE)
        assert lines[sample_id]["details"]["turns"] == [f"[{k}] {text}" for k, text in enumerate(turns, 1)]
    # targets: d1, d3 and d4 expect the last reply, d2 and d5 something else
    assert result.results["metrics"]["acc"]["value"] == pytest.approx(3 / 5)

    server.clear()
    rerun = run_on_server("toy_dialogue", bench, server, tmp_path / "s.sqlite")
    assert server.turns() == []
    assert rerun.stats is not None and (rerun.stats.computed, rerun.stats.cached) == (0, 11)
    assert rerun.results["metrics"] == result.results["metrics"]


def test_sampled_dialogues_send_the_run_seed_every_turn(
    bench: Path, server: DialogueServer, tmp_path: Path
) -> None:
    (bench / "sampled.yaml").write_text(
        "name: toy_dialogue_sampled\nscenario: {type: jsonl, path: dialogues.jsonl}\n"
        "inferencer: {type: multi_turn, max_new_tokens: 5, temperature: 0.5, top_p: 0.9, stop: [END]}\n"
        "metric: {type: accuracy, extractor: exact}\n"
    )
    run_on_server("toy_dialogue_sampled", bench, server, tmp_path / "s.sqlite", seed=7)
    assert len(server.received) == 11
    for item in server.received:
        assert (item.body["seed"], item.body["temperature"], item.body["top_p"]) == (7, 0.5, 0.9)
        assert (item.body["max_tokens"], item.body["stop"]) == (5, ["END"])


def test_follow_ups_are_asked_after_the_samples_own_turns(
    bench: Path, server: DialogueServer, tmp_path: Path
) -> None:
    (bench / "follow.yaml").write_text(
        "name: toy_dialogue_follow\nscenario: {type: jsonl, path: dialogues.jsonl}\n"
        "inferencer: {type: multi_turn, follow_ups: ['Final answer?']}\n"
        "metric: {type: accuracy, extractor: exact}\n"
    )
    result = run_on_server("toy_dialogue_follow", bench, server, tmp_path / "s.sqlite")
    assert result.results["provenance"]["requests"]["rounds"] == 4
    by_id = {r.id: r for r in result.records}
    for sample_id, turns in TURNS.items():
        answers = by_id[sample_id].details["turns"]
        assert answers[-1] == f"[{len(turns) + 1}] Final answer?"
        assert len(answers) == len(turns) + 1


def test_a_bad_turns_value_is_a_bad_sample_and_the_run_goes_on(
    bench: Path, server: DialogueServer, tmp_path: Path
) -> None:
    with (bench / "dialogues.jsonl").open("a") as handle:
        handle.write(json.dumps({"id": "bad", "question": "Hello?", "turns": "not a list"}) + "\n")
        handle.write(json.dumps({"id": "empty", "question": "Hello?", "turns": ["ok", " "]}) + "\n")
    result = run_on_server("toy_dialogue", bench, server, tmp_path / "s.sqlite")
    bad = {entry["id"]: entry["reason"] for entry in result.results["bad_samples"]}
    assert set(bad) == {"bad", "empty"}
    assert "must be a list of user turn texts" in bad["bad"] and "turn 3 is empty" in bad["empty"]
    assert result.results["counts"]["scored"] == 5
    assert all("Hello?" not in str(item.messages) for item in server.received)


def test_a_failed_turn_ends_the_sample_as_an_error_and_a_rerun_resumes_it(
    bench: Path, server: DialogueServer, tmp_path: Path
) -> None:
    server.fail_if_contains = "Name another one."  # turn 2 of d3
    store = tmp_path / "s.sqlite"
    result = run_on_server("toy_dialogue", bench, server, store)
    by_id = {r.id: r for r in result.records}
    assert by_id["d3"].extraction == "error" and by_id["d3"].error is not None
    assert "500" in by_id["d3"].error and by_id["d3"].response is None
    assert [e.round for e in by_id["d3"].exchanges] == [1, 2]  # no third turn was sent
    assert result.results["counts"]["errors"] == 1 and result.results["complete"] is False
    assert Counter(server.turns()) == {1: 5, 2: 4, 3: 1}

    server.fail_if_contains = None
    server.clear()
    rerun = run_on_server("toy_dialogue", bench, server, store)
    assert Counter(server.turns()) == {2: 1, 3: 1}  # only d3's failed turn and the one after it
    assert all("Name a fruit." in str(item.messages) for item in server.received)
    assert rerun.results["complete"] is True
    assert rerun.results["metrics"]["acc"]["value"] == pytest.approx(3 / 5)


def test_a_misspelt_option_is_refused_when_the_task_loads(bench: Path) -> None:
    (bench / "broken.yaml").write_text(
        "name: toy_dialogue_broken\nscenario: {type: jsonl, path: dialogues.jsonl}\n"
        "inferencer: {type: multi_turn, follow_up: ['typo']}\nmetric: {type: accuracy}\n"
    )
    with pytest.raises(ConfigError, match="follow_up"):
        api.load_task("toy_dialogue_broken", include=[bench])


# ----- replay (mmlens score) -----


def write_predictions(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_score_replays_one_response_per_turn(bench: Path, tmp_path: Path) -> None:
    predictions = write_predictions(
        tmp_path / "p.jsonl",
        [
            {"id": "d1", "responses": ["red", "yes", "[3] Say it in one word."]},
            {"id": "d2", "responses": ["blue", "blue"]},
            {"id": "d3", "responses": ["apple", "pear", "plum"]},
            {"id": "d4", "response": "[1] Is the sky blue? Answer yes or no."},
            {"id": "d5", "responses": ["three", "two"]},
        ],
    )
    result = api.score("toy_dialogue", predictions, include=[bench])
    by_id = {r.id: r for r in result.records}
    assert by_id["d3"].response == "plum" and by_id["d3"].details["turns"] == ["apple", "pear", "plum"]
    assert by_id["d4"].details["turns"] == ["[1] Is the sky blue? Answer yes or no."]
    assert [by_id[i].correct for i in sorted(by_id)] == [True, True, False, True, True]
    assert result.results["metrics"]["acc"]["value"] == pytest.approx(4 / 5)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"id": "d1", "responses": ["a", "b"]}, '"responses" has 2 texts; the dialogue has 3 turns'),
        ({"id": "d1", "response": "a"}, 'a dialogue of 3 turns: give "responses"'),
    ],
)
def test_score_refuses_a_line_that_does_not_fit_the_dialogue(
    bench: Path, tmp_path: Path, line: dict[str, Any], message: str
) -> None:
    predictions = write_predictions(tmp_path / "p.jsonl", [line])
    with pytest.raises(DataError, match="line 1") as error:
        api.score("toy_dialogue", predictions, include=[bench])
    assert message in str(error.value)


def test_plan_lists_the_first_turn_and_says_more_rounds_follow(bench: Path) -> None:
    planned = api.plan("toy_dialogue", include=[bench])
    assert planned.later_rounds is True and planned.request_count == len(TURNS)
    for sample_id, requests in planned.samples:
        (request,) = requests
        assert request.canonical["messages"][-1]["content"][-1]["text"] == TURNS[sample_id][0]
