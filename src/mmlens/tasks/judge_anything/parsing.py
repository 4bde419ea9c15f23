"""Reading a judge's reply as the JSON object of ``scripts/utils/schemas.py``.

The official API path (``scripts/utils/Gemini2/api.py``) asks Gemini for structured output
(``response_mime_type="application/json"``, ``response_schema=PairingOverall`` etc.) and reads the
reply with ``json.loads(response.text)``; then ``response[f"{prefix}_choice"]`` (or ``_score``) for
each rubric (``gen_batch_api_judge.py``). A reply that does not load, or lacks a key, raises there
and stops the script: here it is a counted failure (the rubric has no judgement), never a made-up
label. ``parse: strict`` is exactly ``json.loads`` of the whole reply; ``lenient`` (the default, for
judges without structured output) also takes a fenced ```json block or the first JSON object in
the text.

Values (``schemas.py``): a choice is the enum ``Choice`` "0" / "1" / "2" (0: the first response is
better, 1: a tie, 2: the second is better); ``lenient`` also takes the integers 0, 1, 2. A score is
an ``int`` (the schema sets no range: 7 is kept as 7, as the official script keeps it);
``lenient`` also takes an integral float (4.0) or a string of digits ("4"). Anything else (a bool,
"A", 3.5, null) is invalid: a failure for that rubric.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from mmlens.tasks.judge_anything.prompts import Mode, value_key

ParseMode = Literal["strict", "lenient"]
CHOICES = ("0", "1", "2")
FENCED = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL | re.IGNORECASE)


@dataclass
class ParsedReply:
    """What a reply gave: ``values`` by rubric ("0".."2" or an int score), ``problems`` by rubric
    (why it has no value), ``how`` the object was found (json, fenced, embedded) or None."""

    values: dict[str, str | int] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    how: str | None = None
    comments: dict[str, str] = field(default_factory=dict)


def _whole(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _embedded(text: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(value, dict):
            return value
    return None


def find_object(text: str, mode: ParseMode) -> tuple[dict[str, Any] | None, str | None]:
    whole = _whole(text)
    if whole is not None:
        return whole, "json"
    if mode == "strict":
        return None, None
    for match in FENCED.finditer(text):
        fenced = _whole(match.group(1))
        if fenced is not None:
            return fenced, "fenced"
    embedded = _embedded(text)
    return (embedded, "embedded") if embedded is not None else (None, None)


def choice_value(value: Any, mode: ParseMode) -> str | None:
    if isinstance(value, str) and value in CHOICES:
        return value
    if mode == "lenient" and isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 2:
        return str(value)
    return None


def score_value(value: Any, mode: ParseMode) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if mode == "lenient":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().isdecimal():  # isdigit() admits '²', int() not
            return int(value.strip())
    return None


def parse_reply(text: str | None, kind: Mode, rubrics: tuple[str, ...], mode: ParseMode) -> ParsedReply:
    """The rubrics' values in a reply (see the module doc)."""
    if text is None:
        return ParsedReply(problems=dict.fromkeys(rubrics, "no reply"))
    found, how = find_object(text, mode)
    if found is None:
        return ParsedReply(problems=dict.fromkeys(rubrics, "no JSON object in the reply"))
    parsed = ParsedReply(how=how)
    for rubric in rubrics:
        key = value_key(kind, rubric)
        if key not in found:
            parsed.problems[rubric] = f"no {key!r} in the JSON object"
            continue
        value = choice_value(found[key], mode) if kind == "pair" else score_value(found[key], mode)
        if value is None:
            expected = '"0", "1" or "2"' if kind == "pair" else "an integer"
            parsed.problems[rubric] = f"{key} is {json.dumps(found[key])[:40]}, not {expected}"
            continue
        parsed.values[rubric] = value
        comment = found.get(f"{rubric}_comment")
        if isinstance(comment, str):
            parsed.comments[rubric] = comment
    return parsed
