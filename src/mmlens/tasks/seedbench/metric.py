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
  -> ``rank_choices_token_mean`` (mmlens.inferencers.ranking) with ``include_end_of_turn: true``;
  it needs the backend to report the scored token count as ``Response.usage["completion_tokens"]``.
- SEED-Bench-2, Qwen-VL interface: the mean over the option's tokens only (the option is appended
  to the question, no closing token) -> ``rank_choices_token_mean`` without it (profile ``qwen-vl``).
Generation mode (a profile, lmms-eval's): the answer is the first character of the stripped
response, compared with the answer letter case-sensitively (seedbench, seedbench_2) or not
(seedbench_2_plus lowercases both: ``case_insensitive``).
"""

from __future__ import annotations

from mmlens.core.options import LETTERS
from mmlens.core.parts import (
    Aggregate,
    Extraction,
    Metric,
    Prediction,
    SampleRecord,
    extract_from_prediction,
    metrics,
)
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import mean_aggregate


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
