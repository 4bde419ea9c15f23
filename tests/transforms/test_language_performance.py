"""ChEF's language performance: the judge's query built as ``eval_langperf.py`` builds it, its score
parsed by ``parse_score``, six replies averaged, ChEF's 250-question draw."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.messages import Message, TextPart
from mmlens.core.parts import Prediction, TransformContext
from mmlens.core.requests import Response
from mmlens.core.sample import Sample
from mmlens.metrics.accuracy import Accuracy
from mmlens.transforms.language_performance import (
    LanguagePerformance,
    LanguagePerformanceMetric,
    chef_prompts,
    parse_overall_score,
)
from tests.fixtures.benchmark_data import build_mmstar
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401 - fixture

QUESTION = "Which is a mammal?\nContext: Look at the animals.\nOptions: (A) frog (B) dog\n"


def scienceqa_sample() -> Sample:
    return Sample(
        id="7", messages=[Message("user", (TextPart(QUESTION),))], target="B", choices=["frog", "dog"]
    )


def test_the_query_is_chefs_generate_query() -> None:
    metric = LanguagePerformanceMetric(inner=Accuracy())
    prediction = Prediction(text="B", answer="B", details={"reasoning": "A dog has fur. So it is B. Then"})
    # ChEF: clean_question drops the context, gt = option_text(1) = "(B) ", the CoT is cut after its
    # last ".", the final choice is answer "(B" + ")"
    assert metric.query(scienceqa_sample(), prediction, "B") == (
        "\n[Question]\nQuestion: Which is a mammal?\nOptions: (A) frog (B) dog\n\n\n\n"
        "[Ground Truth]\n(B) \n\n[Assistant's Chain of Thought]\nA dog has fur. So it is B.\n\n"
        "[Assistant's Final Choice]\n(B)\n\n"
    )
    system, _ = chef_prompts()
    assert system.startswith("\nPlease act as an impartial judge") and "[Overall Score] {An integer" in system


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("[Explanation] ok\n[Overall Score] 8", 8.0),
        ("[Overall Score]7.5", 7.5),
        ("[Overall Score]: 8", None),  # ChEF's regex allows only spaces before the number
        ("Overall Score 9", None),
        ("[Overall Score] 3 ... [Overall Score] 9", 3.0),  # re.search: the first
        ("", None),
    ],
)
def test_scores_are_parsed_as_chefs_parse_score(reply: str, score: float | None) -> None:
    assert parse_overall_score(reply) == score


def test_six_replies_the_mean_of_those_with_a_score() -> None:
    metric = LanguagePerformanceMetric(inner=Accuracy())
    sample = scienceqa_sample()
    rounds = metric.extract_rounds(sample, Prediction(text="B", answer="B", details={"reasoning": "Fur."}))
    requests = next(rounds)
    assert len(requests) == 6 and {r.role for r in requests} == {"judge"}
    assert len({r.settings.seed for r in requests}) == 6 and requests[0].settings.max_new_tokens == 512
    replies = [
        "[Overall Score] 8",
        "[Overall Score] 6",
        "none",
        "[Overall Score] 7",
        "x",
        "[Overall Score] 9",
    ]
    with pytest.raises(StopIteration) as stop:
        rounds.send([Response(text=text) for text in replies])
    scores = metric.score(sample, stop.value.value)
    assert scores["language_score"] == (8 + 6 + 7 + 9) / 4 and scores["acc"] == 1.0


def test_chefs_250_question_draw(tmp_path: Path) -> None:
    samples = [scienceqa_sample().__class__(id=str(i), messages=[], target="A") for i in range(300)]
    random.seed(0)  # as eval_langperf.py does, with the task's question count for 2017
    expected = sorted(random.sample(range(300), 250))
    context = TransformContext("t", None, lambda fields: [])  # type: ignore[arg-type]
    kept = LanguagePerformance().apply(samples, context)
    assert [s.id for s in kept] == [str(i) for i in expected]  # type: ignore[union-attr]
    assert len(LanguagePerformance(subset=None).apply(samples, context)) == 300


def test_end_to_end_with_a_tiny_vlm_and_a_judge(
    tmp_path: Path,
    tiny_model_factory: TinyModelFactory,  # noqa: F811
) -> None:
    pytest.importorskip("transformers")
    options = {"model_args": "dtype=float32", "store": tmp_path / "s.sqlite", "output_dir": None,
               "roles": {"judge": "constant"}, "role_args": {"judge": "text=[Overall Score] 6"}}  # fmt: skip
    transforms = ["likelihood", "strategy:chain_of_thought", "language_performance"]
    data = build_mmstar(tmp_path / "mmstar")
    model = f"hf:{tiny_model_factory('llava')}"
    run = api.evaluate("mmstar", model, data=data, limit=3, transforms=transforms, **options)
    assert run.results["metrics"]["language_score"]["value"] == 6.0
    assert run.results["metrics"]["language_score"]["n"] == 3 and "acc" in run.results["metrics"]
    judge_calls = [e for e in run.records[0].exchanges if e.role == "judge"]
    assert len(judge_calls) == 6 and "[Assistant's Chain of Thought]" in str(judge_calls[0].prompt)
    again = api.evaluate("mmstar", model, data=data, limit=3, transforms=transforms, **options)
    assert again.stats is not None and again.stats.computed == 0


def test_rotations_and_a_judged_metric_are_refused() -> None:
    from mmlens.core.errors import ConfigError

    with pytest.raises(ConfigError, match="rotation or rewrite made by an earlier transform"):
        api.evaluate("shapes_small", "reference", limit=4, transforms=["circular", "language_performance"],
                     roles={"judge": "constant"}, output_dir=None)  # fmt: skip
    with pytest.raises(ConfigError, match="asks a judge itself"):
        LanguagePerformance().adapt_metric(__import__("mmlens.metrics.judge").metrics.judge.JudgeVerdict())
