"""SEED-Bench scoring: accuracy per dimension and overall (AILab-CVC/SEED-Bench eval.py).

Official method: likelihood ranking of the four option texts (the ``rank_choices`` inferencers
set the answer; the lowest loss wins, ties go to the earlier option as ``argsort`` does). The
official interfaces score each option as the assistant's whole reply, closing token included:
- SEED-Bench (v1), InstructBLIP interface: LAVIS's T5 loss with reduction "none", the *sum* of
  the losses of the option's tokens and of the ``</s>`` the T5 tokenizer appends ->
  ``rank_choices`` with ``include_end_of_turn: true``.
- SEED-Bench-2, LLaVA-1.5 interface: the option is the assistant's message of a llava_v1
  conversation (closed by ``</s>``) and the model's *mean* loss is taken over the last
  ``len(tokenizer(option))`` tokens (the BOS counted makes it the option's tokens plus ``</s>``)
  -> ``rank_choices_token_mean`` below with ``include_end_of_turn: true``; it needs the backend to
  report the scored token count as ``Response.usage["completion_tokens"]``.
- SEED-Bench-2, Qwen-VL interface: the mean over the option's tokens only (the option is appended
  to the question, no closing token) -> ``rank_choices_token_mean`` without it (profile ``qwen-vl``).
Generation mode (a profile, lmms-eval's): the answer is the first character of the stripped
response, compared with the answer letter case-sensitively (seedbench, seedbench_2) or not
(seedbench_2_plus lowercases both: ``case_insensitive``).
"""

from __future__ import annotations

from mmlens.core.messages import Message
from mmlens.core.parts import (
    Aggregate,
    Extraction,
    Inferencer,
    Metric,
    Prediction,
    SampleRecord,
    extract_from_prediction,
    inferencers,
    metrics,
)
from mmlens.core.requests import Request, Response
from mmlens.core.sample import Sample
from mmlens.inferencers.basic import RankChoices, choose_option
from mmlens.metrics.aggregation import mean_aggregate
from mmlens.metrics.extractors import LETTERS

TOKEN_COUNT_KEY = "completion_tokens"


def extract_first_character(response: str, letters: str, case_insensitive: bool = False) -> Extraction:
    stripped = response.strip()
    first = stripped[:1].upper() if case_insensitive else stripped[:1]
    if not first or first not in letters:
        return Extraction(None, "failed")
    return Extraction(first, "exact" if len(stripped) == 1 else "rule")


@metrics.register("seedbench")
class SeedBenchAccuracy(Metric):
    """acc = share of right answers, per dimension and overall (micro over questions).

    case_insensitive: a lower-case first character counts as its letter (lmms-eval's
    seedbench_2_plus compares ``pred.lower().strip()`` with the answer lowered).
    """

    case_insensitive: bool = False

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        letters = LETTERS[: len(sample.choices or "ABCD")]
        return extract_from_prediction(
            prediction,
            lambda text: extract_first_character(text, letters, self.case_insensitive),
            lambda answer: answer,
        )

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        return {"acc": float(extraction.answer is not None and extraction.answer == sample.target)}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        return mean_aggregate(records, ["acc"])


@inferencers.register("rank_choices_token_mean")
class RankChoicesTokenMean(Inferencer):
    """Likelihood ranking by the mean log-probability per option token (SEED-Bench-2's official loss).

    include_end_of_turn: the closing token is one more scored token of the mean, as in the official
    LLaVA-1.5 interface; off, the mean is over the option's own tokens (the Qwen-VL interface).
    """

    include_end_of_turn: bool = False

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        return RankChoices(include_end_of_turn=self.include_end_of_turn).plan(sample, messages)

    def combine(self, sample: Sample, requests: list[Request], responses: list[Response]) -> Prediction:
        def mean_per_token(index: int) -> float:
            response = responses[index]
            tokens = (response.usage or {}).get(TOKEN_COUNT_KEY)
            if response.logprob is None or not tokens:
                raise ValueError(
                    f"the backend reported no log-probability or no usage[{TOKEN_COUNT_KEY!r}] "
                    "(the option's token count), which the per-token mean needs"
                )
            return response.logprob / tokens

        return choose_option(responses, mean_per_token, "mean_logprobs")
