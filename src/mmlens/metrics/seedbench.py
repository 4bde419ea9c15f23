"""SEED-Bench scoring: accuracy per dimension and overall (AILab-CVC/SEED-Bench eval.py).

Official method: likelihood ranking of the four option texts (the ``rank_choices`` inferencers
set the answer; the lowest loss wins, ties go to the earlier option as ``argsort`` does).
- SEED-Bench (v1), InstructBLIP interface: the loss is LAVIS's T5 loss with reduction "none",
  i.e. the *sum* of the option's token losses -> ``rank_choices`` with ``normalize: none``.
- SEED-Bench-2 (LLaVA-1.5 and Qwen-VL interfaces): the *mean* loss over the option's tokens ->
  ``rank_choices_token_mean`` below, which needs the backend to report the option's token count
  as ``Response.usage["completion_tokens"]``.
Generation mode (a profile, lmms-eval's): the answer is the first character of the stripped
response, compared case-sensitively with the answer letter.
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
from mmlens.inferencers.basic import RankChoices
from mmlens.metrics.aggregation import mean_aggregate
from mmlens.metrics.extractors import LETTERS

TOKEN_COUNT_KEY = "completion_tokens"


def extract_first_character(response: str, letters: str) -> Extraction:
    stripped = response.strip()
    if not stripped or stripped[0] not in letters:
        return Extraction(None, "failed")
    return Extraction(stripped[0], "exact" if len(stripped) == 1 else "rule")


@metrics.register("seedbench")
class SeedBenchAccuracy(Metric):
    """acc = share of right answers, per dimension and overall (micro over questions)."""

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        letters = LETTERS[: len(sample.choices or "ABCD")]
        return extract_from_prediction(
            prediction, lambda text: extract_first_character(text, letters), lambda answer: answer
        )

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        return {"acc": float(extraction.answer is not None and extraction.answer == sample.target)}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        return mean_aggregate(records, ["acc"])


@inferencers.register("rank_choices_token_mean")
class RankChoicesTokenMean(Inferencer):
    """Likelihood ranking by the mean log-probability per option token (SEED-Bench-2's official loss)."""

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        return RankChoices().plan(sample, messages)

    def combine(self, sample: Sample, requests: list[Request], responses: list[Response]) -> Prediction:
        errors = [r.error for r in responses if r.error]
        if errors:
            return Prediction(text=None, error=errors[0])
        if not responses:
            return Prediction(text=None, error="sample has no options to rank")
        scores = []
        for response in responses:
            tokens = (response.usage or {}).get(TOKEN_COUNT_KEY)
            if response.logprob is None or not tokens:
                return Prediction(
                    text=None,
                    error=f"the backend reported no log-probability or no usage[{TOKEN_COUNT_KEY!r}] "
                    "(the option's token count), which the per-token mean needs",
                )
            scores.append(response.logprob / tokens)
        best = max(range(len(scores)), key=scores.__getitem__)
        return Prediction(text=LETTERS[best], answer=LETTERS[best], details={"mean_logprobs": scores})
