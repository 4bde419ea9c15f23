"""MMMU's official parser and scorer (MMMU-Benchmark/MMMU@bb0b95a, mmmu/utils/eval_utils.py,
mmmu/main_parse_and_eval.py), ported line by line.

Multiple choice (``parse_multi_choice_response``): strip ``, . ! ? ; : '`` from the ends (one
character set after another), pad with spaces; candidates are the letters written ``(X)``, else
``" X "``; else, if the response has more than 5 words, the options whose text occurs in the
lower-cased response; several candidates -> the one found last; none -> ``random.choice`` of the
letters from one ``random.Random(42)`` stream (the official ``random.seed(42)`` at import), drawn
in the official order (subjects as ``CAT_SHORT2LONG`` lists them, questions in file order), so the
k-th unparsed question gets the k-th draw. Right when the letter equals the answer.

Open (``parse_open_response``): the key sub-responses after "could be", "so", "is", "thus",
"therefore", "final", "answer", "result" (and "=" in the last one), plus every number in them;
numbers become floats rounded to 2 places, strings are lower-cased (a one-character string is
matched as " x" or "x "). Right when a parsed float is one of the answers' or an answer string is a
substring of a parsed string.

Field ``unparsed``: ``random`` (official) or ``wrong`` (profile ``no-guess``: counted wrong,
extraction failed).
"""

from __future__ import annotations

import random
import re
from typing import Any, Literal

from pydantic import PrivateAttr

from mmlens.core.parts import Aggregate, Extraction, Metric, MetricValue, Prediction, SampleRecord, metrics
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import mean_aggregate

OFFICIAL_SEED = 42
_STRIPPED = [",", ".", "!", "?", ";", ":", "'"]


def parse_multi_choice(response: str, all_choices: list[str], index2ans: dict[str, str]) -> str | None:
    """The official parse without its random fallback: a letter, or None where it would guess."""
    for char in _STRIPPED:
        response = response.strip(char)
    response = " " + response + " "
    index_ans = True
    ans_with_brack = False
    candidates = []
    for choice in all_choices:
        if f"({choice})" in response:
            candidates.append(choice)
            ans_with_brack = True
    if len(candidates) == 0:
        for choice in all_choices:
            if f" {choice} " in response:
                candidates.append(choice)
    if len(candidates) == 0 and len(response.split()) > 5:
        for index, ans in index2ans.items():
            if ans.lower() in response.lower():
                candidates.append(index)
                index_ans = False
    if len(candidates) == 0:
        return None
    if len(candidates) == 1:
        return candidates[0]
    if index_ans:
        pattern = "({})" if ans_with_brack else " {} "
        starts = [response.rfind(pattern.format(can)) for can in candidates]
    else:
        starts = [response.lower().rfind(index2ans[can].lower()) for can in candidates]
    return candidates[starts.index(max(starts))]  # np.argmax: the first of equal maxima


def check_is_number(string: str) -> bool:
    try:
        float(string.replace(",", ""))
        return True
    except ValueError:
        return False


def normalize_str(string: str) -> list[str | float]:
    string = string.strip()
    if check_is_number(string):
        return [round(float(string.replace(",", "")), 2)]
    string = string.lower()
    if len(string) == 1:
        return [" " + string, string + " "]
    return [string]


def extract_numbers(string: str) -> list[str]:
    pattern_commas = r"-?\b\d{1,3}(?:,\d{3})+\b"
    pattern_scientific = r"-?\d+(?:\.\d+)?[eE][+-]?\d+"
    pattern_simple = r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])"
    return (
        re.findall(pattern_commas, string)
        + re.findall(pattern_scientific, string)
        + re.findall(pattern_simple, string)
    )


def _key_subresponses(response: str) -> list[str]:
    response = response.strip().strip(".").lower()
    sub_responses = re.split(r"\.\s(?=[A-Z])|\n", response)
    indicators = ["could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result "]
    key_responses = []
    for index, resp in enumerate(sub_responses):
        if index == len(sub_responses) - 1:
            indicators.extend(["="])
        shortest: str | None = None
        for indicator in indicators:
            if indicator in resp:
                tail = resp.split(indicator)[-1].strip()
                if not shortest or len(tail) < len(shortest):
                    shortest = tail
        if shortest and shortest.strip() not in [":", ",", ".", "!", "?", ";", ":", "'"]:
            key_responses.append(shortest)
    return key_responses or [response]


def parse_open(response: str) -> list[str | float]:
    """``parse_open_response``: the normalised candidate answers (deduplicated, sorted for stable records)."""
    key_responses = _key_subresponses(response)
    pred_list: list[str] = list(key_responses)
    for resp in key_responses:
        pred_list.extend(extract_numbers(resp))
    normalized: list[str | float] = []
    for pred in pred_list:
        normalized.extend(normalize_str(pred))
    unique = set(normalized)
    return sorted(unique, key=lambda value: (isinstance(value, str), str(value)))


def eval_open(answers: list[str], parsed: list[str | float]) -> bool:
    norm_answers: list[str | float] = []
    for answer in answers:
        norm_answers.extend(normalize_str(answer))
    for pred in parsed:
        if isinstance(pred, str):
            if any(isinstance(norm, str) and norm in pred for norm in norm_answers):
                return True
        elif pred in norm_answers:
            return True
    return False


@metrics.register("mmmu")
class MMMUAccuracy(Metric):
    """acc = right answers / questions (instance level), per subject and discipline; ``random_guesses``
    = how many multiple-choice answers the fallback drew."""

    unparsed: Literal["random", "wrong"] = "random"
    seed: int = OFFICIAL_SEED
    _rng: random.Random = PrivateAttr(default_factory=lambda: random.Random(OFFICIAL_SEED))
    _last_order: int = PrivateAttr(default=-1)

    def _draw(self, sample: Sample, letters: list[str]) -> str:
        return self._rng.choice(letters)

    def _follow_order(self, sample: Sample) -> None:
        """A new pass over the samples (an order at or before the last one seen) restarts the stream."""
        order = int(sample.metadata.get("order", -1))
        if order <= self._last_order:
            self._rng = random.Random(self.seed)
        self._last_order = order

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        self._follow_order(sample)
        if prediction.text is None:
            return Extraction(None, "failed")
        if sample.metadata.get("question_type") != "multiple-choice":
            parsed = parse_open(prediction.text)
            return Extraction(repr(parsed), "rule", details={"parsed_pred": parsed})
        letters = [chr(ord("A") + index) for index in range(len(sample.choices or []))]
        letter = parse_multi_choice(
            prediction.text, letters, dict(zip(letters, sample.choices or [], strict=True))
        )
        if letter is not None:
            return Extraction(letter, "exact" if prediction.text.strip() == letter else "rule")
        if self.unparsed == "wrong":
            return Extraction(None, "failed")
        return Extraction(self._draw(sample, letters), "rule", details={"random_guess": True})

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        guessed = float(bool(extraction.details.get("random_guess")))
        if extraction.answer is None:
            return {"acc": 0.0, "random_guess": guessed}
        answers = [str(answer) for answer in sample.metadata.get("answers", [sample.target])]
        if sample.metadata.get("question_type") == "multiple-choice":
            correct = extraction.answer in answers
        else:
            parsed: list[Any] = list(extraction.details.get("parsed_pred", []))
            correct = eval_open(answers, parsed)
        return {"acc": float(correct), "random_guess": guessed}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        aggregate = mean_aggregate(records, ["acc"])
        guesses = sum(1 for record in records if record.scores.get("random_guess"))
        aggregate.metrics["random_guesses"] = MetricValue(float(guesses), n=len(records))
        return aggregate
