"""``can_infer`` as MMVM's own VLMEvalKit fork has it (zhouyiks/MMVMEvalKit@34ecca27,
``vlmeval/utils/matching_util.py``, VERBOSE unset), which the MMatch scorer calls.

It is older than the upstream VLMEvalKit rule (``mmlens.tasks.ai2d.harness_rules.can_infer``,
whose refusal phrases and word split it shares) and differs from it in three ways, each changing
some verdicts:

- one option letter among the words is the answer wherever it stands (upstream: only among the last
  five words), so "C) because of its colour and shape" is C here, failed upstream;
- no "(correct) answer is X" fallback, so "The answer is B and not A" (two letters) is Z here, B
  upstream;
- the option-text match has no length cap: a long answer that contains exactly one option's text
  picks that option.
"""

from __future__ import annotations

from mmlens.tasks.ai2d.harness_rules import answer_words, is_rejection


def can_infer_option(answer: str, choices: dict[str, str]) -> str | None:
    """A letter, "Z" (a refusal, or a lone "Z" and no option letter), or None (the fork's False)."""
    if "Failed to obtain answer via API" in answer:
        return None
    if is_rejection(answer):
        return "Z"
    splits = answer_words(answer)
    count = sum(1 for letter in choices if letter in splits)
    if count == 1:
        return next(letter for letter in choices if letter in splits)
    if count == 0 and "Z" in splits:  # count_choice(splits, {"Z", ""}): "" is never a split
        return "Z"
    return None


def can_infer_text(answer: str, choices: dict[str, str]) -> str | None:
    """The one option whose lower-cased text the lower-cased answer contains, else None."""
    lowered = answer.lower()
    found = [letter for letter, text in choices.items() if str(text).lower() in lowered]
    return found[0] if len(found) == 1 else None


def can_infer(answer: str, choices: dict[str, str]) -> str | None:
    answer = str(answer)
    return can_infer_option(answer, choices) or can_infer_text(answer, choices)
