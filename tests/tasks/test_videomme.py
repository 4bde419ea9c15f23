"""Video-MME on a tiny copy in the published layout (real mp4s and .srt files): the official
extraction and denominator (transcribed from eval_your_results.py), the breakdowns, the profiles,
subtitles of the sampled frames, frame settings in the request keys, a questions-only copy
scored, and runs through a tiny hf Qwen2-VL and the openai backend against a real HTTP server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mmlens import api
from mmlens.cli import main
from mmlens.core.generation import GenerationOverrides
from mmlens.core.task import load_task_file
from mmlens.tasks.videomme.metric import extract_characters_regex
from tests.fixtures.benchmark_data import write_predictions
from tests.fixtures.fault_server import FaultServer
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401
from tests.fixtures.videomme_data import VIDEOS, build_videomme, videomme_rows
from tests.media.test_subtitles import slicer_reference

pytestmark = pytest.mark.timeout(240)
TASK_FILE = Path(api.__file__).parent / "tasks" / "videomme" / "videomme.yaml"


def official_extract(s: str) -> str:
    """eval_your_results.py@afd52cf extract_characters_regex, as written (missing commas kept)."""
    s = s.strip()
    answer_prefixes = [
        "The best answer is",
        "The correct answer is",
        "The answer is",
        "The answer",
        "The best option isThe correct option is",  # noqa: ISC001
        "Best answer:Best option:",  # noqa: ISC001
        "Answer:",
        "Option:",
        "The correct answer",
        "The correct option",
    ]
    for answer_prefix in answer_prefixes:
        s = s.replace(answer_prefix, "")
    if len(s.split()) > 10 and not re.search("[ABCD]", s):
        return ""
    matches = re.search(r"[ABCD]", s)
    if matches is None:
        return ""
    return matches[0]


CASES = {
    "A": "A",
    "The answer is C.": "C",
    "Best answer: C": "B",  # "Best answer:" is never removed: the B of "Best" comes first
    "The best option is D": "D",  # not removed either, but no capital A-D before D... "The" has none
    "Answer: D": "D",
    "Cannot tell, maybe B": "C",  # the C of "Cannot"
    "a": "",  # lower case never counts
    "this response is a long sentence of more than ten words with no letters": "",
    "I would say that the correct one here is probably option b of the four listed, B": "B",
    "": "",
}


@pytest.mark.parametrize("response", list(CASES))
def test_extraction_is_the_official_one(response: str) -> None:
    assert official_extract(response) == CASES[response]
    assert extract_characters_regex(response) == CASES[response]


def official_overall(rows: list[dict[str, object]], responses: dict[str, str]) -> tuple[int, int]:
    """eval_your_results.py's counting: only non-empty extractions are answered."""
    correct = answered = 0
    for row in rows:
        extraction = official_extract(responses[str(row["question_id"])])
        if extraction != "":
            answered += 1
            correct += extraction == row["answer"]
    return correct, answered


RESPONSES = {
    "001-1": "A",  # right (Counting Problem, short)
    "001-2": "no idea at all, sorry",  # unparsed: out of the denominator
    "001-3": "Answer: D",  # right
    "301-1": "Best answer: A",  # B (from "Best"): wrong
    "301-2": "The answer is C",  # right
    "301-3": "a",  # unparsed
}


def test_score_reproduces_the_official_scorer_on_question_ids(tmp_path: Path) -> None:
    data = build_videomme(tmp_path / "vm", videos=False, subtitles=False)  # questions only
    predictions = write_predictions(tmp_path / "p.jsonl", RESPONSES)
    result = api.score("videomme", predictions, data=str(data)).results
    correct, answered = official_overall(videomme_rows(), RESPONSES)
    assert (correct, answered) == (3, 4)
    metrics = result["metrics"]
    assert metrics["acc"]["value"] == pytest.approx(correct / answered)
    assert metrics["acc"]["n"] == answered
    assert metrics["acc_all"]["value"] == pytest.approx(3 / 6)
    assert metrics["n_unparsed"]["value"] == 2
    breakdown = result["breakdown"]
    assert breakdown["duration/short"]["acc"]["value"] == 1.0 and breakdown["duration/short"]["acc"]["n"] == 2
    assert breakdown["duration/medium"]["acc"]["value"] == pytest.approx(1 / 2)
    assert breakdown["domain/Sports Competition"]["acc"]["n"] == 2
    assert breakdown["sub_category/Humanity & History"]["acc"]["value"] == 1.0
    assert breakdown["task_type/Counting Problem"]["acc"]["value"] == pytest.approx(1 / 2)
    ocr = breakdown["task_type/OCR Problems"]["acc"]  # 001-2 unparsed (out), 301-2 right
    assert (ocr["value"], ocr["n"]) == (1.0, 1)


def test_profiles_change_prefixes_and_denominators(tmp_path: Path) -> None:
    data = build_videomme(tmp_path / "vm", videos=False, subtitles=False)
    responses = {**RESPONSES, "001-3": "Answer: D"}
    predictions = write_predictions(tmp_path / "p.jsonl", responses)
    first = api.score("videomme", predictions, data=str(data), profile="videomme_20240603").results
    # the 2024-06-03 list lacks "Answer:": the A of "Answer" is taken (wrong)
    assert first["metrics"]["acc"]["value"] == pytest.approx(2 / 4)
    lmms = api.score("videomme", predictions, data=str(data), profile="lmms-eval").results
    assert lmms["metrics"]["acc"]["value"] == pytest.approx(2 / 6)  # every question counts
    vlm = api.score("videomme", predictions, data=str(data), profile="vlmevalkit").results
    assert vlm["metrics"]["acc"]["value"] == pytest.approx(2 / 6)


def test_subtitles_variant_attaches_the_lines_of_the_sampled_frames(tmp_path: Path) -> None:
    data = build_videomme(tmp_path / "vm")
    run = api.evaluate("videomme_subtitles", "constant", model_args="text=A", data=str(data), output_dir=None)
    by_id = {record.id: record for record in run.records}
    for _, stem, *_, frames in VIDEOS:
        video_id = next(r["video_id"] for r in videomme_rows() if r["videoID"] == stem)
        text = by_id[f"{video_id}-1"].prompt[0]["content"][1]["text"]
        expected = slicer_reference(data / "subtitle" / f"{stem}.srt", frames, 25.0, 32)
        assert expected, "the fixture's cues should cover some frames"
        assert text.startswith(
            "This video's subtitles are listed below:\n" + "\n".join(expected) + "\nSelect"
        )
        assert text.endswith("D. durian\nThe best answer is:")
    plain = api.evaluate("videomme", "constant", model_args="text=A", data=str(data), output_dir=None)
    assert plain.records[0].prompt[0]["content"][1]["text"].startswith("Select the best answer")
    assert plain.results["metrics"]["acc"]["value"] == pytest.approx(2 / 6)


def test_changing_the_frames_never_reuses_answers(tmp_path: Path) -> None:
    data = build_videomme(tmp_path / "vm")
    store = tmp_path / "s.sqlite"
    task = load_task_file(TASK_FILE, overrides={"instruction": {"frames": 8}}, name="videomme")
    first = api.evaluate(task, "constant", model_args="text=A", data=str(data), output_dir=None, store=store)
    again = api.evaluate(task, "constant", model_args="text=A", data=str(data), output_dir=None, store=store)
    assert (again.stats.cached, again.stats.computed) == (6, 0)
    for change in ({"frames": 16}, {"sampling": "linspace", "frames": 8}, {"decoder": "decord", "frames": 8}):
        if change.get("decoder") == "decord":
            pytest.importorskip("decord")
        other = load_task_file(TASK_FILE, overrides={"instruction": change}, name="videomme")
        rerun = api.evaluate(
            other, "constant", model_args="text=A", data=str(data), output_dir=None, store=store
        )
        assert (rerun.stats.cached, rerun.stats.computed) == (0, 6), change
    assert first.records[0].prompt[0]["content"][0]["sampling"]["frames"] == 8


def test_a_questions_only_copy_runs_into_one_clear_error_per_sample(tmp_path: Path) -> None:
    data = build_videomme(tmp_path / "vm", videos=False)
    with FaultServer() as server:
        result = api.evaluate(
            "videomme",
            "openai:m",
            model_args=f"base_url={server.base_url},max_retries=0",
            data=str(data),
            output_dir=None,
        )
        assert server.record.total == 0
    assert result.results["counts"]["errors"] == 6
    assert "not in the local copy" in (result.records[0].error or "")


def test_runs_through_openai_against_a_real_server(tmp_path: Path) -> None:
    data = build_videomme(tmp_path / "vm")
    task = load_task_file(TASK_FILE, overrides={"instruction": {"frames": 4}}, name="videomme_subtitles")
    with FaultServer() as server:
        result = api.evaluate(
            task, "openai:m", model_args=f"base_url={server.base_url}", data=str(data), output_dir=None
        )
        bodies = [body for bodies in server.record.bodies.values() for body in bodies]
    assert result.results["counts"]["errors"] == 0
    assert len(bodies) == 6
    for body in bodies:
        parts = body["messages"][0]["content"]
        assert [part["type"] for part in parts] == ["image_url"] * 4 + ["text"]


def test_runs_with_a_tiny_hf_qwen2_vl(tmp_path: Path, tiny_model_factory: TinyModelFactory) -> None:  # noqa: F811
    folder = tiny_model_factory("qwen2_vl")
    data = build_videomme(tmp_path / "vm")
    task = load_task_file(
        TASK_FILE,
        overrides={"instruction": {"frames": 4}},
        name="videomme",
        generation=GenerationOverrides(max_new_tokens=4),
    )
    result = api.evaluate(
        task,
        f"hf:{folder}",
        model_args="dtype=float32",
        data=str(data),
        output_dir=None,
        store=tmp_path / "s.sqlite",
    )
    assert result.results["counts"]["errors"] == 0
    assert all(record.response is not None for record in result.records)


def test_mmlens_score_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = build_videomme(tmp_path / "vm", videos=False, subtitles=False)
    predictions = write_predictions(tmp_path / "p.jsonl", RESPONSES)
    assert main(["score", "videomme", "--data", str(data), "--predictions", str(predictions), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["metrics"]["acc"]["value"] == pytest.approx(3 / 4)
