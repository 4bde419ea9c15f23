"""The judge_verdict metric end to end: a model under test, a judge role, the store and the records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.errors import ConfigError
from mmlens.metrics.judge import DEFAULT_PROMPT_FILE, parse_verdict
from tests.fixtures.judged_task import ROWS, write_judged_task
from tests.fixtures.tiny_models import tiny_model_factory, tiny_text_lm_dir  # noqa: F401 - pytest fixtures

MODEL_ANSWER = "The answer is 3."


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("The answer matches.\nVerdict: correct", "correct"),
        ("verdict:incorrect", "incorrect"),
        ("**Verdict:** Incorrect", "incorrect"),
        ("Verdict: **CORRECT**.", "correct"),
        ("Verdict: correct ... on reflection, Verdict: incorrect", "incorrect"),
        ("It is right.", None),
        ("Verdict: correctly answered", None),
        ("The verdict is correct", None),
        ("", None),
        (None, None),
    ],
)
def test_the_verdict_rule(reply: str | None, verdict: str | None) -> None:
    assert parse_verdict(reply) == verdict


def run(
    folder: Path, tmp_path: Path, judge: str, judge_args: str | None = None, output: bool = True
) -> api.RunResult:
    return api.evaluate(
        "judged_toy",
        "constant",
        model_args=f"text={MODEL_ANSWER}",
        include=[folder],
        store=tmp_path / "store.sqlite",
        output_dir=tmp_path / "runs" if output else None,
        roles={"judge": judge},
        role_args={"judge": judge_args} if judge_args else None,
    )


@pytest.mark.parametrize(("reply", "accuracy"), [("Verdict: correct", 1.0), ("Verdict: incorrect", 0.0)])
def test_a_deterministic_judge_decides_every_sample(tmp_path: Path, reply: str, accuracy: float) -> None:
    folder = write_judged_task(tmp_path / "task")
    result = run(folder, tmp_path, "constant", f"text={reply}")
    metrics = result.results["metrics"]
    assert metrics["acc"]["value"] == accuracy and metrics["acc"]["n"] == len(ROWS)
    low, high = metrics["acc"]["ci95"]
    assert low <= accuracy <= high and high - low > 0.1  # Wilson interval of 4 samples
    assert result.results["counts"]["extraction"] == {"judge": len(ROWS)}
    assert result.results["complete"] is True
    verdict = reply.split(": ")[1]
    for record in result.records:
        assert record.extraction == "judge" and record.answer == verdict
        assert record.correct is (accuracy == 1.0) and record.scores == {"acc": accuracy}
        assert record.response == MODEL_ANSWER
    assert set(result.results["breakdown"]) == {row["category"] for row in ROWS}


def test_records_keep_the_judge_prompt_and_reply_in_samples_jsonl(tmp_path: Path) -> None:
    folder = write_judged_task(tmp_path / "task")
    result = run(folder, tmp_path, "constant", "text=Verdict: correct")
    assert result.run_dir is not None
    lines = [json.loads(line) for line in (result.run_dir / "samples.jsonl").read_text().splitlines()]
    by_id = {line["id"]: line for line in lines}
    for row in ROWS:
        line = by_id[row["id"]]
        model_turn, judge_turn = line["exchanges"]
        assert (model_turn["round"], model_turn["role"], model_turn["response"]) == (1, "model", MODEL_ANSWER)
        assert model_turn["prompt"][0]["content"][0]["image"].startswith("sha256:")
        assert (judge_turn["round"], judge_turn["role"], judge_turn["kind"]) == (2, "judge", "generate")
        assert judge_turn["response"] == "Verdict: correct"
        (message,) = judge_turn["prompt"]  # text only: the judge does not see the image by default
        assert message["role"] == "user" and [p["type"] for p in message["content"]] == ["text"]
        text = message["content"][0]["text"]
        expected = DEFAULT_PROMPT_FILE.read_text(encoding="utf-8").format(
            question=row["question"], reference=row["answer"], response=MODEL_ANSWER
        )
        assert text == expected
        assert line["extraction"] == "judge" and line["answer"] == "correct" and line["correct"] is True


def test_a_custom_prompt_system_message_and_images_reach_the_judge(tmp_path: Path) -> None:
    metric = {
        "prompt": "Q: {question}\nGold: {reference}\nSaid: {response}\nCategory: {category} {{braces}}",
        "system": "You grade answers.",
        "with_images": True,
        "max_new_tokens": 12,
    }
    folder = write_judged_task(tmp_path / "task", metric=metric)
    result = run(folder, tmp_path, "constant", "text=Verdict: correct")
    record = result.records[0]
    judge_turn = record.exchanges[1]
    system, user = judge_turn.prompt
    assert system == {"role": "system", "content": [{"type": "text", "text": "You grade answers."}]}
    image, text = user["content"]
    assert image["type"] == "image" and image["image"] == record.exchanges[0].prompt[0]["content"][0]["image"]
    question, answer = ROWS[0]["question"], ROWS[0]["answer"]
    assert text["text"] == f"Q: {question}\nGold: {answer}\nSaid: {MODEL_ANSWER}\nCategory: count {{braces}}"


@pytest.mark.parametrize(
    ("prompt", "problem"),
    [
        ("Grade {question} against {reference}", "must contain {response}"),
        ("Grade {} {response}", "positional fields"),
        ("Grade {response", "not a valid template"),
    ],
)
def test_a_bad_judge_prompt_is_one_config_error_naming_the_file_and_key(
    tmp_path: Path, prompt: str, problem: str
) -> None:
    folder = write_judged_task(tmp_path / "task", metric={"prompt": prompt})
    with pytest.raises(ConfigError) as caught:
        run(folder, tmp_path, "constant", "text=Verdict: correct")
    message = str(caught.value)
    assert "judged_toy.yaml" in message and "metric.prompt" in message and problem in message


def test_a_sample_without_a_reference_is_a_bad_sample_never_judged(tmp_path: Path) -> None:
    rows = [dict(ROWS[0]), {k: v for k, v in ROWS[1].items() if k != "answer"}]
    folder = write_judged_task(tmp_path / "task", rows=rows)
    result = run(folder, tmp_path, "constant", "text=Verdict: correct")
    (first,) = result.records
    assert first.extraction == "judge" and first.correct is True
    (bad,) = result.results["bad_samples"]
    assert bad["id"] == "q2" and "no reference answer" in bad["reason"]
    assert result.results["complete"] is True
    assert result.results["provenance"]["requests"]["by_role"]["judge"]["unique"] == 1  # q2 never judged


def test_a_template_field_the_sample_lacks_is_a_bad_sample(tmp_path: Path) -> None:
    rows = [dict(ROWS[0], rubric="count exactly"), dict(ROWS[1])]
    folder = write_judged_task(tmp_path / "task", rows=rows, metric={"prompt": "{rubric}: {response}"})
    result = run(folder, tmp_path, "constant", "text=Verdict: correct")
    assert [r.id for r in result.records] == ["q1"]
    (bad,) = result.results["bad_samples"]
    assert bad["id"] == "q2" and "rubric" in bad["reason"]
    bad_spec = write_judged_task(tmp_path / "spec", rows=rows[:1], metric={"prompt": "{response:%}"})
    spec_result = run(bad_spec, tmp_path, "constant", "text=Verdict: correct")
    assert spec_result.results["bad_samples"][0]["id"] == "q1"  # a bad format spec: no traceback


def test_an_empty_response_is_failed_without_asking_the_judge(tmp_path: Path) -> None:
    folder = write_judged_task(tmp_path / "task")
    result = api.evaluate(
        "judged_toy",
        "constant",
        model_args="text=   ",
        include=[folder],
        store=tmp_path / "store.sqlite",
        output_dir=None,
        roles={"judge": "constant"},
        role_args={"judge": "text=Verdict: correct"},
    )
    assert all(r.extraction == "failed" and r.correct is False for r in result.records)
    assert result.results["metrics"]["acc"]["value"] == 0.0
    assert result.results["provenance"]["requests"]["by_role"]["judge"]["unique"] == 0


def test_a_tiny_transformers_judge_goes_through_the_store(
    tmp_path: Path,
    tiny_text_lm_dir: Path,  # noqa: F811 - pytest fixture
) -> None:
    folder = write_judged_task(tmp_path / "task")
    judge = f"hf:{tiny_text_lm_dir}"
    first = run(folder, tmp_path, judge, "dtype=float32")
    by_role = first.results["provenance"]["requests"]["by_role"]
    assert by_role["model"]["computed"] == len(ROWS)
    assert by_role["judge"]["computed"] == len(ROWS) and by_role["judge"]["errors"] == 0

    # The random judge's replies: kept raw; a reply without a verdict is a failed extraction,
    # counted wrong, never turned into a verdict.
    failed = 0
    for record in first.records:
        judge_turn = record.exchanges[-1]
        assert judge_turn.role == "judge" and isinstance(judge_turn.response, str)
        assert f"Model response:\n{MODEL_ANSWER}" in judge_turn.prompt[0]["content"][0]["text"]
        verdict = parse_verdict(judge_turn.response)
        if verdict is None:
            failed += 1
            assert record.extraction == "failed" and record.answer is None and record.correct is False
            assert record.details["judge_reply"] == judge_turn.response
        else:
            assert record.extraction == "judge" and record.answer == verdict
    assert failed > 0  # six random tokens do not spell a verdict
    counts = first.results["counts"]
    assert counts["failed_extraction"] == failed and counts["errors"] == 0
    assert first.results["metrics"]["acc"]["value"] <= (len(ROWS) - failed) / len(ROWS)

    roles = first.results["provenance"]["roles"]["judge"]
    assert roles["source"] == "given" and roles["fingerprint"]["backend"] == "hf"
    assert roles["fingerprint"]["weights"]

    # A rerun asks the judge nothing: its replies come from the store.
    second = run(folder, tmp_path, judge, "dtype=float32")
    judge_stats = second.results["provenance"]["requests"]["by_role"]["judge"]
    assert (judge_stats["computed"], judge_stats["cached"]) == (0, len(ROWS))
    assert second.run_id == first.run_id
    assert [r.to_dict() for r in second.records] == [
        {**r.to_dict(), "exchanges": [{**e, "cached": True} for e in r.to_dict()["exchanges"]]}
        for r in first.records
    ]

    # The judge is part of the run identity: another judge (or the same weights with other
    # answer-changing options) is another run; the model's own answers are still shared.
    other = run(folder, tmp_path, "constant", "text=Verdict: correct")
    assert other.run_id != first.run_id
    assert other.results["provenance"]["requests"]["by_role"]["model"]["computed"] == 0
    other_options = run(folder, tmp_path, judge, "dtype=float32,max_pixels=4096", output=False)
    assert other_options.run_id not in (first.run_id, other.run_id)
