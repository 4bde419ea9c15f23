"""Long texts kept once: a reply (or prompt text) of ``INLINE_TEXT_CHARS`` characters or more is
stored in the ``texts`` table, keyed by its SHA-256, and the ``responses`` and ``records`` rows that
hold it keep ``{"$text_sha256": DIGEST}`` in its place (layout version 2, store/schema.py).

A capped 100,000-character reply thus occupies the store once, not once in its response row and
again in each sample record that shows it (the same text answered twice is also kept once). The
store joins the texts back when it reads rows, so every reader (``mmlens show``, ``report``,
resume, ``score``) sees the documents as they were written; samples.jsonl, a file meant to be
shared on its own, holds its texts in full.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

TEXT_REF = "$text_sha256"
INLINE_TEXT_CHARS = 1024
"""Texts shorter than this stay inline (a reference costs about 90 characters)."""


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def storable(text: str) -> bool:
    """Whether ``text`` is long enough to be kept apart and can be written as UTF-8 (a lone
    surrogate from a server's JSON cannot: such a text stays inline, JSON-escaped; so does one with
    a NUL character, which a PostgreSQL text column refuses)."""
    if len(text) < INLINE_TEXT_CHARS or "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def set_apart(value: Any, texts: dict[str, str]) -> Any:
    """``value`` (a JSON document) with each long string replaced by a reference; the texts are
    added to ``texts`` (digest -> text). ``value`` itself is not changed."""
    if isinstance(value, str):
        if not storable(value):
            return value
        digest = text_digest(value)
        texts[digest] = value
        return {TEXT_REF: digest}
    if isinstance(value, dict):
        return {key: set_apart(item, texts) for key, item in value.items()}
    if isinstance(value, list):
        return [set_apart(item, texts) for item in value]
    return value


_HEX = frozenset("0123456789abcdef")


def _reference(value: Any) -> str | None:
    """The digest ``value`` refers to: a dict whose only key is ``TEXT_REF``, its value 64 hex
    digits (any other dict, even ``{"$text_sha256": "x"}``, is data and stays as it is)."""
    if isinstance(value, dict) and len(value) == 1:
        digest = value.get(TEXT_REF)
        if isinstance(digest, str) and len(digest) == 64 and _HEX.issuperset(digest):
            return digest
    return None


def references(value: Any, found: set[str]) -> None:
    """Add the digests ``value`` refers to to ``found``."""
    digest = _reference(value)
    if digest is not None:
        found.add(digest)
    elif isinstance(value, dict):
        for item in value.values():
            references(item, found)
    elif isinstance(value, list):
        for item in value:
            references(item, found)


def join_back(value: Any, lookup: Callable[[str], str]) -> Any:
    """``value`` with each reference replaced by its text (``lookup`` raises for a missing one)."""
    digest = _reference(value)
    if digest is not None:
        return lookup(digest)
    if isinstance(value, dict):
        return {key: join_back(item, lookup) for key, item in value.items()}
    if isinstance(value, list):
        return [join_back(item, lookup) for item in value]
    return value
