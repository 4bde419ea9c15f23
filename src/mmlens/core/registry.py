"""Name -> factory registries, so that parts are looked up, never chosen by if/elif chains."""

from __future__ import annotations

import difflib
import importlib
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
    """A named collection of factories (classes or functions) for one kind of part.

    ``lazy`` maps names to the module that registers them: the module is imported the first time
    the name is looked up, so listing names costs no import and a module that fails to import
    breaks only the names it provides."""

    def __init__(self, kind: str, lazy: dict[str, str] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._lazy: dict[str, str] = dict(lazy or {})

    def add_lazy(self, name: str, module: str) -> None:
        self._lazy.setdefault(name, module)

    def _resolve(self, name: str) -> None:
        module = self._lazy.get(name)
        if module is None or name in self._entries:
            return
        try:
            importlib.import_module(module)
        except Exception as error:  # noqa: BLE001 - a broken module breaks only its own names
            raise ConfigError(
                f"{self.kind} {name!r}: module {module} failed to import: {type(error).__name__}: {error}"
            ) from None
        if name not in self._entries:
            raise ConfigError(f"{self.kind} {name!r}: module {module} does not register it")

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
        self._resolve(name)
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        names = self.names()
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(names) or "(none)"
        return f"unknown {self.kind} {name!r}.{hint} Known: {known}."

    def names(self) -> list[str]:
        """Every name, registered or lazy (nothing is imported)."""
        return sorted({*self._entries, *self._lazy})

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        """Every entry, importing the lazy ones."""
        for name in list(self._lazy):
            self._resolve(name)
        return sorted(self._entries.items())
