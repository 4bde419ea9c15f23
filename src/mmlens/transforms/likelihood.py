"""``likelihood``: a task's questions answered by likelihood ranking, as ChEF's PPL inferencer
does, instead of by generation (the request every ChEF desideratum uses).

A multiple-choice question's options are scored as the start of the reply ``template`` with the
option in it; ChEF's options are ``"(A"``, ``"(B"``, ... (no closing parenthesis), or the option
texts with ``options: content``. A yes/no question ranks ``"Yes"`` and ``"No"`` (ChEF's POPE
recipe) and its answer is the word, lower-cased. The option score is the **mean** log-probability
of the option's own tokens, not the template's (ChEF's ``log(softmax(logits[start:end])).mean()``):
for a template with text before ``{option}``, that is ``(log P(prefix + option) - log P(prefix)) /
(tokens(prefix + option) - tokens(prefix))``, from one request for the prefix alone and one per
option. Ties go to the first option. The prediction keeps every option score (``option_scores``),
so calibration reads them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from pydantic import field_validator

from mmlens.core.errors import ConfigError, SampleError
from mmlens.core.messages import Message
from mmlens.core.options import LETTERS
from mmlens.core.parts import Inferencer, Prediction, ReplayOutput, Transform, inferencers, register_transform
from mmlens.core.requests import Request, Response
from mmlens.core.results import Normalization
from mmlens.core.sample import Sample
from mmlens.inferencers.basic import Generate, GenerateWithoutMedia
from mmlens.inferencers.ranking import (
    TOKEN_COUNT_KEY,
    RankingInferencer,
    choose_option,
)
from mmlens.transforms.choices import find_options

YES_NO = ("Yes", "No")
YES_NO_KEY = "likelihood_yes_no"  # sample metadata: the question is ranked over Yes / No


def is_yes_no(sample: Sample) -> bool:
    return sample.target is not None and sample.target.strip().lower() in ("yes", "no")


def option_texts(sample: Sample, style: str) -> list[str]:
    choices = sample.choices or []
    if sample.metadata.get(YES_NO_KEY) or style == "content":
        return list(choices)
    return [f"({LETTERS[i]}" for i in range(len(choices))]


def option_last(template: str) -> str:
    if not template.endswith("{option}") or template.count("{option}") != 1:
        raise ValueError("template must end with {option} (the option's tokens are the ones scored)")
    return template


@inferencers.register("chef_ppl")
class ChefLikelihood(RankingInferencer):
    """ChEF's PPL ranking: mean log-probability of each option's own tokens after ``template``."""

    options: Literal["letters", "content"] = "letters"
    template: str = "{option}"

    _option_last = field_validator("template")(lambda cls, template: option_last(template))

    @property
    def prefix(self) -> str:
        return self.template[: -len("{option}")]

    def normalization(self) -> Normalization:
        return "token_mean"

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        if not sample.choices:
            raise SampleError(sample.id, "no options to rank (a likelihood ranking needs choices)")
        continuations = [self.prefix + option for option in option_texts(sample, self.options)]
        if self.prefix:
            continuations.insert(0, self.prefix)
        return [Request("loglikelihood", tuple(messages), continuation=text) for text in continuations]

    def combine(self, sample: Sample, requests: list[Request], responses: list[Response]) -> Prediction:
        base_logprob, base_tokens = 0.0, 0
        if self.prefix:
            first = responses[0]
            if first.error:
                return Prediction(text=None, error=first.error)
            base_logprob, base_tokens = first.logprob or 0.0, (first.usage or {}).get(TOKEN_COUNT_KEY, 0)
            requests, responses = requests[1:], responses[1:]

        def score(index: int) -> float:
            response = responses[index]
            tokens = (response.usage or {}).get(TOKEN_COUNT_KEY)
            if response.logprob is None or not tokens or tokens - base_tokens <= 0:
                raise ValueError(
                    f"option {requests[index].continuation!r}: the backend reported no log-probability "
                    f"or no usage[{TOKEN_COUNT_KEY!r}] beyond the template's, which the mean needs"
                )
            return (response.logprob - base_logprob) / (tokens - base_tokens)

        return self._answer(sample, choose_option(responses, score, "token_mean"))

    def replay(self, sample: Sample, output: ReplayOutput) -> Prediction:
        return self._answer(sample, super().replay(sample, output))

    @staticmethod
    def _answer(sample: Sample, prediction: Prediction) -> Prediction:
        """A yes/no question's answer is the word ranked first, as its metric reads answers."""
        if not sample.metadata.get(YES_NO_KEY) or prediction.option_scores is None:
            return prediction
        word = YES_NO[prediction.option_scores.chosen].lower()
        return replace(prediction, text=word, answer=word)


@register_transform("likelihood")
class Likelihood(Transform):
    """Answer by likelihood ranking of the options, as ChEF's PPL inferencer (calibration needs it).

    ``--transform likelihood`` (options "(A", "(B", ...), ``likelihood:content`` (option texts), or
    YAML ``{type: likelihood, template: "The answer is {option}"}``. Multiple-choice questions get
    their options as ``choices`` (from the question text where the benchmark writes them there),
    yes/no questions rank Yes and No; other questions are refused."""

    options: Literal["letters", "content"] = "letters"
    template: str = "{option}"

    _option_last = field_validator("template")(lambda cls, template: option_last(template))

    @classmethod
    def from_args(cls, args: str) -> dict[str, object]:
        if args in ("", "letters", "content"):
            return {"options": args} if args else {}
        raise ValueError(f"expected likelihood, likelihood:letters or likelihood:content, got {args!r}")

    def adapt_inferencer(self, inferencer: Inferencer) -> Inferencer:
        """The ranking replaces the task's own one-round inferencer (generation or another ranking);
        one that another transform wrapped (in-context examples, a strategy, a verbalizer map), one
        with rounds of its own, or one that drops the media is refused: replacing it would silently
        drop what it does, so put ``likelihood`` first."""
        wrapped = any(isinstance(value, Inferencer) for _, value in inferencer)
        replaceable = isinstance(inferencer, Generate | RankingInferencer) and not isinstance(
            inferencer, GenerateWithoutMedia
        )
        if wrapped or not replaceable or type(inferencer).rounds is not Inferencer.rounds:
            raise ConfigError(
                f"transform {self.label()} replaces the task's inferencer by a likelihood ranking, and "
                f"{type(inferencer).__name__} does more than generate or rank (another transform adapted "
                "it, it has rounds of its own, or it drops the media): put likelihood before the other "
                "transforms (the blind transform, not the blind inferencer, for no media)"
            )
        return ChefLikelihood(options=self.options, template=self.template)

    def transform_sample(self, sample: Sample) -> list[Sample]:
        options = find_options(sample)
        if options is not None:
            return [replace(sample, choices=list(options.choices), target=LETTERS[options.answer])]
        if is_yes_no(sample):
            return [replace(sample, choices=list(YES_NO), metadata={**sample.metadata, YES_NO_KEY: True})]
        raise SampleError(sample.id, "neither multiple-choice nor yes/no: nothing to rank by likelihood")
