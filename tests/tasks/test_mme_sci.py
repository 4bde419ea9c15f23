"""MME-SCI: the official message layout, final-answer extraction (the always-true language branch)
and judge verdict, replayed; expected values from JCruan519/MME-SCI@3c5eeb7 model_eval/utils.py
(get_message), get_judge_res.py (pattern, ``0 if 'incorrect' in ...``) and get_metrices_res.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlens import api
from mmlens.tasks.mme_sci.metric import LANGUAGE_PATTERNS, extract_answer, verdict
from tests.fixtures.judged_bench_data import build_mme_sci


@pytest.mark.parametrize(
    ("response", "extracted"),
    [
        ("Reasoning... Final Answer: 4", ": 4"),  # the colon is kept (\s* then greedy .*)
        ("so \\boxed{4} done", "4"),  # greedy (.*) up to the last "}"
        ("最终答案：A", "：A"),
        ("Réponse finale: B", "Réponse finale: B"),  # other-language markers never match: whole text
        ("no marker at all", "no marker at all"),
        ("Final Answer: A\nbecause", ": A\nbecause"),  # DOTALL: to the end
    ],
)
def test_official_extraction(response: str, extracted: str) -> None:
    assert extract_answer(response)[0] == extracted


def test_per_language_pattern_of_the_fixed_profile() -> None:
    assert extract_answer("Réponse finale: B", LANGUAGE_PATTERNS["fr"])[0] == ": B"


@pytest.mark.parametrize(
    ("reply", "code"),
    [("correct", 1), ("Incorrect.", 0), ("not correct", 1), ("", 1), ("I think INCORRECT", 0)],
)
def test_verdict(reply: str, code: int) -> None:
    assert verdict(reply) == code


def test_messages_interleave_images_by_position(tmp_path: Path) -> None:
    data = build_mme_sci(tmp_path)
    plan = api.plan("mme_sci_en", data=data).to_dict()
    text = json.dumps(plan["samples"])
    assert "A. red" in text and "Please write the final answer concisely after 'Final Answer: '." in text
    image_plan = api.plan("mme_sci_image", data=data).to_dict()
    assert "请解答图像中给定的问题" in json.dumps(image_plan["samples"], ensure_ascii=False)


def test_score_by_hand(tmp_path: Path) -> None:
    data = build_mme_sci(tmp_path)
    rows = [
        {"id": "q1", "response": "It is red. Final Answer: A", "roles": {"judge": "correct"}},
        {"id": "q2", "response": "They differ.", "roles": {"judge": "Incorrect"}},
        {"id": "q3", "response": "\\boxed{4}", "roles": {"judge": "correct"}},
    ]
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = api.score("mme_sci_en", predictions, data=data, store=tmp_path / "s.sqlite")
    assert result.results["metrics"]["acc"]["value"] == round(2 / 3 * 100, 2)
    assert result.results["breakdown"]["Biology"]["acc"]["value"] == 0.0
    first = result.records[0]
    (exchange,) = [e for e in first.exchanges if e.role == "judge"]
    sent = json.dumps(exchange.prompt)
    assert "## Original Question: <image_1> What colour is it? A. red B. blue" in sent
    assert "## AI Assistant's Response: : A" in sent and "You are a strict and impartial judge." in sent


def test_evaluate_end_to_end_with_a_constant_judge(tmp_path: Path) -> None:
    data = build_mme_sci(tmp_path)
    result = api.evaluate(
        "mme_sci_zh",
        "constant",
        model_args="text=最终答案: A",
        data=data,
        roles={"judge": "constant"},
        role_args={"judge": "text=correct"},
        store=tmp_path / "s.sqlite",
        output_dir=None,
    )
    assert result.results["metrics"]["acc"]["value"] == 100.0
    content = result.records[1].prompt[0]["content"]
    # "Compare <image_1> and <image_2>." -> "Compare", image_1, "and", image_2, ".", answer prompt
    assert [part["type"] for part in content] == ["text", "image", "text", "image", "text", "text"]


def test_blank_and_empty_groups() -> None:
    assert extract_answer("\\boxed{   }") == ("", True)  # truthy group, stripped after the test
    assert extract_answer("Final Answer   ") == ("Final Answer   ", False)  # \\s* takes the spaces
    assert extract_answer("x Final Answer") == ("x Final Answer", False)  # empty group: whole text


def test_a_failed_judge_call_is_left_out_of_the_denominator(tmp_path: Path) -> None:
    from mmlens.core.parts import Prediction
    from mmlens.core.requests import Response
    from mmlens.core.sample import Sample
    from mmlens.tasks.mme_sci.metric import MMESciJudge

    metric = MMESciJudge()
    sample = Sample(id="q", messages=[], target="4", metadata={"raw_question_and_options": "2+2?"})
    flow = metric.extract_rounds(sample, Prediction(text="Final Answer: 4"))
    (request,) = next(flow)
    assert request.settings.max_new_tokens == 256 and request.settings.temperature == 0.0
    with pytest.raises(StopIteration) as stop:
        flow.send([Response(text=None)])
    extraction = stop.value.value
    assert extraction.answer is None and extraction.method == "failed"
    assert metric.score(sample, extraction) == {"acc": 0.0, "judged": 0.0}
