"""MMDU: the dialogue loading, the judge prompt, the verdict reading and statistic.py's aggregation
with its quirks; expected values worked out from Liuziyu77/MMDU@98a1a39 (scores/prompt.py: the
``{...}`` span evaluated, ``scores += result["Overall Score"]`` inside a ``try``; scores/statistic.py:
``assert`` of the six keys, additions one by one, files with no counted turn left out)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mmlens import api
from mmlens.tasks.mmdu.metric import judge_text, meta_prompt, parse_verdict, turn_sums
from tests.fixtures.dialogue_server import text_of
from tests.fixtures.mmdu_data import build_mmdu
from tests.fixtures.scripted_server import ScriptedServer

FULL = (
    "Creativity ... fine. {'Creativity': 9, 'Richness': 6, 'Visual Perception': 7, 'Logical Coherence': 8, "
    "'Answer Accuracy': 7, 'Image Relationship Understanding': 5, 'Overall Score': 7}"
)


@pytest.mark.parametrize(
    ("reply", "kept"),
    [
        (FULL, True),
        ('{"Creativity": 1, "Overall Score": 2}', True),  # JSON quotes are a dict literal too
        ("no verdict", False),  # find -> -1, rfind + 1 -> 0: the empty span does not evaluate
        ("{'a': 1} and then {'Overall Score': 5}", False),  # first { to last }: not one literal
        ("{'Creativity': 9}", False),  # result["Overall Score"] raises KeyError: the turn is dropped
        ("{'Overall Score': '7'}", False),  # scores += "7" raises TypeError
        ("{'Overall Score': 7.5}", True),
        ("{'Overall Score': true}", False),  # eval: NameError (JSON's true is no Python name)
        ("['Overall Score']", False),  # a list: ["Overall Score"] raises
        (None, False),
    ],
)
def test_verdict_kept_as_prompt_py_keeps_it(reply: str | None, kept: bool) -> None:
    assert (parse_verdict(reply) is not None) is kept


def test_turn_sums_follow_statistic_py() -> None:
    verdict = parse_verdict(FULL)
    assert verdict is not None
    added, counted = turn_sums(verdict)
    assert counted and added["Creativity"] == 9 and added["Overall Score"] == 7
    # a missing dimension: the assert fails before any addition
    assert turn_sums({"Creativity": 3, "Overall Score": 4}) == ({}, False)
    # a value that is not a number: the earlier additions stay, the turn is not counted
    partial = {**verdict, "Visual Perception": "N/A"}
    assert turn_sums(partial) == ({"Creativity": 9.0, "Richness": 6.0}, False)


def test_judge_prompt_is_the_official_text() -> None:
    assert meta_prompt().startswith(
        "\nYou are an assistant skilled at evaluating the quality of creative text.\n"
    )
    assert meta_prompt().endswith("{'Creativity': 9, 'Richness': 6, ..., 'Overall Score': 7}.\n\n")
    text = judge_text("Q?", "Ref.", "Ans.")
    assert text == meta_prompt() + (
        "[Question]\nQ?\n\n[The Start of Reference Answer]\nRef.\n[The End of Reference Answer]\n\n"
        "[The Start of Assistant’s Answer]\nAns.\n[The End of Assistant’s Answer]"
    )


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def verdict(**values: Any) -> str:
    keys = {
        "C": "Creativity",
        "R": "Richness",
        "VP": "Visual Perception",
        "LC": "Logical Coherence",
        "AA": "Answer Accuracy",
        "IRU": "Image Relationship Understanding",
        "O": "Overall Score",
    }
    return "Scores: " + repr({keys[k]: v for k, v in values.items()})


def test_aggregation_partial_sums_and_dropped_dialogues(tmp_path: Path) -> None:
    data = build_mmdu(tmp_path / "mmdu")
    rows = [
        {
            "id": "d0",
            "responses": ["a1", "a2", "a3"],
            "roles": {
                "judge": [
                    verdict(C=9, R=6, VP=7, LC=8, AA=7, IRU=5, O=7),  # counted
                    verdict(C=4, R=3, VP="N/A", LC=8, AA=7, IRU=5, O=6),  # C and R added, not counted
                    verdict(C=1, VP=1, LC=1, AA=1, IRU=1, O=9),  # no Richness: adds nothing
                ]
            },
        },
        # d1's only turn is partial: d1 has no counted turn, so even its partial sum is left out
        {
            "id": "d1",
            "responses": ["b1"],
            "roles": {"judge": [verdict(C=2, R=None, VP=1, LC=1, AA=1, IRU=1, O=1)]},
        },
    ]
    result = api.score("mmdu", write(tmp_path / "p.jsonl", rows), data=data, store=tmp_path / "s.sqlite")
    metrics = {k: v["value"] for k, v in result.results["metrics"].items()}
    assert metrics["creativity"] == 13.0  # (9 + 4) / 1 counted turn
    assert metrics["richness"] == 9.0  # (6 + 3) / 1
    assert (metrics["visual_perception"], metrics["logical_coherence"], metrics["answer_accuracy"]) == (
        7,
        8,
        7,
    )
    assert metrics["image_relationship_understanding"] == 5.0
    assert metrics["overall_score"] == 7.0
    assert metrics["counted_turns"] == 1 and metrics["unparsed_turns"] == 0
    paper = api.score("mmdu", write(tmp_path / "p.jsonl", rows), data=data, profile="paper")
    assert paper.results["metrics"]["creativity"]["value"] == 130.0


def test_unparsed_turns_are_counted_never_scored(tmp_path: Path) -> None:
    data = build_mmdu(tmp_path / "mmdu")
    rows = [
        {
            "id": "d0",
            "responses": ["a1", "a2", "a3"],
            "roles": {
                "judge": [
                    "I refuse.",
                    verdict(C=2, R=2, VP=2, LC=2, AA=2, IRU=2, O=2),
                    "{'Overall Score': 'x'}",
                ]
            },
        },
        {
            "id": "d1",
            "responses": ["b1"],
            "roles": {"judge": [verdict(C=4, R=4, VP=4, LC=4, AA=4, IRU=4, O=5)]},
        },
    ]
    result = api.score("mmdu", write(tmp_path / "p.jsonl", rows), data=data)
    metrics = {k: v["value"] for k, v in result.results["metrics"].items()}
    assert metrics["overall_score"] == 3.5  # (2 + 5) / 2 counted turns
    assert metrics["unparsed_turns"] == 2 and metrics["counted_turns"] == 2
    by_id = {r.id: r for r in result.records}
    assert by_id["d0"].details["judge_parse"] == "unparsed"  # counted in judging.failures.unparsed
    assert by_id["d1"].details["judge_parse"] == "parsed"


def test_loading_turn_images_and_bad_dialogues(tmp_path: Path) -> None:
    data = build_mmdu(tmp_path / "mmdu")
    records = json.loads(data.read_text())
    records["bad"] = {
        "id": "bad",
        "image": ["mmdu_pics/0.jpg"],
        "conversations": [
            {"from": "user", "value": "<ImageHere> <ImageHere> two tags, one image"},
            {"from": "assistant", "value": "x"},
        ],
    }
    records["odd"] = {"id": "odd", "image": [], "conversations": [{"from": "user", "value": "q"}]}
    data.write_text(json.dumps(records))
    judge = verdict(C=1, R=1, VP=1, LC=1, AA=1, IRU=1, O=1)
    rows = [
        {"id": "d0", "responses": ["a", "b", "c"], "roles": {"judge": [judge] * 3}},
        {"id": "d1", "responses": ["a"], "roles": {"judge": [judge]}},
    ]
    result = api.score("mmdu", write(tmp_path / "p.jsonl", rows), data=data)
    assert result.results["counts"]["bad_samples"] == 2
    by_id = {r.id: r for r in result.records}
    assert by_id["d0"].details["turns"][0]["counted"] is True
    # questions-only copy: the samples load without pixels for scoring
    (data.parent / "mmdu_pics").rename(data.parent / "elsewhere")
    again = api.score("mmdu", write(tmp_path / "p.jsonl", rows), data=data)
    assert again.results["counts"]["scored"] == 2


def judge_reply(body: dict[str, Any]) -> str:
    text = text_of(body["messages"][-1]["content"])
    answer = text.split("[The Start of Assistant’s Answer]\n")[1].split("\n[The End")[0]
    turn = int(answer.split()[0][1])  # "[k] question": the dialogue server's style
    return verdict(C=turn, R=turn, VP=turn, LC=turn, AA=turn, IRU=turn, O=turn + 1)


def scripted(body: dict[str, Any]) -> str:
    if body["model"] == "judge":
        return judge_reply(body)
    turn = 1 + sum(1 for m in body["messages"] if m["role"] == "assistant")
    return f"[{turn}] answer"


def images_in(message: dict[str, Any]) -> int:
    content = message["content"]
    return 0 if isinstance(content, str) else sum(1 for part in content if part.get("type") == "image_url")


def test_end_to_end_own_history_and_judge_through_a_local_server(tmp_path: Path) -> None:
    data = build_mmdu(tmp_path / "mmdu")
    with ScriptedServer(chat=scripted) as server:

        def run() -> api.RunResult:
            return api.evaluate(
                "mmdu",
                "openai:toy",
                model_args=f"base_url={server.base_url}",
                data=data,
                roles={"judge": "openai:judge"},
                role_args={"judge": f"base_url={server.base_url}"},
                store=tmp_path / "s.sqlite",
                output_dir=None,
            )

        first = run()
        model_bodies = server.bodies(model="toy")
        judge_bodies = server.bodies(model="judge")
        second = run()
        assert len(server.bodies(model="judge")) == len(judge_bodies)  # a rerun asks the judge nothing
    assert len(model_bodies) == 4 and len(judge_bodies) == 4
    third_turn = max(model_bodies, key=lambda b: len(b["messages"]))["messages"]
    assert [m["role"] for m in third_turn] == ["user", "assistant", "user", "assistant", "user"]
    assert [m["content"] for m in third_turn if m["role"] == "assistant"] == ["[1] answer", "[2] answer"]
    assert [images_in(m) for m in third_turn] == [2, 0, 1, 0, 0]  # each turn's own <ImageHere> images
    d0_judge = [b for b in judge_bodies if images_in(b["messages"][-1]) == 3]
    assert len(d0_judge) == 3  # every turn of d0 is judged with all the dialogue's images
    assert d0_judge[0]["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    assert d0_judge[0]["max_tokens"] == 4096
    # turns 1, 2, 3 of d0 and turn 1 of d1: overall (2 + 3 + 4 + 2) / 4, creativity (1 + 2 + 3 + 1) / 4
    metrics = first.results["metrics"]
    assert metrics["overall_score"]["value"] == 2.75 and metrics["creativity"]["value"] == 1.75
    judging = first.results["judging"]
    assert judging["official"] is False and judging["failures"]["unparsed"] == 0
    assert second.results["metrics"]["overall_score"]["value"] == 2.75


def test_vlmevalkit_profile_int_clip_all_and_valid(tmp_path: Path) -> None:
    data = build_mmdu(tmp_path / "mmdu")
    odd = (
        "{'Creativity': '8', 'Richness': 12, 'Visual Perception': -1, 'Logical Coherence': 7.9, "
        "'Answer Accuracy': None, 'Overall Score': 'x'}"
    )
    rows = [
        {
            "id": "d0",
            "responses": ["a1", "a2", "a3"],
            "roles": {"judge": [verdict(C=9, R=6, VP=7, LC=8, AA=7, IRU=5, O=7), odd, "no verdict"]},
        },
        {"id": "d1", "responses": ["b1"], "roles": {"judge": ["{'Overall Score': 5}"]}},
    ]
    result = api.score("mmdu", write(tmp_path / "p.jsonl", rows), data=data, profile="vlmevalkit")
    metrics = {k: v["value"] for k, v in result.results["metrics"].items()}
    valid = {k: v["value"] for k, v in result.results["breakdown"]["valid"].items()}
    # int("8") = 8, clip(12) = 10, clip(-1) = 0, int(7.9) = 7; None, missing and "x" are not valid;
    # 'all' divides by the 4 turns, 'valid' by the valid values
    assert metrics["creativity"] == 42.5 and valid["creativity"] == 85.0  # (9 + 8)
    assert metrics["richness"] == 40.0 and valid["richness"] == 80.0  # (6 + 10)
    assert metrics["visual_perception"] == 17.5 and valid["visual_perception"] == 35.0  # (7 + 0)
    assert metrics["logical_coherence"] == 37.5 and valid["logical_coherence"] == 75.0  # (8 + 7)
    assert metrics["answer_accuracy"] == 17.5 and valid["answer_accuracy"] == 70.0
    assert metrics["image_relationship_understanding"] == 12.5
    assert metrics["overall_score"] == 30.0 and valid["overall_score"] == 60.0  # (7 + 5)
    judge = next(e for e in {r.id: r for r in result.records}["d0"].exchanges if e.role == "judge")
    assert [m["role"] for m in judge.prompt] == ["user"]  # no system message
    assert [p["type"] for p in judge.prompt[0]["content"]] == ["text"]  # no images
