"""The options of a multiple-choice sample, wherever the benchmark puts them, and the sample with
its options reordered (for CircularEval, seeded shuffling and ChEF's option shifts).

Options are either structured (``Sample.choices``; the instruction renders them) or written inside
the question text in a layout a benchmark publishes (shapes' "A. red" lines, MMStar's
"Options: A: ..., B: ..."). A reorder rewrites both, so the model sees the options it is scored on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from mmlens.core.messages import Message, TextPart
from mmlens.core.options import LETTERS
from mmlens.core.sample import Sample


@dataclass(frozen=True)
class InlineLayout:
    """A way of listing options inside the question text."""

    name: str
    find: Callable[[str], list[str] | None]  # the text -> its options in order, or None
    render: Callable[[list[str]], str]  # options -> the text block that lists them
    block: Callable[[str], tuple[int, int] | None]  # the text -> where the block is


def _letter_lines_block(text: str) -> tuple[int, int] | None:
    match = LETTER_LINES.search(text)
    return match.span() if match else None


LETTER_LINES = re.compile(r"(?m)^A\. .*(?:\nB\. .*)(?:\n[C-J]\. .*)*$")
MMSTAR_OPTIONS = re.compile(r"Options: ((?:[A-J]: .*?)(?:, [B-J]: .*?)*)$", re.S)


def _letter_lines(text: str) -> list[str] | None:
    span = _letter_lines_block(text)
    if span is None:
        return None
    lines = text[span[0] : span[1]].split("\n")
    if any(not line.startswith(f"{LETTERS[i]}. ") for i, line in enumerate(lines)):
        return None
    return [line[3:] for line in lines]


def _mmstar_block(text: str) -> tuple[int, int] | None:
    match = MMSTAR_OPTIONS.search(text)
    return match.span(1) if match else None


def _mmstar_options(text: str) -> list[str] | None:
    span = _mmstar_block(text)
    if span is None:
        return None
    parts = re.split(r", (?=[B-J]: )", text[span[0] : span[1]])
    if any(not part.startswith(f"{LETTERS[i]}: ") for i, part in enumerate(parts)):
        return None
    return [part[3:] for part in parts]


INLINE_LAYOUTS = (
    InlineLayout(
        "letter_lines",
        _letter_lines,
        lambda options: "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options)),
        _letter_lines_block,
    ),
    InlineLayout(
        "mmstar",
        _mmstar_options,
        lambda options: ", ".join(f"{LETTERS[i]}: {o}" for i, o in enumerate(options)),
        _mmstar_block,
    ),
)


@dataclass(frozen=True)
class Options:
    """A sample's options and the position of the right one."""

    choices: list[str]
    answer: int
    layout: InlineLayout | None  # where they are written in the text, if they are


def find_options(sample: Sample) -> Options | None:
    """The sample's options, or None for a question that has none (yes/no, open answers) or
    whose target is not one of its option letters."""
    text = sample.question
    layout = next((lay for lay in INLINE_LAYOUTS if lay.find(text) is not None), None)
    choices = sample.choices or (layout.find(text) if layout else None)
    if not choices or len(choices) < 2 or sample.target is None:
        return None
    target = sample.target.strip().upper()
    if len(target) != 1 or target not in LETTERS[: len(choices)]:
        return None
    if layout is not None and layout.find(text) != list(choices):
        layout = None  # the text lists other options than the structured ones: leave it alone
    return Options(list(choices), LETTERS.index(target), layout)


def reorder(sample: Sample, options: Options, order: list[int], new_id: str | None = None) -> Sample:
    """The sample with its options in ``order`` (position p shows original option order[p]); the
    target is the letter of the right option's new position."""
    choices = [options.choices[i] for i in order]
    target = LETTERS[order.index(options.answer)]
    messages = sample.messages
    if options.layout is not None:
        messages = [_rewrite(message, options.layout, choices) for message in sample.messages]
    return replace(
        sample,
        id=new_id or sample.id,
        messages=messages,
        choices=choices if sample.choices else None,
        target=target,
    )


def _rewrite(message: Message, layout: InlineLayout, choices: list[str]) -> Message:
    if message.role != "user":
        return message
    parts = []
    for part in message.content:
        if isinstance(part, TextPart) and (span := layout.block(part.text)) is not None:
            start, end = span
            part = TextPart(part.text[:start] + layout.render(choices) + part.text[end:])
        parts.append(part)
    return Message(message.role, tuple(parts))
