"""Generic answer extractors (benchmark-specific official rules live beside their tasks).

Each returns an Extraction recording how the answer was found; nothing is ever guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mmlens.core.options import option_letters as letters_of
from mmlens.core.parts import Extraction
from mmlens.core.registry import Registry
from mmlens.core.sample import Sample

Extractor = Callable[[Sample, str], Extraction]
extractors: Registry[Extractor] = Registry("extractor")

def option_letters(sample: Sample) -> str:
    return letters_of(sample.choices)


def normalize_yes_no(answer: str) -> str:
    return answer.strip().lower()


@extractors.register("exact")
def extract_exact(sample: Sample, response: str) -> Extraction:
    """The stripped response itself; 'exact' when it is non-empty."""
    answer = response.strip()
    return Extraction(answer, "exact") if answer else Extraction(None, "failed")


@extractors.register("yes_no")
def extract_yes_no(sample: Sample, response: str) -> Extraction:
    """'yes'/'no' when the response is exactly that; else the first of the two words found."""
    text = response.strip().lower().rstrip(".!")
    if text in ("yes", "no"):
        return Extraction(text, "exact")
    words = re.findall(r"[a-z]+", response.lower())
    for word in words:
        if word in ("yes", "no"):
            return Extraction(word, "rule")
    return Extraction(None, "failed")


_LETTER_PATTERNS = (
    r"^\(?([A-J])\)?(?:[.:)\s]|$)",
    r"answer is:?\s*\(?([A-J])\b",
    r"option:?\s*\(?([A-J])\b",
)


@extractors.register("choice_letter")
def extract_choice_letter(sample: Sample, response: str) -> Extraction:
    """An option letter: the whole response, a leading 'B.'/'(B)', or 'the answer is B'."""
    letters = option_letters(sample)
    text = response.strip()
    if len(text) == 1 and text.upper() in letters:
        return Extraction(text.upper(), "exact")
    for pattern in _LETTER_PATTERNS:
        match = re.search(pattern, text, flags=re.IGNORECASE if pattern[0] != "^" else 0)
        if match and match.group(1).upper() in letters:
            return Extraction(match.group(1).upper(), "rule")
    if sample.choices:
        lowered = text.lower().rstrip(".")
        matches = [letters[i] for i, choice in enumerate(sample.choices) if choice.lower() == lowered]
        if len(matches) == 1:
            return Extraction(matches[0], "rule")
    return Extraction(None, "failed")


@extractors.register("choice_or_yes_no")
def extract_choice_or_yes_no(sample: Sample, response: str) -> Extraction:
    """Option letter for multiple-choice samples, yes/no otherwise."""
    return extract_choice_letter(sample, response) if sample.choices else extract_yes_no(sample, response)
