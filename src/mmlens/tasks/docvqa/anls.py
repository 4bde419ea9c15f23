"""ANLS (average normalised Levenshtein similarity) as DocVQA's and InfographicVQA's scorers compute it.

``official`` = the RRC evaluation script (verbatim copy QwenLM/Qwen-VL@aa00ed0
``eval_mm/infographicsvqa_eval.py``; lmms-eval's ``anls`` and VLMEvalKit's ``anls_compute`` are the
same): per answer, the distance between ``' '.join(s.strip().lower().split())`` of answer and
prediction, divided by the larger of the *raw* lengths (``len(s.upper())``; 0 when both are empty);
the question scores 1 - the smallest such value, set to 0 below the threshold (0.5 itself is kept).

Variants, each as its code does it:

- ``pix2struct`` (google-research/pix2struct@945f27e ``metrics.py``): both lower-cased only (no strip,
  no whitespace collapse), lengths of those strings; 1 - d if d < 0.5 else 0 (so a similarity of
  exactly 0.5 scores 0; later pix2struct commits use <=), best answer.
- ``minicpm_v`` (OpenBMB/MiniCPM-V@0dbb566 ``vqa_evaluate.py`` ``evaluate_anls``): the official
  normalisation, lengths of the normalised strings.
- ``mmf`` (facebookresearch/mmf@b0ffc7f ``STVQAANLSEvaluator``): lower + strip, no collapse,
  lengths of those strings, kept when >= 0.5.

Where a scorer would divide by zero (pix2struct and mmf with an empty prediction and an empty
answer) the similarity is taken as 1 (the strings are equal), as the official script's guard gives.
"""

from __future__ import annotations

from typing import Literal

ANLSVariant = Literal["official", "pix2struct", "minicpm_v", "mmf"]


def levenshtein(a: str, b: str) -> int:
    """Edit distance with unit costs for insertion, deletion and substitution."""
    if len(a) > len(b):
        a, b = b, a
    previous = list(range(len(a) + 1))
    for j, char_b in enumerate(b, 1):
        current = [j]
        for i, char_a in enumerate(a, 1):
            current.append(min(previous[i] + 1, current[i - 1] + 1, previous[i - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def collapse(text: str) -> str:
    return " ".join(text.strip().lower().split())


def _distance_ratio(prediction: str, answer: str, variant: ANLSVariant) -> float:
    if variant == "official":
        compared, length = (
            (collapse(answer), collapse(prediction)),
            max(len(answer.upper()), len(prediction.upper())),
        )
    elif variant == "minicpm_v":
        compared = (collapse(answer), collapse(prediction))
        length = max(len(compared[0]), len(compared[1]))
    elif variant == "pix2struct":
        compared = (answer.lower(), prediction.lower())
        length = max(len(compared[0]), len(compared[1]))
    else:  # mmf
        compared = (answer.lower().strip(), prediction.lower().strip())
        length = max(len(compared[0]), len(compared[1]))
    return 0.0 if length == 0 else levenshtein(*compared) / length


def anls(
    prediction: str, answers: list[str], variant: ANLSVariant = "official", threshold: float = 0.5
) -> float:
    """The question's ANLS (0-1) against its accepted answers."""
    if not answers:
        return 0.0
    ratios = [_distance_ratio(prediction, answer, variant) for answer in answers]
    if variant == "pix2struct":  # max over answers of (1 - d if d < theta else 0)
        return max(1 - ratio if ratio < threshold else 0.0 for ratio in ratios)
    if variant == "mmf":  # max over answers of (iou if iou >= 0.5 else 0)
        return max(1 - ratio if 1 - ratio >= threshold else 0.0 for ratio in ratios)
    score = 1 - min(ratios)
    return 0.0 if score < threshold else score
