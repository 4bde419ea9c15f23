"""Canonical JSON: the text that request keys and the dataset fingerprint hash.

The definition is the standard library's ``json.dumps(data, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)``: every store written so far is keyed by hashes of that text, so it must never
change by one byte. Encoding it is a large part of the per-sample cost of a run, so where orjson is
installed (the ``fast`` extra) it writes the text instead, but only for values on which its output
is the standard library's, byte for byte: ``str``, ``int``, ``bool`` and ``None`` (exact types, not
subclasses) in lists, tuples and dicts with ``str`` keys. On those orjson escapes strings (``"``,
``\\``, control characters; nothing else, as ``ensure_ascii=False`` does) and sorts keys (by code
point) as the standard library does (tests/core/test_canonical_json.py checks every code point, as
a value and as a key), and writes integers the same; an integer beyond 64 bits or nesting beyond
254 levels makes it refuse, and the standard library takes over. Everything else goes to the
standard library as it always did: floats (orjson writes ``1e16`` where Python writes ``1e+16``,
and NaN as ``null``), subclasses (enums, named tuples, ordered dicts), and anything it would
refuse or encode through ``default``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_STDLIB = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# The standard library's encoder of a str with ensure_ascii=False (its C version where built).
_encode_str: Callable[[str], str] = json.encoder.encode_basestring

_LEAVES = frozenset((str, int, bool, type(None)))


def stdlib_canonical_json(data: Any) -> str:
    """The definition: the standard library's canonical JSON text of ``data``."""
    return _STDLIB.encode(data)


def _plain(value: Any) -> bool:
    """Whether ``value`` holds only the types orjson writes as the standard library does."""
    kind = type(value)
    if kind in _LEAVES:
        return True
    if kind is dict:
        for name, item in value.items():
            if type(name) is not str or (type(item) not in _LEAVES and not _plain(item)):
                return False
        return True
    if kind is list or kind is tuple:
        for item in value:  # noqa: SIM110 (a loop: cheaper than all() over a generator)
            if type(item) not in _LEAVES and not _plain(item):
                return False
        return True
    return False


def _orjson_dumps() -> Callable[[Any], bytes] | None:
    try:
        import orjson
    except ImportError:
        return None
    dumps, sort_keys = orjson.dumps, orjson.OPT_SORT_KEYS

    def encode(data: Any) -> bytes:
        return dumps(data, option=sort_keys)

    return encode


_fast = _orjson_dumps()


def canonical_json(data: Any) -> str:
    """``json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``, faster."""
    if type(data) is str:
        return _encode_str(data)
    if _fast is not None:
        try:
            if _plain(data):
                return _fast(data).decode("utf-8")
        except (TypeError, RecursionError):  # orjson.JSONEncodeError is a TypeError: big int, deep
            pass
    return _STDLIB.encode(data)


def canonical_json_object(data: dict[str, Any], encoded: dict[str, str] | None = None) -> str:
    """``canonical_json(data)`` for a dict, one value at a time: a value in ``encoded`` is taken
    as its canonical JSON as given (a message's cached text), None and strings cost next to nothing
    (the standard library's own string encoder), and a float in one value sends only that value to
    the standard library. The standard library writes a dict as its sorted items, each value
    encoded alone, so the text is the same."""
    try:
        names = sorted(data)
    except TypeError:  # keys of several types: as the standard library says
        return canonical_json(data)
    items = []
    for name in names:
        if type(name) is not str:
            return canonical_json(data)
        text = encoded.get(name) if encoded else None
        if text is None:
            value = data[name]
            if value is None:
                text = "null"
            elif type(value) is str:
                text = _encode_str(value)
            else:
                text = canonical_json(value)
        items.append(_encode_str(name) + ":" + text)
    return "{" + ",".join(items) + "}"
