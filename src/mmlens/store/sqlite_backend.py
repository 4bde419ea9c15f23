"""The SQLite backend: one file in WAL mode (the default store, nothing to install)."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any, ClassVar

from mmlens.store.backend import Backend, FoundColumn, StoreError
from mmlens.store.schema import StoreLayoutError, check_schema

try:
    import resource
except ImportError:  # not on Windows
    resource = None  # type: ignore[assignment]


class SqliteBackend(Backend):
    name = "sqlite"
    errors: ClassVar[tuple[type[BaseException], ...]] = (sqlite3.Error,)
    begin_write = "BEGIN IMMEDIATE"  # the write lock up front: no deadlock between two writers

    def __init__(self, path: Path) -> None:
        self.path = path.expanduser()
        self.location = str(self.path)

    @property
    def file(self) -> Path:
        return self.path

    def connect(self, read_only: bool) -> sqlite3.Connection:
        return self._open_read_only() if read_only else self._open()

    def _open_read_only(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise StoreError(
                f"no store at {self.path}; evaluate a model first (mmlens run TASK) or pass --store"
            )
        db = None
        uri = self.path.resolve().as_uri()
        last: BaseException | None = None
        for options in ("mode=ro", "mode=ro&immutable=1"):
            try:
                db = sqlite3.connect(
                    f"{uri}?{options}", uri=True, timeout=30, isolation_level=None, check_same_thread=False
                )
                check_schema(self, db, read_only=True)
                return db
            except StoreLayoutError:
                if db is not None:
                    db.close()
                raise
            except sqlite3.Error as error:
                if db is not None:
                    db.close()
                last = error
        # Read-only media without the WAL's -shm file: only ``immutable`` opens it (nothing can
        # write there anyway); both failed, so the file itself is unreadable.
        raise StoreError(f"cannot read the store {self.path}: {last}") from None

    def _open(self) -> sqlite3.Connection:
        db = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            check_schema(self, db, read_only=False)
            return db
        except StoreLayoutError:
            if db is not None:
                db.close()
            raise
        except (sqlite3.Error, OSError) as error:
            if db is not None:
                db.close()
            hint = ""
            writable = os.access(self.path.parent, os.W_OK) and (
                not self.path.exists() or os.access(self.path, os.W_OK)
            )
            if not writable or "readonly" in str(error) or isinstance(error, PermissionError):
                hint = " (it cannot be written here; read-only commands such as show and report can read it)"
            raise StoreError(f"cannot open the store {self.path}: {self.cause(error)}{hint}") from None

    def after_check(self, db: Any, read_only: bool) -> None:
        if read_only:
            return
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA journal_size_limit=67108864")  # the WAL shrinks back after a big write
        except sqlite3.Error as error:
            db.close()
            raise StoreError(f"cannot open the store {self.path}: {self.cause(error)}") from None

    def version(self, db: Any) -> int:
        return int(db.execute("PRAGMA user_version").fetchone()[0])

    def stamp_version(self, db: Any, version: int) -> None:
        db.execute(f"PRAGMA user_version = {int(version)}")

    def tables(self, db: Any) -> set[str]:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def columns(self, db: Any, table: str) -> dict[str, FoundColumn]:
        return {
            name: FoundColumn(bool(not_null), default is not None, bool(key))
            for _, name, _, not_null, default, key in db.execute(f"PRAGMA table_info({table})")
        }

    def in_transaction(self, db: Any) -> bool:
        return bool(db.in_transaction)

    def executemany(self, db: Any, sql: str, rows: list[tuple[Any, ...]]) -> int:
        if not rows:
            return 0
        return int(db.executemany(sql, rows).rowcount)

    def json_set(self, column: str, field: str) -> str:
        return f"json_set(COALESCE({column}, '{{}}'), '$.{field}', ?)"

    def cause(self, error: BaseException) -> str:
        """SQLite's message, and which limit was hit when it is a full disk or the file-size limit."""
        message = str(error)
        if isinstance(error, OSError):
            message = error.strerror or message
        files = [self.path, self.path.with_name(self.path.name + "-wal")]
        size = max((f.stat().st_size for f in files if f.exists()), default=0)
        limit, _ = resource.getrlimit(resource.RLIMIT_FSIZE) if resource is not None else (-1, -1)
        if limit not in (-1, getattr(resource, "RLIM_INFINITY", -1)) and size + 65536 >= limit:
            return f"{message} (the file-size limit, ulimit -f, of {limit:,} bytes is reached)"
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError:
            return message
        if free < 1_048_576:
            return f"{message} (the disk is full: {free:,} bytes free)"
        return message

    def state(self, db: Any) -> str:
        parts = []
        for file in (self.path, self.path.with_name(self.path.name + "-wal")):
            try:
                stat = file.stat()
            except OSError:
                continue
            parts.append(f"{stat.st_mtime_ns:x}.{stat.st_size:x}")
        return "-".join(parts)
