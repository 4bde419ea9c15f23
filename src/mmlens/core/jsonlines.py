"""JSON Lines reading shared by every loader: numbered lines, each parsed or carrying its error."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JsonLine:
    number: int  # from 1, as editors count
    value: Any = None
    error: str | None = None  # "not valid JSON (...)" when the line does not parse


def json_lines(lines: Iterable[str]) -> Iterator[JsonLine]:
    """Every non-blank line, parsed; the caller decides whether a bad line is fatal or a bad sample.

    A UTF-8 byte order mark at the start of the first line (Windows editors write one) is dropped."""
    for number, line in enumerate(lines, start=1):
        if number == 1:
            line = line.removeprefix("\ufeff")
        if not line.strip():
            continue
        try:
            yield JsonLine(number, json.loads(line))
        except json.JSONDecodeError as error:
            yield JsonLine(number, error=f"not valid JSON ({error.msg})")


def encode_record(record: Any) -> str:
    """A sample record as one line of samples.jsonl and as the store keeps it (the same text)."""
    return json.dumps(record, ensure_ascii=False)
