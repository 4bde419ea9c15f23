"""MMBench's reference scorer without a judge model: VLMEvalKit's vlmeval/utils/matching_util.py
``can_infer`` as of commit d21c5e9 (``can_infer_option`` has changed across versions) and
vlmeval/dataset/utils/multiple_choice.py ``prefetch_circular_group``.

Extraction, in order:
1. a response containing one of VLMEvalKit's refusal phrases -> "Z" (no option);
2. ``.()[],:;!*#{}`` become spaces and the text is split into words: if exactly one option letter
   occurs as a word and its first occurrence is among the last 4 words -> that letter; if no
   option letter occurs but the word "Z" does -> "Z";
3. else a case-insensitive "(correct) answer is X" (X in A-D) -> X;
4. else, if the lower-cased response is at most twice as long as all option texts together and
   exactly one option's (lower-cased) text occurs in it -> that option;
5. else failed (counted wrong; no judge, no random guess).
CircularEval: a question passes when every pass was extracted and right.
"""

from __future__ import annotations

import re
from collections import defaultdict

from mmlens.core.options import LETTERS
from mmlens.core.parts import Aggregate, Extraction, Metric, MetricValue, Prediction, SampleRecord, metrics
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import category_nodes
from mmlens.metrics.stats import mean_interval

REFUSAL_PHRASES = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)
_PUNCTUATION = ".()[],:;!*#{}"
_ANSWER_IS = re.compile(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**")
NO_OPTION = "Z"


def infer_option_letter(response: str, options: dict[str, str]) -> str | None:
    """Steps 1-3: an option letter, "Z", or None."""
    if any(phrase in response for phrase in REFUSAL_PHRASES):
        return NO_OPTION
    text = response
    for character in _PUNCTUATION:
        text = text.replace(character, " ")
    words = text.split()
    present = [letter for letter in options if letter in words]
    if len(present) == 1 and words.index(present[0]) > len(words) - 5:
        return present[0]
    if not present and NO_OPTION in words:
        return NO_OPTION
    match = _ANSWER_IS.search(response)
    if match and match.group(1).upper() in options:
        return match.group(1).upper()
    return None


def infer_option_text(response: str, options: dict[str, str]) -> str | None:
    """Step 4: the one option whose text the (short enough) response contains."""
    lowered = response.lower()
    if len(lowered) > 2 * sum(len(text) for text in options.values()):
        return None
    found = [letter for letter, text in options.items() if text.lower() in lowered]
    return found[0] if len(found) == 1 else None


def extract_mmbench_answer(response: str, choices: list[str]) -> Extraction:
    options = {LETTERS[i]: choice for i, choice in enumerate(choices)}
    letter = infer_option_letter(response, options)
    if letter is not None:
        exact = letter != NO_OPTION and response.strip() == letter
        return Extraction(letter, "exact" if exact else "rule")
    letter = infer_option_text(response, options)
    return Extraction(letter, "rule") if letter is not None else Extraction(None, "failed")


def _question_hits(records: list[SampleRecord]) -> dict[str, tuple[float, SampleRecord]]:
    """Group key -> (1.0 if every pass is right else 0.0, the question's first record)."""
    passes: dict[str, list[SampleRecord]] = defaultdict(list)
    for record in records:
        passes[record.group or record.id].append(record)
    return {
        group: (float(all(r.scores.get("pass_correct") == 1.0 for r in rows)), rows[0])
        for group, rows in passes.items()
    }


def _binary_metric(values: list[float]) -> MetricValue:
    if not values:
        return MetricValue(float("nan"), n=0)
    low, high = mean_interval(values)
    return MetricValue(sum(values) / len(values), low, high, len(values))


@metrics.register("mmbench")
class MMBenchCircularAccuracy(Metric):
    """circular_acc = share of questions with every pass right; vanilla_acc = pass 0 alone."""

    primary = "circular_acc"
    correct_key = "pass_correct"
    scores_rotations = True  # its published rotations: the circular transform leaves it as it is

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None:
            return Extraction(None, "failed")
        return extract_mmbench_answer(prediction.text, sample.choices or [])

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        return {"pass_correct": float(extraction.answer is not None and extraction.answer == sample.target)}

    def _values(self, records: list[SampleRecord]) -> dict[str, MetricValue]:
        first_pass = [r.scores["pass_correct"] for r in records if r.group is None or r.id == r.group]
        hits = [hit for hit, _ in _question_hits(records).values()]
        return {"circular_acc": _binary_metric(hits), "vanilla_acc": _binary_metric(first_pass)}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        breakdown = {node: self._values(subset) for node, subset in category_nodes(records).items()}
        return Aggregate(self._values(records), breakdown)


@metrics.register("mmbench_vanilla")
class MMBenchVanillaAccuracy(MMBenchCircularAccuracy):
    """acc over the questions as published (each asked once), same extraction."""

    primary = "acc"

    def _values(self, records: list[SampleRecord]) -> dict[str, MetricValue]:
        return {"acc": _binary_metric([r.scores["pass_correct"] for r in records])}
