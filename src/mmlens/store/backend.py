"""What differs between the databases a store can live in: how to connect, the SQL dialect
(placeholders, column types, JSON editing), where the layout version is kept and how a table's
columns are read. Everything else (the tables, the queries, batching, long texts, claims) is the
one Store (store/database.py) over either backend.

The SQL the store sends is written once, with ``?`` placeholders and SQLite's generic types
(TEXT, REAL, INTEGER, BLOB); a backend rewrites what its database spells differently.
"""

from __future__ import annotations

import importlib
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from mmlens.core.errors import MmlensError


class StoreError(MmlensError):
    """The store cannot be written or read (disk full, file-size limit, read-only, I/O error)."""


class FoundColumn(NamedTuple):
    """A column as the database describes it."""

    not_null: bool
    has_default: bool
    primary_key: bool


class Backend(ABC):
    """One database kind. ``location`` names the store in messages (a path, or a URL without its
    password)."""

    name: ClassVar[str]
    errors: ClassVar[tuple[type[BaseException], ...]]
    begin_write: ClassVar[str] = "BEGIN"
    types: ClassVar[dict[str, str]] = {}  # generic column type -> this database's, where it differs
    temporary_table: ClassVar[str] = "CREATE TEMP TABLE"
    for_update: ClassVar[str] = ""  # a SELECT's suffix locking its rows to the transaction's end

    location: str

    def sql(self, text: str) -> str:
        """``text`` (``?`` placeholders) as this database takes it."""
        return text

    # the database's clock in seconds since the epoch: leases are compared on one clock, the
    # server's, whatever the runners' machines think the time is
    clock: ClassVar[str] = "((julianday('now') - 2440587.5) * 86400.0)"
    in_chunk: ClassVar[int] = 500  # keys per ``IN`` test (SQLite's parameter limit)

    def keys_in(self, keys: list[str]) -> tuple[str, tuple[Any, ...]]:
        """An ``IN`` test of ``keys`` and its parameters (after a column: ``key IN (?,?)``)."""
        return "IN (" + ",".join("?" * len(keys)) + ")", tuple(keys)

    def key_rows(self, keys: list[str]) -> tuple[str, tuple[Any, ...]]:
        """A subquery of one row per key (column ``value``) and its parameters."""
        return "SELECT value FROM json_each(?)", (json.dumps(keys),)

    def column_type(self, generic: str) -> str:
        return self.types.get(generic, generic)

    @abstractmethod
    def connect(self, read_only: bool) -> Any:
        """A DB-API connection in autocommit mode (the store sends BEGIN/COMMIT itself); its layout
        is checked by the caller. A failure is a StoreError."""

    def after_check(self, db: Any, read_only: bool) -> None:  # noqa: B027 - optional step
        """Settings applied once the layout is checked (journal mode; read-only session)."""

    @abstractmethod
    def version(self, db: Any) -> int:
        """The layout version recorded in the store (0: none recorded)."""

    @abstractmethod
    def stamp_version(self, db: Any, version: int) -> None:
        """Record ``version`` (inside the migration's transaction)."""

    def lock_layout(self, db: Any) -> None:  # noqa: B027 - optional step
        """Serialize layout changes between processes (inside the migration's transaction)."""

    @abstractmethod
    def tables(self, db: Any) -> set[str]:
        """The store's tables."""

    @abstractmethod
    def columns(self, db: Any, table: str) -> dict[str, FoundColumn]:
        """``table``'s columns by name."""

    @abstractmethod
    def in_transaction(self, db: Any) -> bool: ...

    def executemany(self, db: Any, sql: str, rows: list[tuple[Any, ...]]) -> int:
        """Run ``sql`` for each row; how many rows it changed."""
        if not rows:
            return 0
        cursor = db.cursor()
        try:
            cursor.executemany(self.sql(sql), rows)
            return int(cursor.rowcount)
        finally:
            cursor.close()

    @abstractmethod
    def json_set(self, column: str, field: str) -> str:
        """An SQL expression: the JSON text in ``column`` (NULL: ``{}``) with ``field`` set to the
        text given as the next ``?`` parameter."""

    def cause(self, error: BaseException) -> str:
        """The database's message, with what limit was hit where it can tell."""
        return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__

    def state(self, db: Any) -> str:
        """What changes when a run writes to the store (for ``mmlens view``'s live reload)."""
        return ""

    @property
    def file(self) -> Path | None:
        """The store's file (SQLite), None for a server."""
        return None


BACKENDS: dict[str, str] = {
    "sqlite": "mmlens.store.sqlite_backend:SqliteBackend",
    "postgresql": "mmlens.store.postgres:PostgresBackend",
    "postgres": "mmlens.store.postgres:PostgresBackend",
}
"""Backend by URL scheme, imported when a store of that kind is opened."""


def backend_for(location: Path | str) -> Backend:
    """The backend of ``location``: a Path is a SQLite file, a str a server URL."""
    if isinstance(location, Path):
        scheme, target = "sqlite", location
    else:
        scheme = location.split("://", 1)[0].lower()
        target = location  # type: ignore[assignment]
    module_name, _, class_name = BACKENDS[scheme].partition(":")
    backend_class = getattr(importlib.import_module(module_name), class_name)
    backend: Backend = backend_class(target)
    return backend
