"""The store suite runs against both backends: ``store_at`` is a fresh store location (a SQLite
file, or a database of the session's real PostgreSQL server), ``Raw`` reads and changes it behind
mmlens's back (the tests' view of what a kill -9 would leave, of an old or foreign layout)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

BACKEND_NAMES = ("sqlite", "postgresql")


class Raw:
    """Plain SQL on the store at ``location``, outside mmlens (one connection per call)."""

    def __init__(self, location: Path | str) -> None:
        self.location = location
        self.is_sqlite = isinstance(location, Path)

    @property
    def blob(self) -> str:
        return "BLOB" if self.is_sqlite else "BYTEA"

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.is_sqlite:
            with sqlite3.connect(self.location, timeout=5) as db:
                found = db.execute(sql, params).fetchall()
            db.close()
            return found
        import psycopg

        with psycopg.connect(str(self.location), autocommit=True) as db:
            return db.execute(sql.replace("?", "%s"), params).fetchall()

    def value(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self.rows(sql, params)[0][0]

    def script(self, sql: str) -> None:
        if self.is_sqlite:
            with sqlite3.connect(self.location) as db:
                db.executescript(sql)
            db.close()
            return
        import psycopg

        with psycopg.connect(str(self.location), autocommit=True) as db:
            db.execute(sql)  # type: ignore[arg-type]

    def version(self) -> int:
        if self.is_sqlite:
            return int(self.value("PRAGMA user_version"))
        return int(self.value("SELECT version FROM mmlens_schema WHERE id = 1"))

    def set_version(self, version: int) -> None:
        if self.is_sqlite:
            self.script(f"PRAGMA user_version = {version};")
        else:
            self.script(
                "CREATE TABLE IF NOT EXISTS mmlens_schema (id INTEGER PRIMARY KEY, version INTEGER NOT NULL);"
                f"INSERT INTO mmlens_schema VALUES (1, {version}) "
                f"ON CONFLICT (id) DO UPDATE SET version = {version};"
            )

    def refuse_inserts(self, table: str) -> None:
        """A trigger that makes every INSERT into ``table`` fail (a constraint other than the key)."""
        if self.is_sqlite:
            self.script(
                f"CREATE TRIGGER refuse BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'no'); END;"
            )
        else:
            self.script(
                "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'no'; END $$ "
                "LANGUAGE plpgsql;"
                f"CREATE TRIGGER refuse BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION refuse();"
            )
