"""The likelihood transform: ChEF's PPL ranking (mean log-probability of the option's own tokens,
ties to the first option) on any multiple-choice or yes/no task."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.errors import ConfigError
from mmlens.core.messages import Message, TextPart
from mmlens.core.requests import Response
from mmlens.core.sample import Sample
from mmlens.transforms.likelihood import ChefLikelihood, Likelihood
from tests.fixtures.benchmark_data import build_mmstar
from tests.fixtures.benchmark_helpers import pope_with_images
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401 - fixture


def sample(text: str, target: str, choices: list[str] | None = None) -> Sample:
    return Sample(id="s", messages=[Message("user", (TextPart(text),))], target=target, choices=choices)


def scored(logprob: float, tokens: int) -> Response:
    return Response(logprob=logprob, usage={"completion_tokens": tokens})


def test_the_mean_is_over_the_options_own_tokens_after_the_template() -> None:
    inferencer = ChefLikelihood(template="The answer is {option}")
    question = Likelihood().transform_sample(sample("Q?\nA. x\nB. y\nC. z", "B"))[0]
    requests = inferencer.plan(question, list(question.messages))
    assert [r.continuation for r in requests] == ["The answer is ", "The answer is (A", "The answer is (B",
                                                  "The answer is (C"]  # fmt: skip
    # prefix: log P = -3.0 over 4 tokens; options add 2, 2 and 1 tokens
    responses = [scored(-3.0, 4), scored(-5.0, 6), scored(-4.0, 6), scored(-4.0, 5)]
    prediction = inferencer.combine(question, requests, responses)
    assert prediction.option_scores is not None
    # (-5 + 3) / 2 = -1.0, (-4 + 3) / 2 = -0.5, (-4 + 3) / 1 = -1.0
    assert prediction.option_scores.logprobs == [-1.0, -0.5, -1.0]
    assert prediction.answer == "B"


def test_ties_go_to_the_first_option_and_yes_no_answers_are_words() -> None:
    inferencer = ChefLikelihood()
    question = Likelihood().transform_sample(sample("Is there a cat?", "no"))[0]
    assert question.choices == ["Yes", "No"]
    requests = inferencer.plan(question, list(question.messages))
    assert [r.continuation for r in requests] == ["Yes", "No"]
    prediction = inferencer.combine(question, requests, [scored(-2.0, 2), scored(-1.0, 1)])  # -1.0 each
    assert prediction.answer == "yes" and prediction.option_scores is not None
    assert prediction.option_scores.chosen == 0


def test_an_option_without_a_token_count_is_an_error_not_a_guess() -> None:
    inferencer = ChefLikelihood()
    question = Likelihood().transform_sample(sample("Q?", "A", ["x", "y"]))[0]
    requests = inferencer.plan(question, list(question.messages))
    prediction = inferencer.combine(question, requests, [scored(-1.0, 1), Response(logprob=-2.0)])
    assert prediction.error is not None and "completion_tokens" in prediction.error


def test_templates_must_end_with_the_option() -> None:
    with pytest.raises(ConfigError, match="template must end with"):
        api.load_task("shapes_small", transforms=[{"type": "likelihood", "template": "{option} is it"}])


def test_open_questions_are_bad_samples(tmp_path: Path) -> None:
    lines = [
        '{"id": "1", "question": "How many?", "answer": "3"}',
        '{"id": "2", "question": "Is it?", "answer": "yes"}',
    ]
    (tmp_path / "open.jsonl").write_text("\n".join(lines) + "\n")
    scenario = f"{{type: jsonl, path: {tmp_path / 'open.jsonl'}}}"
    (tmp_path / "open.yaml").write_text(f"name: open\nscenario: {scenario}\nmetric: {{type: accuracy}}\n")
    task = api.load_task("open", include=[tmp_path / "open.yaml"], transforms=["likelihood"])
    from mmlens.core.parts import LoadContext
    from mmlens.runner.plan import load_samples

    samples, bad = load_samples(task, LoadContext("open", tmp_path, None))
    assert [s.id for s in samples] == ["2"] and [b.id for b in bad] == ["1"]
    assert "transform likelihood: neither multiple-choice nor yes/no" in bad[0].reason


def test_likelihood_with_a_tiny_vlm_on_a_multiple_choice_and_a_yes_no_benchmark(
    tmp_path: Path,
    tiny_model_factory: TinyModelFactory,  # noqa: F811
) -> None:
    pytest.importorskip("transformers")
    model = f"hf:{tiny_model_factory('llava')}"
    options = {"model_args": "dtype=float32", "store": tmp_path / "s.sqlite", "output_dir": None}
    chef = [{"type": "likelihood", "template": "The answer is {option}"}]
    data = build_mmstar(tmp_path / "mmstar")
    mmstar = api.evaluate("mmstar", model, data=data, limit=3, transforms=chef, **options)
    pope = api.evaluate(
        "pope", model, data=pope_with_images(tmp_path / "pope", 2), transforms=["likelihood"], **options
    )
    for run in (mmstar, pope):
        assert run.results["counts"]["errors"] == 0
        for record in run.records:
            assert record.option_scores is not None and record.option_scores.normalization == "token_mean"
            best = max(
                range(len(record.option_scores.logprobs)), key=record.option_scores.logprobs.__getitem__
            )
            assert record.option_scores.chosen == best
    assert {r.answer for r in pope.records} <= {"yes", "no"}
    assert {r.answer for r in mmstar.records} <= set("ABCD")
    requests = mmstar.typed.provenance.requests
    assert requests.unique == 3 * 5  # the template's prefix alone and four options per question
    again = api.evaluate("mmstar", model, data=data, limit=3, transforms=chef, **options)
    assert again.stats is not None and again.stats.computed == 0


@pytest.mark.parametrize(
    "before", ["icl:1", "strategy:chain_of_thought", "strategy:one_shot", {"type": "icl", "k": 1}]
)
def test_likelihood_refuses_to_replace_an_inferencer_another_transform_adapted(before: object) -> None:
    # Replacing the wrapper would drop the in-context examples / the strategy without a word.
    with pytest.raises(ConfigError, match="likelihood"):
        api.load_task("shapes_small", transforms=[before, "likelihood"])


def test_likelihood_refuses_to_replace_a_blind_inferencer(tmp_path: Path) -> None:
    # ``inferencer: blind`` sends no media; the ranking would put the images back.
    (tmp_path / "b.jsonl").write_text('{"id": "1", "question": "Is it?", "answer": "yes"}\n')
    scenario = f"{{type: jsonl, path: {tmp_path / 'b.jsonl'}}}"
    (tmp_path / "b.yaml").write_text(
        f"name: b\nscenario: {scenario}\ninferencer: {{type: blind}}\nmetric: {{type: accuracy}}\n"
    )
    with pytest.raises(ConfigError, match="likelihood"):
        api.load_task("b", include=[tmp_path / "b.yaml"], transforms=["likelihood"])


def test_likelihood_first_then_the_others_still_composes() -> None:
    task = api.load_task("shapes_small", transforms=["likelihood", "strategy:chain_of_thought", "icl:1"])
    assert task.transform_labels == ["likelihood", "strategy:chain_of_thought", "icl:1"]
    assert api.load_task("shapes_small", transforms=["likelihood", "likelihood:content"]).inferencer
