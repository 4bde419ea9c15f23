"""Built-in inferencers: free generation, generation without media, likelihood ranking of options."""

from __future__ import annotations

import math
from collections.abc import Callable

from mmlens.core.messages import Message
from mmlens.core.parts import Inferencer, Prediction, inferencers
from mmlens.core.requests import GenerationSettings, Request, Response
from mmlens.core.sample import Sample
from mmlens.metrics.extractors import LETTERS


@inferencers.register("generate")
class Generate(Inferencer):
    """One generation request per sample."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def settings(self) -> GenerationSettings:
        return GenerationSettings(self.max_new_tokens, self.temperature, self.top_p, self.stop, self.seed)

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        return [Request("generate", tuple(messages), self.settings())]


@inferencers.register("blind")
class GenerateWithoutMedia(Generate):
    """The same question without its images or video: measures what the text alone gives away."""

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        return [Request("generate", tuple(m.without_media() for m in messages), self.settings())]


@inferencers.register("rank_choices")
class RankChoices(Inferencer):
    """Score every option text as the continuation of the prompt; the most likely option wins.

    normalize: "none" compares total log-probabilities; "chars" divides by the option's length.
    include_end_of_turn: score each option as the assistant's whole reply, the token that closes the
        turn included (the official SEED-Bench interfaces score the closing ``</s>`` too).
    """

    normalize: str = "none"
    include_end_of_turn: bool = False

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        return [
            Request(
                "loglikelihood",
                tuple(messages),
                continuation=choice,
                continuation_ends_turn=self.include_end_of_turn,
            )
            for choice in sample.choices or []
        ]

    def combine(self, sample: Sample, requests: list[Request], responses: list[Response]) -> Prediction:
        def option_score(index: int) -> float:
            logprob = responses[index].logprob
            score = logprob if logprob is not None else -math.inf
            if self.normalize == "chars":
                score /= max(1, len(requests[index].continuation or ""))
            return score

        return choose_option(responses, option_score, "logprobs")


def choose_option(
    responses: list[Response], option_score: Callable[[int], float], details_key: str
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
    letter = LETTERS[max(range(len(scores)), key=scores.__getitem__)]
    return Prediction(text=letter, answer=letter, details={details_key: scores})
