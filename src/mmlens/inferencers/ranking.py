"""Likelihood ranking of a multiple-choice question's options: the most likely option wins.

Each ranking puts typed per-option scores on the prediction (``Prediction.option_scores``): the
log-probability used for ranking plus its normalisation, so calibration and analyses can read
them from any multiple-choice task, and ``mmlens score`` can replay rankings made elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar, Literal

from mmlens.core.errors import SampleError
from mmlens.core.messages import Message
from mmlens.core.options import LETTERS
from mmlens.core.parts import Inferencer, OptionScores, Prediction, ReplayError, ReplayOutput, inferencers
from mmlens.core.requests import Request, Response
from mmlens.core.results import Normalization
from mmlens.core.sample import Sample

# Backends report the number of scored tokens of a log-likelihood request here.
TOKEN_COUNT_KEY = "completion_tokens"


class RankingInferencer(Inferencer):
    """Score every option text as the continuation of the prompt.

    include_end_of_turn: score each option as the assistant's whole reply, the token that closes the
        turn included (the official SEED-Bench interfaces score the closing ``</s>`` too).
    """

    include_end_of_turn: bool = False

    def normalization(self) -> Normalization:
        """How ``option_score`` normalises the summed log-probability."""
        return "sum"

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        if not sample.choices:
            raise SampleError(sample.id, "no options to rank (a likelihood ranking needs choices)")
        return [
            Request(
                "loglikelihood",
                tuple(messages),
                continuation=choice,
                continuation_ends_turn=self.include_end_of_turn,
            )
            for choice in sample.choices or []
        ]

    def option_score(self, request: Request, response: Response) -> float:
        """The ranking score of one option; ValueError when it cannot be scored (no log-probability,
        or NaN/infinity: a ranking over those would be a guess)."""
        if response.logprob is None or not math.isfinite(response.logprob):
            raise ValueError(
                f"option {request.continuation!r}: the backend gave no finite log-probability "
                f"({response.logprob!r})"
            )
        return response.logprob

    def combine(self, sample: Sample, requests: list[Request], responses: list[Response]) -> Prediction:
        return choose_option(
            responses,
            lambda index: self.option_score(requests[index], responses[index]),
            self.normalization(),
        )

    replay_fields: ClassVar[frozenset[str]] = frozenset({"option_logprobs"})

    def replay(self, sample: Sample, output: ReplayOutput) -> Prediction:
        scores = output.option_logprobs
        if scores is None:
            raise ReplayError(
                'this task ranks options by likelihood: give "option_logprobs" (one number per option, '
                f"normalised as {self.normalization()!r})"
            )
        expected = len(sample.choices or [])
        if not expected:
            raise ReplayError(f"sample {sample.id} has no options to rank")
        if len(scores) != expected:
            raise ReplayError(
                f'"option_logprobs" has {len(scores)} values; sample {sample.id} has {expected} options'
            )
        return prediction_from_scores([float(value) for value in scores], self.normalization())


@inferencers.register("rank_choices")
class RankChoices(RankingInferencer):
    """normalize: "none" compares total log-probabilities; "chars" divides by the option's length."""

    normalize: Literal["none", "chars"] = "none"

    def normalization(self) -> Normalization:
        return "chars" if self.normalize == "chars" else "sum"

    def option_score(self, request: Request, response: Response) -> float:
        score = super().option_score(request, response)
        if self.normalize == "chars":
            score /= max(1, len(request.continuation or ""))
        return score


@inferencers.register("rank_choices_token_mean")
class RankChoicesTokenMean(RankingInferencer):
    """Ranking by the mean log-probability per scored token (SEED-Bench-2's official loss).

    include_end_of_turn: the closing token is one more scored token of the mean, as in the official
    LLaVA-1.5 interface; off, the mean is over the option's own tokens (the Qwen-VL interface).
    """

    def normalization(self) -> Normalization:
        return "token_mean"

    def option_score(self, request: Request, response: Response) -> float:
        tokens = (response.usage or {}).get(TOKEN_COUNT_KEY)
        if response.logprob is None or not tokens:
            raise ValueError(
                f"the backend reported no log-probability or no usage[{TOKEN_COUNT_KEY!r}] "
                "(the option's token count), which the per-token mean needs"
            )
        return response.logprob / tokens


def prediction_from_scores(scores: list[float], normalization: Normalization) -> Prediction:
    """The option with the best score wins; ties go to the earlier option (as ``argmax`` does)."""
    chosen = max(range(len(scores)), key=scores.__getitem__)
    letter = LETTERS[chosen]
    return Prediction(
        text=letter,
        answer=letter,
        option_scores=OptionScores(logprobs=scores, normalization=normalization, chosen=chosen),
    )


def choose_option(
    responses: list[Response], option_score: Callable[[int], float], normalization: Normalization
) -> Prediction:
    """What every likelihood ranking shares: a failed request fails the sample, otherwise the option
    with the best score wins. ``option_score(i)`` raises ValueError when option i cannot be scored."""
    errors = [r.error for r in responses if r.error]
    if errors:
        return Prediction(text=None, error=errors[0])
    if not responses:
        return Prediction(text=None, error="sample has no options to rank")
    try:
        scores = [option_score(index) for index in range(len(responses))]
    except ValueError as error:
        return Prediction(text=None, error=str(error))
    return prediction_from_scores(scores, normalization)
