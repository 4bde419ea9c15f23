"""Likelihood rankings: typed option scores, and no ranking over numbers that cannot be compared."""

from __future__ import annotations

import math

import pytest

from mmlens.core.errors import SampleError
from mmlens.core.messages import Message
from mmlens.core.parts import ReplayError, ReplayOutput
from mmlens.core.requests import Response
from mmlens.core.sample import Sample
from mmlens.inferencers.ranking import RankChoices, RankChoicesTokenMean

SAMPLE = Sample(id="q", messages=[Message.user("Colour?")], target="B", choices=["red", "blue", "green"])


def rank(inferencer: RankChoices | RankChoicesTokenMean, responses: list[Response]):  # type: ignore[no-untyped-def]
    requests = inferencer.plan(SAMPLE, SAMPLE.messages)
    return inferencer.combine(SAMPLE, requests, responses)


def test_the_best_option_wins_and_its_scores_are_typed() -> None:
    prediction = rank(RankChoices(), [Response(logprob=-3.0), Response(logprob=-1.0), Response(logprob=-1.0)])
    assert prediction.answer == "B"  # a tie goes to the earlier option
    assert prediction.option_scores is not None
    assert prediction.option_scores.logprobs == [-3.0, -1.0, -1.0]
    assert prediction.option_scores.normalization == "sum" and prediction.option_scores.chosen == 1
    probabilities = prediction.option_scores.probabilities()
    assert sum(probabilities) == pytest.approx(1.0)
    assert probabilities[0] == pytest.approx(math.exp(-3) / (math.exp(-3) + 2 * math.exp(-1)))
    chars = rank(
        RankChoices(normalize="chars"),
        [Response(logprob=-3.0), Response(logprob=-8.0), Response(logprob=-5.0)],
    )
    assert chars.option_scores is not None and chars.option_scores.logprobs == [-1.0, -2.0, -1.0]
    assert chars.option_scores.normalization == "chars" and chars.answer == "A"


@pytest.mark.parametrize("bad", [math.nan, -math.inf, None])
def test_a_non_finite_or_missing_log_probability_is_an_error_not_a_guess(bad: float | None) -> None:
    prediction = rank(RankChoices(), [Response(logprob=-1.0), Response(logprob=bad), Response(logprob=-2.0)])
    assert prediction.answer is None and prediction.option_scores is None
    assert prediction.error is not None and "'blue'" in prediction.error


def test_the_token_mean_needs_the_scored_token_count() -> None:
    counted = [
        Response(logprob=-6.0, usage={"completion_tokens": 3}),
        Response(logprob=-4.0, usage={"completion_tokens": 1}),
        Response(logprob=-3.0, usage={"completion_tokens": 3}),
    ]
    prediction = rank(RankChoicesTokenMean(), counted)
    assert prediction.option_scores is not None and prediction.option_scores.logprobs == [-2.0, -4.0, -1.0]
    assert prediction.answer == "C" and prediction.option_scores.normalization == "token_mean"
    uncounted = rank(RankChoicesTokenMean(), [Response(logprob=-1.0)] * 3)
    assert uncounted.error is not None and "completion_tokens" in uncounted.error


def test_no_options_is_a_bad_sample_and_a_replay_error() -> None:
    bare = Sample(id="bare", messages=[Message.user("?")], target="A")
    with pytest.raises(SampleError, match="no options to rank"):
        RankChoices().plan(bare, bare.messages)
    with pytest.raises(ReplayError, match="no options"):
        RankChoices().replay(bare, ReplayOutput(option_logprobs=[], fields=frozenset({"option_logprobs"})))
    replayed = RankChoices().replay(SAMPLE, ReplayOutput(option_logprobs=[-2.0, -1.0, -3.0]))
    assert replayed.answer == "B" and replayed.option_scores is not None
