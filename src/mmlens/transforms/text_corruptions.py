"""``corrupt_text:<kind>``: ChEF's text corruptions (v1 ``data_process/corruption/text_corruption.py``).

Kinds:

- basic: ``lowercase``; ``contraction`` ("it is " -> "it's ", ChEF's ``constraction``) and
  ``expansion`` ("can't" -> "cannot"), with ChEF's own map and regular expressions;
- character level, ``KIND@SEVERITY`` (severity 1-5 = rate 0.1-0.5 of the words, at least one word,
  one character each): ``ocr``, ``typos``, ``spelling``, ``keyboard`` — ChEF uses textflint's
  ``Ocr``, ``Typos``, ``SpellingError`` and ``Keyboard``; textflint pins old nltk/click and downloads
  its word lists at run time, so these are nlpaug's ``OcrAug``, ``RandomCharAug``, ``SpellingAug``
  (its bundled English misspellings) and ``KeyboardAug``, the library textflint's character
  transformations derive from;
- options (multiple-choice questions): ``shift_options`` (ChEF's ``circular_option``: left or right
  by one, drawn) and ``reverse_options`` (``reverse_option``); the target follows the right option;
- ``chef``: ChEF's chain — lowercase, contraction or expansion, one character-level kind with
  severity ``randint(1, 5)``, then shift or reverse the options.

ChEF's sentence level (active/passive and formal/casual with Styleformer's T5 models, wmt19
en-de-en back-translation) and word level (WordNet synonyms with a POS tagger, textflint's adverb
and irrelevant-sentence lists) need models or data downloaded at run time, which this package
cannot fetch: naming one is an error saying so, and the chain records them as skipped.

Only the question text is changed: an options block written in the text (MMStar's "Options: A:
...") is left as it is (ChEF appends its options after corrupting). Every draw is seeded by the
transform's seed and the sample id; the steps are recorded in
``metadata["transform_details"]["corrupt_text"]`` (the record's ``details["transforms"]``).
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from functools import cache
from typing import Any

from pydantic import Field, model_validator

from mmlens.core.errors import ConfigError
from mmlens.core.messages import Message, TextPart
from mmlens.core.parts import Transform, register_transform
from mmlens.core.sample import Sample
from mmlens.transforms.choices import find_options, reorder
from mmlens.transforms.image_corruptions import with_details
from mmlens.transforms.options import base_id, sample_rng, seeded_global_generators

BASIC = ("lowercase", "contraction", "expansion")
CHARACTER = ("ocr", "typos", "spelling", "keyboard")
OPTION_MOVES = ("shift_options", "reverse_options")
CHAIN = "chef"
KINDS = (*BASIC, *CHARACTER, *OPTION_MOVES)
RATES = (0.1, 0.2, 0.3, 0.4, 0.5)
UNAVAILABLE = {
    "active_to_passive": "ChEF uses Styleformer's T5 style model, which cannot be downloaded here",
    "passive_to_active": "ChEF uses Styleformer's T5 style model, which cannot be downloaded here",
    "formal_to_casual": "ChEF uses Styleformer's T5 style model, which cannot be downloaded here",
    "casual_to_formal": "ChEF uses Styleformer's T5 style model, which cannot be downloaded here",
    "back_trans": "ChEF translates with facebook/wmt19-en-de and -de-en, which cannot be downloaded here",
    "swap_syn": "ChEF's textflint SwapSynWordNet needs NLTK's WordNet and POS tagger, downloaded at run time",
    "insert_adv": "ChEF's textflint InsertAdv reads an adverb list textflint downloads at run time",
    "append_irr": "ChEF's textflint AppendIrr reads sentence lists textflint downloads at run time",
}
MISSING_EXTRA = "transform corrupt_text needs the robustness extra (nlpaug): pip install 'mmlens[robustness]'"

# ChEF v1 text_corruption.py CONTRACTION_MAP, verbatim (its order decides the patterns' order).
CONTRACTION_MAP: dict[str, str] = {
    "ain't": "is not", "aren't": "are not", "can't": "cannot", "can't've": "cannot have",
    "could've": "could have", "couldn't": "could not", "didn't": "did not", "doesn't": "does not",
    "don't": "do not", "hadn't": "had not", "hasn't": "has not", "haven't": "have not",
    "he'd": "he would", "he'd've": "he would have", "he'll": "he will", "he's": "he is",
    "how'd": "how did", "how'd'y": "how do you", "how'll": "how will", "how's": "how is",
    "I'd": "I would", "I'll": "I will", "I'm": "I am", "I've": "I have", "i'd": "i would",
    "i'll": "i will", "i'm": "i am", "i've": "i have", "isn't": "is not", "it'd": "it would",
    "it'll": "it will", "it's": "it is", "ma'am": "madam", "might've": "might have",
    "mightn't": "might not", "must've": "must have", "mustn't": "must not", "needn't": "need not",
    "oughtn't": "ought not", "shan't": "shall not", "she'd": "she would", "she'll": "she will",
    "she's": "she is", "should've": "should have", "shouldn't": "should not",
    "that'd": "that would", "that's": "that is", "there'd": "there would", "there's": "there is",
    "they'd": "they would", "they'll": "they will", "they're": "they are", "they've": "they have",
    "wasn't": "was not", "we'd": "we would", "we'll": "we will", "we're": "we are",
    "we've": "we have", "weren't": "were not", "what're": "what are", "what's": "what is",
    "when's": "when is", "where'd": "where did", "where's": "where is", "where've": "where have",
    "who'll": "who will", "who's": "who is", "who've": "who have", "why's": "why is",
    "won't": "will not", "would've": "would have", "wouldn't": "would not", "you'd": "you would",
    "you'd've": "you would have", "you'll": "you will", "you're": "you are", "you've": "you have",
}  # fmt: skip
REVERSE_CONTRACTION_MAP = {value: key for key, value in CONTRACTION_MAP.items()}
REVERSE_CONTRACTION_PATTERN = re.compile(
    r"\b({})\b ".format("|".join(REVERSE_CONTRACTION_MAP)), flags=re.IGNORECASE | re.DOTALL
)
CONTRACTION_PATTERN = re.compile(
    r"\b({})\b".format("|".join(CONTRACTION_MAP)), flags=re.IGNORECASE | re.DOTALL
)


def match_case(source_word: str, target_word: str) -> str:
    """ChEF's ``match_case``: the target in the source word's case."""
    if all(letter.islower() for letter in source_word):
        return target_word.lower()
    if all(letter.isupper() for letter in source_word):
        return target_word.upper()
    if source_word and source_word[0].isupper():
        return target_word.capitalize()
    return target_word


def contraction(text: str) -> str:
    """ChEF's ``constraction``: "is not " -> "isn't " (the phrase must be followed by a space)."""

    def contract(match: re.Match[str]) -> str:
        phrase = match.group(1)
        short = REVERSE_CONTRACTION_MAP.get(phrase, REVERSE_CONTRACTION_MAP.get(phrase.lower()))
        return match_case(phrase, short or phrase) + " "

    return REVERSE_CONTRACTION_PATTERN.sub(contract, text)


def expansion(text: str) -> str:
    """ChEF's ``expansion``: "can't" -> "cannot"."""

    def expand(match: re.Match[str]) -> str:
        short = match.group(0)
        long = CONTRACTION_MAP.get(short, CONTRACTION_MAP.get(short.lower()))
        return match_case(short, long or short)

    return CONTRACTION_PATTERN.sub(expand, text)


@cache
def _augmenters() -> dict[str, Any]:
    try:
        import nlpaug.augmenter.char as nac
        import nlpaug.augmenter.word as naw
    except ImportError:
        raise ConfigError(MISSING_EXTRA) from None
    return {"char": nac, "word": naw}


@cache
def _augmenter(kind: str, rate: float, action: str | None) -> Any:
    """One augmenter per setting (nlpaug's spelling one reads its dictionary when built)."""
    libs = _augmenters()
    nac, naw = libs["char"], libs["word"]
    # textflint (ChEF): trans_p = share of the words, trans_min=1, one character per word
    # whitespace tokens, joined back by one space: nlpaug's default tokenizer splits "it's" into
    # "it ' s" and would rejoin it spaced out
    words = {"aug_word_p": rate, "aug_word_min": 1, "aug_char_min": 1, "aug_char_max": 1, **WHITESPACE}
    if kind == "ocr":
        return nac.OcrAug(min_char=1, **words)
    if kind == "keyboard":
        return nac.KeyboardAug(
            min_char=1, include_special_char=True, include_numeric=True, include_upper_case=True, **words
        )
    if kind == "spelling":
        return naw.SpellingAug(aug_p=rate, aug_min=1, **WHITESPACE)
    return nac.RandomCharAug(action=action, min_char=2, **words)  # typos


def _split(text: str) -> list[str]:
    return text.split()


def _join(tokens: list[str]) -> str:
    return " ".join(tokens)


WHITESPACE: dict[str, Any] = {"tokenizer": _split, "reverse_tokenizer": _join}


def character_level(text: str, kind: str, severity: int, seed: int) -> tuple[str, dict[str, Any]]:
    """``text`` with a character-level corruption, line by line (line breaks kept); the step."""
    rng = random.Random(seed)
    # textflint's Typos(mode="random") picks replace/swap/insert/delete; one action per text here
    action = rng.choice(["substitute", "swap", "insert", "delete"]) if kind == "typos" else None
    augmenter = _augmenter(kind, RATES[severity - 1], action)
    lines = []
    with seeded_global_generators(seed):
        for line in text.split("\n"):
            if line.strip():
                lead = line[: len(line) - len(line.lstrip())]
                out = augmenter.augment(line.strip())
                line = lead + (out[0] if isinstance(out, list) else out)
            lines.append(line)
    step: dict[str, Any] = {"level": "character", "method": kind, "severity": severity, "seed": seed}
    if action:
        step["action"] = action
    return "\n".join(lines), step


def text_steps(kind: str, severity: int | None, rng: random.Random) -> list[dict[str, Any]]:
    """The steps of ``kind`` (the chain: ChEF's order), each with what it draws."""
    if kind != CHAIN:
        step: dict[str, Any] = {"method": kind, "severity": severity or 1}
        if kind in CHARACTER:
            step["seed"] = rng.getrandbits(32)
        if kind == "shift_options":
            step["shift"] = rng.choice([-1, 1])
        return [step]
    steps: list[dict[str, Any]] = [
        {"method": "lowercase", "severity": 1},
        {"method": rng.choice(["contraction", "expansion"]), "severity": 1},
        {"level": "sentence", "method": None, "skipped": "needs models that cannot be downloaded here"},
        {"level": "word", "method": None, "skipped": "needs data downloaded at run time"},
        {"method": rng.choice(CHARACTER), "severity": rng.randint(1, 5), "seed": rng.getrandbits(32)},
    ]
    move = rng.choice(OPTION_MOVES)
    steps.append(
        {"method": move, "severity": 1, **({"shift": rng.choice([-1, 1])} if move == "shift_options" else {})}
    )
    return steps


def corrupt_string(text: str, step: dict[str, Any]) -> str:
    method = step["method"]
    if method == "lowercase":
        return text.lower()
    if method == "contraction":
        return contraction(text)
    if method == "expansion":
        return expansion(text)
    if method in CHARACTER:
        out, _ = character_level(text, method, step["severity"], step["seed"])
        return out if len(out.strip()) > 1 else text  # ChEF retries an empty result; keep the text
    return text


def option_order(n: int, step: dict[str, Any]) -> list[int]:
    """Position p shows original option order[p]. ChEF ``circular_option``: shift 0 (``-1`` here)
    = ``choices[1:] + choices[:1]``; shift 1 (``+1``) = ``choices[-1:] + choices[:-1]``."""
    if step["method"] == "reverse_options":
        return list(range(n - 1, -1, -1))
    offset = 1 if step["shift"] == -1 else -1
    return [(p + offset) % n for p in range(n)]


@register_transform("corrupt_text")
class CorruptText(Transform):
    """The question text corrupted: ``--transform corrupt_text:KIND[@SEVERITY][,seed=N]`` or
    ``corrupt_text:chef``; YAML ``{type: corrupt_text, kind: ocr, severity: 2}``."""

    kind: str
    severity: int | None = Field(default=None, ge=1, le=5)
    seed: int = 0

    @classmethod
    def from_args(cls, args: str) -> dict[str, Any]:
        from mmlens.transforms.image_corruptions import parse_options

        if not args:
            raise ValueError(f"give a corruption: corrupt_text:KIND[@SEVERITY] or corrupt_text:{CHAIN}")
        spec, _, options = args.partition(",")
        kind, _, severity = spec.strip().partition("@")
        fields: dict[str, Any] = {"kind": kind, **parse_options(options)}
        if severity:
            try:
                fields["severity"] = int(severity)
            except ValueError:
                raise ValueError(f"severity must be an integer 1-5, got {severity!r}") from None
        return fields

    @model_validator(mode="after")
    def _check(self) -> CorruptText:
        if self.kind in UNAVAILABLE:
            raise ValueError(f"corruption {self.kind} is not available: {UNAVAILABLE[self.kind]}")
        if self.kind != CHAIN and self.kind not in KINDS:
            raise ValueError(f"unknown corruption {self.kind!r}: one of {', '.join(KINDS)} or {CHAIN}")
        if self.kind in CHARACTER and self.severity is None:
            raise ValueError(f"give a severity 1-5: corrupt_text:{self.kind}@3")
        if self.kind not in CHARACTER and self.severity is not None:
            raise ValueError(f"{self.kind} takes no severity")
        if self.kind in CHARACTER or self.kind == CHAIN:
            _augmenters()  # a missing extra is an error when the task loads
        return self

    def label(self) -> str:
        name = self.kind if self.severity is None else f"{self.kind}@{self.severity}"
        return f"corrupt_text:{name}" + (f",seed={self.seed}" if self.seed else "")

    def transform_sample(self, sample: Sample) -> list[Sample]:
        rng = sample_rng(self.seed, "corrupt_text", base_id(sample.id))  # every rotation of a question alike
        steps = text_steps(self.kind, self.severity, rng)
        options = find_options(sample)
        text_steps_ = [step for step in steps if step.get("method") in (*BASIC, *CHARACTER)]
        messages = [self._corrupt_message(message, options, text_steps_) for message in sample.messages]
        result = replace(sample, messages=messages)
        for step in steps:
            if step.get("method") in OPTION_MOVES:
                if options is None:
                    step["skipped"] = "no options"
                    continue
                moved = find_options(result)
                assert moved is not None
                result = reorder(result, moved, option_order(len(moved.choices), step))
                step["target"] = result.target
        info = {"kind": self.kind, "severity": self.severity, "seed": self.seed, "steps": steps}
        return [with_details(result, "corrupt_text", info)]

    @staticmethod
    def _corrupt_message(message: Message, options: Any, steps: list[dict[str, Any]]) -> Message:
        if message.role != "user" or not steps:
            return message
        parts = []
        for part in message.content:
            if isinstance(part, TextPart):
                span = options.layout.block(part.text) if options is not None and options.layout else None
                start, end = span if span is not None else (len(part.text), len(part.text))
                start = part.text.rfind("\n", 0, start) + 1 if span is not None else start  # "Options:" too
                head, block, tail = part.text[:start], part.text[start:end], part.text[end:]
                for step in steps:
                    head = corrupt_string(head, step) if head.strip() else head
                    tail = corrupt_string(tail, step) if tail.strip() else tail
                part = TextPart(head + block + tail)
            parts.append(part)
        return Message(message.role, tuple(parts))
