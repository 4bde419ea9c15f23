"""TextVQA's VQA accuracy with the normaliser of the TextVQA authors' code.

Default ``m4c`` (facebookresearch/mmf@b0ffc7f ``mmf/utils/m4c_evaluators.py``,
``EvalAIAnswerProcessor`` + ``TextVQAAccuracyEvaluator``; lmms-eval uses the same processor):
prediction and every answer are normalised, then per answer i the share min(1, matches among the
other answers / 3) is averaged over the answers (1 match 0.3, 2 -> 0.6, 3 -> 0.9, 4+ -> 1.0).

Normalisers (``normalizer``), each as its code does it:

- ``m4c``: lower-case; delete "," and "?"; "'s" -> " 's"; strip; newline/tab -> space; strip;
  punctuation: each mark of ``PUNCTUATIONS`` is deleted when it stands next to a space anywhere in
  the text (or a digit-comma-digit occurs, which after the deletion of commas never happens),
  otherwise replaced by a space; the period pattern ``(?!<=\\d)(\\.)(?!\\d)`` (a mistyped
  look-behind: every "." not followed by a digit) removes at most 32 periods (``re.UNICODE`` is
  passed as the count); number words none..ten -> digits; a/an/the dropped; contractions.
- ``vqa_eval_py`` (GT-Vision-Lab/VQA@a013f00 ``vqaEval.py``): newline/tab -> space and strip; the
  rest (punctuation with a live digit-comma-digit rule, digits, articles, contractions) only when
  the answers are not all equal: unanimous answers are compared with the prediction as they are.
- ``vlmevalkit`` (VLMEvalKit ``vqa_eval.py`` ``process_answer``): no first step (no deletion of
  "," and "?", no "'s" split), a live comma rule and the corrected period pattern
  ``(?<!\\d)\\.(?!\\d)``; always applied.
- ``minicpm_v`` (OpenBMB/MiniCPM-V@0dbb566 ``vqa_evaluate.py``): no first step, the VQA patterns;
  the answers are not stripped of newlines first (the prediction is).
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from mmlens.core.parts import Aggregate, Extraction, Metric, Prediction, SampleRecord, metrics
from mmlens.core.sample import AcceptedAnswers, Sample
from mmlens.metrics.aggregation import mean_aggregate

Normalizer = Literal["m4c", "vqa_eval_py", "vlmevalkit", "minicpm_v"]

# The same lists in all four scorers.
PUNCTUATIONS = (
    ";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!",
)  # fmt: skip
NUMBER_WORDS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip
ARTICLES = ("a", "an", "the")
# Keys without apostrophes get them back (and a few forms with one misplaced): the map is the
# same in m4c, vqaEval.py@a013f00, VLMEvalKit and MiniCPM-V.
CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've",
    "hasnt": "hasn't", "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've",
    "hes": "he's", "howd": "how'd", "howll": "how'll", "hows": "how's", "Id've": "I'd've",
    "I'dve": "I'd've", "Im": "I'm", "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've",
    "it'dve": "it'd've", "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't", "shouldnt've": "shouldn't've",
    "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd", "somebodyd've": "somebody'd've",
    "somebody'dve": "somebody'd've", "somebodyll": "somebody'll", "somebodys": "somebody's",
    "someoned": "someone'd", "someoned've": "someone'd've", "someone'dve": "someone'd've",
    "someonell": "someone'll", "someones": "someone's", "somethingd": "something'd",
    "somethingd've": "something'd've", "something'dve": "something'd've",
    "somethingll": "something'll", "thats": "that's", "thered": "there'd", "thered've": "there'd've",
    "there'dve": "there'd've", "therere": "there're", "theres": "there's", "theyd": "they'd",
    "theyd've": "they'd've", "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're",
    "theyve": "they've", "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've",
    "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're", "whats": "what's",
    "whatve": "what've", "whens": "when's", "whered": "where'd", "wheres": "where's",
    "whereve": "where've", "whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've",
    "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll", "whyre": "why're",
    "whys": "why's", "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll",
    "y'allll": "y'all'll", "yall'd've": "y'all'd've", "y'alld've": "y'all'd've",
    "y'all'dve": "y'all'd've", "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've",
    "youll": "you'll", "youre": "you're", "youve": "you've",
}  # fmt: skip

MISTYPED_PERIOD = re.compile(r"(?!<=\d)(\.)(?!\d)")  # m4c, vqaEval.py, MiniCPM-V
CORRECTED_PERIOD = re.compile(r"(?<!\d)\.(?!\d)")  # VLMEvalKit
M4C_COMMA = re.compile(r"(?<=\d)(\,)+(?=\d)")
VQA_COMMA = re.compile(r"(\d)(\,)(\d)")
PERIOD_COUNT = re.UNICODE  # passed positionally as re.sub's count (32) by every scorer


def process_punctuation(text: str, comma: re.Pattern[str], period: re.Pattern[str]) -> str:
    """Each mark is deleted if it touches a space anywhere in the text (or the text has a
    digit-comma-digit), else replaced by a space; then at most 32 periods are removed."""
    out = text
    for mark in PUNCTUATIONS:
        if (mark + " " in text or " " + mark in text) or comma.search(text) is not None:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return period.sub("", out, PERIOD_COUNT)


def process_digit_article(text: str) -> str:
    words = [NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    kept = [word for word in words if word not in ARTICLES]
    return " ".join(CONTRACTIONS.get(word, word) for word in kept)


def _spaces(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ").strip()


def normalize_m4c(text: str) -> str:
    """``EvalAIAnswerProcessor.__call__``."""
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    text = process_punctuation(_spaces(text), M4C_COMMA, MISTYPED_PERIOD)
    return process_digit_article(text)


def normalize_vqa(text: str) -> str:
    """vqaEval.py's processPunctuation + processDigitArticle (after its newline/tab/strip step)."""
    return process_digit_article(process_punctuation(text, VQA_COMMA, MISTYPED_PERIOD))


def normalize_vlmevalkit(text: str) -> str:
    """VLMEvalKit's ``process_answer``."""
    return process_digit_article(process_punctuation(_spaces(text), VQA_COMMA, CORRECTED_PERIOD))


def normalized_pair(prediction: str, answers: list[str], normalizer: Normalizer) -> tuple[str, list[str]]:
    """The prediction and the answers as the chosen scorer compares them."""
    if normalizer == "m4c":
        return normalize_m4c(prediction), [normalize_m4c(answer) for answer in answers]
    if normalizer == "vlmevalkit":
        return normalize_vlmevalkit(prediction), [normalize_vlmevalkit(answer) for answer in answers]
    if normalizer == "minicpm_v":
        return normalize_vqa(_spaces(prediction)), [normalize_vqa(answer) for answer in answers]
    prediction, answers = _spaces(prediction), [_spaces(answer) for answer in answers]
    if len(set(answers)) > 1:  # vqaEval.py normalises only when the annotators disagree
        return normalize_vqa(prediction), [normalize_vqa(answer) for answer in answers]
    return prediction, answers


def vqa_accuracy(prediction: str, answers: list[str]) -> float:
    """Mean over the answers of min(1, matches among the *other* answers / 3)."""
    if not answers:
        return 0.0
    matches = sum(answer == prediction for answer in answers)
    shares = [min(1.0, (matches - (answer == prediction)) / 3) for answer in answers]
    return sum(shares) / len(shares)


def textvqa_accuracy(prediction: str, answers: list[str], normalizer: Normalizer = "m4c") -> float:
    normalized, references = normalized_pair(prediction, answers, normalizer)
    return vqa_accuracy(normalized, references)


def sample_answers(sample: Sample) -> list[str]:
    reference = sample.reference
    if isinstance(reference, AcceptedAnswers):
        return list(reference.answers)
    return [sample.target] if sample.target is not None else []


@metrics.register("textvqa")
class TextVQAAccuracy(Metric):
    """acc = VQA accuracy (0-1 per question, soft), mean over questions."""

    primary: ClassVar[str] = "acc"
    correct_key: ClassVar[str | None] = None
    normalizer: Normalizer = "m4c"

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None:
            return Extraction(None, "failed")
        normalized, _ = normalized_pair(prediction.text, sample_answers(sample), self.normalizer)
        return Extraction(normalized, "exact" if normalized == prediction.text else "rule")

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        if extraction.answer is None:
            return {"acc": 0.0}
        _, answers = normalized_pair("", sample_answers(sample), self.normalizer)
        return {"acc": vqa_accuracy(extraction.answer, answers)}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        return mean_aggregate(records, ["acc"])
