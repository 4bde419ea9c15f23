"""Name -> factory registries, so that parts are looked up, never chosen by if/elif chains."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from mmlens.core.errors import ConfigError, UnknownNameError

T = TypeVar("T")


def _same_definition(first: object, second: object) -> bool:
    """A module imported twice (e.g. a task's hooks file) re-registers the same class: allow it."""
    name = getattr(first, "__qualname__", None)
    return (
        name is not None
        and name == getattr(second, "__qualname__", None)
        and getattr(first, "__module__", None) == getattr(second, "__module__", None)
    )


class Registry(Generic[T]):
    """A named collection of factories (classes or functions) for one kind of part."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        existing = self._entries.get(name)
        if existing is not None and existing is not obj and not _same_definition(existing, obj):
            where = getattr(existing, "__module__", "?")
            raise ConfigError(f"{self.kind} {name!r} is already registered (by {where}); choose another name")
        self._entries[name] = obj

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self._entries, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(sorted(self._entries)) or "(none)"
        return f"unknown {self.kind} {name!r}.{hint} Known: {known}."

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._entries.items())
