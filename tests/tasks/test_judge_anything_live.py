"""Judge Anything end to end with a model as the judge: through ``openai`` against a real HTTP
server on 127.0.0.1 (a scripted judge that reads the prompt it is sent), and with a tiny real
``transformers`` model through the ``hf`` backend (its replies are noise: every judgement is an
unparsed, counted failure, never a label)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from mmlens import api
from mmlens.core.generation import GenerationOverrides
from mmlens.tasks.judge_anything.prompts import schema_hint, system_prompt
from tests.fixtures.dialogue_server import text_of
from tests.fixtures.judge_anything_data import build_judge_anything
from tests.fixtures.scripted_server import ScriptedServer
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401 - fixture
from tests.fixtures.videos import make_video


def judge(body: dict[str, Any]) -> str:
    """Prefers the response that says "good"; a tie when neither is text (Text2Image)."""
    user = next(m for m in body["messages"] if m["role"] == "user")
    text = text_of(user["content"])
    first = text.split("Here is the first model's response:\n", 1)[1].split("\nHere is the second", 1)[0]
    second = text.split("Here is the second model's response:\n", 1)[1]
    if not first and not second:
        return json.dumps({"overall_choice": "1", "overall_comment": "two images"})
    choice = "0" if first.startswith("good") else "2" if second.startswith("good") else "1"
    return f"```json\n{json.dumps({'overall_choice': choice, 'overall_comment': 'first is good'})}\n```"


def test_pair_comparison_through_a_local_openai_server(tmp_path: Path) -> None:
    data = build_judge_anything(tmp_path / "ja")
    with ScriptedServer(chat=judge) as server:

        def run() -> api.RunResult:
            return api.evaluate(
                "judge_anything_pair",
                "openai:judge-under-test",
                model_args=f"base_url={server.base_url}",
                data=str(data),
                store=tmp_path / "s.sqlite",
                output_dir=None,
            )

        first = run()
        asked = len(server.bodies())
        second = run()
        assert len(server.bodies()) == asked == 6  # 8 pairs, the 2 Audio2Text ones never sent; rerun cached
    # t2t a1/a2: 0 = human 0; t2t a3/a4: 0, human tie; i2t b1/b2: 0 = human 0 (mirrored label);
    # i2t b3/b4 unlabelled; t2i c1/c2: tie, human 0; t2i c3/c4: tie, human 2  -> 2 of 5
    results = first.results
    assert results["metrics"]["acc"]["value"] == pytest.approx(2 / 5)
    assert results["metrics"]["unparsed"]["value"] == 0
    assert results["counts"]["bad_samples"] == 2
    reasons = {b["id"]: b["reason"] for b in results["bad_samples"]}
    assert reasons["a2t/d1_vs_d2"].endswith(
        "Audio2Text: the query is audio (audios/LTU/a.mp3): "
        "mmlens backends read text, images and video, not audio"
    )
    assert second.results["metrics"]["acc"] == results["metrics"]["acc"]

    bodies = {text_of(b["messages"][1]["content"]).split("\n")[1]: b for b in server.bodies()}
    body = bodies["Continue the story of the pictures."]
    assert body["temperature"] == 0.7
    system, user = body["messages"]
    assert system["role"] == "system"
    assert text_of(system["content"]) == system_prompt("pair", "overall") + "\n\n" + schema_hint(
        "pair", "overall"
    )
    kinds = [part["type"] for part in user["content"]]
    assert kinds == ["text", "image_url", "image_url", "text", "text", "text", "text"]
    assert user["content"][0]["text"].startswith("Here is the query of Image to Text generation task:\n")
    image_pair = bodies["Please create an image of a red square."]["messages"][1]["content"]
    assert [part["type"] for part in image_pair] == ["text", "text", "image_url", "text", "image_url"]
    record = next(r for r in first.records if r.id == "t2t/a1_vs_a2")
    assert record.extraction == "rule" and record.answer == "overall=0"  # a fenced ```json block


def test_score_rubric_setting_through_a_local_openai_server(tmp_path: Path) -> None:
    data = build_judge_anything(tmp_path / "ja")

    def scorer(body: dict[str, Any]) -> str:
        assert "Here is the rubric for scoring based on completeness:" in text_of(
            body["messages"][0]["content"]
        )
        response = text_of(body["messages"][1]["content"]).split("Here is the model's reponse:\n", 1)[1]
        relevance = 5 if response.startswith("good") else 2
        return json.dumps({"relevance_score": relevance, "relevance_comment": "-", "clarity_score": 3})

    with ScriptedServer(chat=scorer) as server:
        result = api.evaluate(
            "judge_anything_score_rubric",
            "openai:judge-under-test",
            model_args=f"base_url={server.base_url}",
            data=str(data),
            store=tmp_path / "s.sqlite",
            output_dir=None,
        )
        assert len(server.bodies()) == 12  # 16 responses, the 4 Audio2Text ones are bad samples
    metrics = result.results["metrics"]
    # t2t relevance: human (5, 1, 4, 2), judge (5, 2, 5, 2): a1 and a4 agree
    assert metrics["acc"]["value"] == pytest.approx(2 / 4)
    assert metrics["unlabelled"]["value"] == 8  # i2t, t2i: no rubric labels
    assert metrics["unparsed"]["value"] == 0


def long_context_copy(folder: Path, target: Path, positions: int = 4096) -> Path:
    """The tiny Llava with a longer text context (Llama's rotary positions: no learned table)."""
    shutil.copytree(folder, target)
    config = json.loads((target / "config.json").read_text())
    config["text_config"]["max_position_embeddings"] = positions
    (target / "config.json").write_text(json.dumps(config))
    return target


def test_a_tiny_hf_judge_end_to_end(tmp_path: Path, tiny_model_factory: TinyModelFactory) -> None:  # noqa: F811
    folder = tiny_model_factory("llava")
    data = build_judge_anything(tmp_path / "ja")
    options: dict[str, Any] = {
        "data": str(data),
        "store": tmp_path / "s.sqlite",
        "output_dir": None,
        "generation": GenerationOverrides(max_new_tokens=8),
    }
    # the official system prompt is ~1,600 tokens of this byte-level tokenizer: past a 512-token
    # context every request is refused, a counted error (a disagreement), never a label
    short = api.evaluate("judge_anything_score", f"hf:{folder}", **options)
    assert short.results["counts"]["errors"] == 12 and short.results["metrics"]["acc"]["value"] == 0.0
    assert all("request too long" in (r.error or "") for r in short.records)

    model = long_context_copy(folder, tmp_path / "llava-4k")
    run = api.evaluate("judge_anything_score", f"hf:{model}", **options)
    results = run.results
    assert results["counts"]["scored"] == 12 and results["counts"]["bad_samples"] == 4
    assert results["counts"]["errors"] == 0
    # a random tiny model writes no JSON object: all 12 labelled units are unparsed and disagree
    assert results["metrics"]["unparsed"]["value"] == 12
    assert results["metrics"]["acc"]["value"] == 0.0
    assert all(r.extraction == "failed" and r.answer is None and r.response is not None for r in run.records)
    image_record = next(r for r in run.records if r.id == "t2i/c1")
    assert [p["type"] for p in image_record.prompt[1]["content"]] == ["text", "text", "image"]
    rerun = api.evaluate("judge_anything_score", f"hf:{model}", **options)
    assert [r.response for r in rerun.records] == [r.response for r in run.records]


def test_a_video_query_is_sent_as_frames_at_one_per_second(tmp_path: Path) -> None:
    data = build_judge_anything(tmp_path / "ja")
    tasks = data / "X2XRawBenchmark" / "TaskAnything.json"
    query = {
        "uniq_id": "v2t",
        "task_name": "Video2Text",
        "video_path": "videos/C/clip.mp4",
        "question": "What?",
    }
    tasks.write_text(json.dumps([query]))
    make_video(data / "X2XRawBenchmark" / "videos" / "C" / "clip.mp4", frame_count=75, fps=25)  # 3 s
    answers = data / "ResponseCollection" / "JudgeAnything.json"
    rows = [
        {
            "uniq_id": "v2t",
            "response_id": r,
            "task_name": "Video2Text",
            "model_name": r,
            "response": {"type": "text", "content": t},
        }  # noqa: E501
        for r, t in (("e1", "good: a dog"), ("e2", "a cat"))
    ]
    answers.write_text(json.dumps(rows))
    with ScriptedServer(chat=judge) as server:
        result = api.evaluate(
            "judge_anything_pair",
            "openai:judge-under-test",
            model_args=f"base_url={server.base_url}",
            data=str(data),
            store=tmp_path / "s.sqlite",
            output_dir=None,
        )
        (body,) = server.bodies()
    assert result.results["counts"]["errors"] == 0 and result.results["metrics"]["unlabelled"]["value"] == 1
    kinds = [part["type"] for part in body["messages"][1]["content"]]
    assert kinds == [
        "text",
        "image_url",
        "image_url",
        "image_url",
        "text",
        "text",
        "text",
        "text",
    ]  # frames 0, 25, 50
    assert result.records[0].answer == "overall=0"
