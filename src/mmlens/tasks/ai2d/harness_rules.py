"""The option-letter rules of the two harnesses that score AI2D, ScienceQA-IMG and RealWorldQA
(none of the three has an official scorer). ScienceQA and RealWorldQA import them from here.

lmms-eval (EvolvingLMMs-Lab/lmms-eval@75571cf):

- ``lmms_eval_ai2d``: tasks/ai2d/utils.py ``MultiChoiceRegexFilter`` (``^\\s*([A-Z])\\.`` at the
  start gives the letter, else the raw response), then ``res.strip()`` (api/task.py) and
  ``exact_match`` with ``ignore_case`` and ``ignore_punctuation`` (api/metrics.py: lower-case, delete
  ``string.punctuation``) against the answer letter.
- ``lmms_eval_scienceqa``: tasks/scienceqa/utils.py ``sqa_process_results``: right iff the stripped
  response lower-cased equals the letter, or it is at least 2 characters, starts with an upper-case
  character followed by ``.``, and that character lower-cased is the letter.
- ``lmms_eval_realworldqa``: tasks/realworldqa/utils.py ``realworldqa_process_results``: for a letter
  answer A-D, ``extract_mcq_answer(pred, choices=["A", "B", "C", "D"])``
  (tasks/_task_utils/mcq_extract.py); any other answer: ``pred.lower().strip().rstrip(".") == gt.lower()``.

VLMEvalKit (open-compass/VLMEvalKit@e8e78f05): ``can_infer`` (vlmeval/utils/matching_util.py) in
the ``exact_matching`` mode of ``extract_answer_from_item`` (no ChatGPT extractor): the letter
``can_infer_option`` finds, else the one option text ``can_infer_text`` finds, else no answer
(VLMEvalKit's ``Z``), scored wrong.
"""

from __future__ import annotations

import copy
import re
import string

from mmlens.core.parts import Extraction

# --- lmms-eval ---------------------------------------------------------------------------------

_AI2D_LETTER = re.compile(r"^\s*([A-Z])\.")
PUNCTUATION_DELETION = str.maketrans("", "", string.punctuation)


def lmms_eval_ai2d_filter(response: str) -> str:
    """What lmms-eval's AI2D filter and ``strip`` leave of a response."""
    match = _AI2D_LETTER.match(response)
    return (match.group(1) if match else response).strip()


def lmms_eval_exact_match(prediction: str, reference: str) -> bool:
    """``exact_match`` with ignore_case and ignore_punctuation (no whitespace handling)."""
    return prediction.lower().translate(PUNCTUATION_DELETION) == reference.lower().translate(
        PUNCTUATION_DELETION
    )


def lmms_eval_scienceqa_correct(response: str, target: str) -> bool:
    target = target.strip().lower()
    pred = response.strip()
    if pred.lower() == target:
        return True
    if len(pred) >= 2 and pred[0].isupper() and pred[1] == ".":
        return pred[0].lower() == target
    return False


_ANSWER_PHRASES = (
    "the answer is",
    "answer is",
    "the correct answer is",
    "correct answer is",
    "the best answer is",
    "best answer is",
    "the correct option is",
    "correct option is",
    "the best option is",
    "best option is",
    "the choice is",
    "choice is",
    "the correct choice is",
    "correct choice is",
    "i choose",
    "i select",
    "i pick",
    "my answer is",
    "my choice is",
    "옵션",
    "정답은",
    "답은",
    "답:",
    "答案是",
    "答案为",
    "选",
    "答えは",
)
_FORMAT_PRIORITY = {
    "start": 10,
    "end": 9,
    "phrase": 7,
    "parentheses": 6,
    "period": 5,
    "colon": 4,
    "right_paren": 3,
    "space": 2,
    "fallback": 0,
}


def extract_mcq_answer(response: str, choices: tuple[str, ...] = ("A", "B", "C", "D")) -> str:
    """lmms-eval's ``extract_mcq_answer``: the letter of the highest-priority format, the last
    occurrence within it; "" when none is found."""
    if not response or not response.strip():
        return ""
    text = response.strip()
    for char in [",", ".", "!", "?", ";", ":", "'", '"']:
        text = text.strip(char)
    text = " " + text + " "
    candidates: list[tuple[str, int, str]] = []
    for pattern, name in (
        ("({})", "parentheses"),
        ("{}.", "period"),
        ("{}:", "colon"),
        ("{})", "right_paren"),
        ("{} ", "space"),
    ):
        for ch in choices:
            if pattern.format(ch) in text:
                candidates.append((ch, text.rfind(pattern.format(ch)), name))
    text_lower = text.lower()
    for phrase in _ANSWER_PHRASES:
        index = text_lower.find(phrase)
        if index != -1:
            after = index + len(phrase)
            for ch in choices:
                position = text.find(ch, after)
                if position != -1:
                    candidates.append((ch, position, "phrase"))
    stripped = text.strip()
    for ch in choices:
        if stripped.startswith(ch) and (len(stripped) == 1 or not stripped[1].isalpha()):
            candidates.append((ch, 0, "start"))
    for ch in choices:
        if stripped.endswith(ch) and (len(stripped) == 1 or not stripped[-2].isalpha()):
            candidates.append((ch, len(text) - 1, "end"))
    if not candidates:
        for ch in choices:
            if ch in text:
                candidates.append((ch, text.rfind(ch), "fallback"))
    if not candidates:
        return ""
    candidates.sort(key=lambda c: (_FORMAT_PRIORITY.get(c[2], 0), c[1]), reverse=True)
    return candidates[0][0]


def lmms_eval_realworldqa_correct(response: str, target: str) -> tuple[str, bool]:
    """(what was compared, right?) under lmms-eval's RealWorldQA rule."""
    gt = target.strip()
    if gt.upper() in ("A", "B", "C", "D"):
        answer = extract_mcq_answer(response, ("A", "B", "C", "D"))
        return answer, answer == gt.upper()
    cleaned = response.lower().strip().rstrip(".")
    return cleaned, cleaned == gt.lower()


# --- VLMEvalKit --------------------------------------------------------------------------------

_VERBOSE_ANSWER = re.compile(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**")
REJECTIONS = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)


def is_rejection(answer: str) -> bool:
    """One of VLMEvalKit's refusal phrases is in ``answer`` (its can_infer_option reads "Z")."""
    return any(rejection in answer for rejection in REJECTIONS)


def answer_words(answer: str) -> list[str]:
    """``answer`` with ``.()[],:;!*#{}`` turned into spaces, split into words (can_infer_option)."""
    modified = answer
    for char in ".()[],:;!*#{}":
        modified = modified.replace(char, " ")
    return [x.strip() for x in modified.split()]


def can_infer_option(answer: str, choices: dict[str, str]) -> str | None:
    """VLMEvalKit's ``can_infer_option`` (VERBOSE unset): a letter, "Z" (a refusal), or None."""
    if "Failed to obtain answer via API" in answer:
        return None
    if is_rejection(answer):
        return "Z"
    splits = answer_words(answer)
    count = sum(1 for ch in choices if ch in splits)
    if count == 1:
        for ch in choices:
            if ch in splits and splits.index(ch) > (len(splits) - 5):
                return ch
    elif count == 0 and "Z" in splits:
        return "Z"
    match = _VERBOSE_ANSWER.search(answer or "")
    if match and match.group(1).upper() in choices:
        return match.group(1).upper()
    return None


def can_infer_text(answer: str, choices: dict[str, str]) -> str | None:
    answer = answer.lower()
    if len(answer) > 2 * sum(len(str(v)) for v in choices.values()):
        return None
    lowered = {k: str(v).lower() for k, v in copy.copy(choices).items()}
    found = [k for k, v in lowered.items() if v in answer]
    return found[0] if len(found) == 1 else None


def can_infer(answer: str, choices: dict[str, str]) -> str | None:
    """VLMEvalKit's ``can_infer``: the option letter, "Z" (refusal: VLMEvalKit's no answer) or None."""
    answer = str(answer)
    return can_infer_option(answer, choices) or can_infer_text(answer, choices)


def vlmevalkit_extraction(response: str, choices: dict[str, str]) -> Extraction:
    """``extract_answer_from_item`` under ``exact_matching``: a letter, else failed (VLMEvalKit's "Z")."""
    letter = can_infer(response, choices)
    if letter is None or letter == "Z" or letter not in choices:
        return Extraction(None, "failed", details={"vlmevalkit": letter or "no match"})
    return Extraction(letter, "exact" if response.strip() == letter else "rule")
