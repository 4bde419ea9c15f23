"""The PostgreSQL backend: a store shared by runners on several machines (``--store
postgresql://USER@HOST:PORT/DATABASE``, or ``MMLENS_STORE``), through psycopg 3 (the ``postgres``
extra: ``pip install 'mmlens[postgres]'``).

The tables live in the connection's current schema (``?options=-csearch_path%3DNAME`` picks
another); the layout version is the one row of ``mmlens_schema``. Opened read-only, the session is
``default_transaction_read_only``: nothing can be written through it, whatever the role may do.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from mmlens.core.paths import redacted
from mmlens.store.backend import Backend, FoundColumn, StoreError
from mmlens.store.schema import StoreLayoutError, check_schema

# psycopg logs "error ignored terminating <Pipeline ...>" (a warning, to stderr through logging's last
# resort) when a failed write's connection is closed; the store's own one-line error says it all.
logging.getLogger("psycopg").addHandler(logging.NullHandler())

IDLE_IN_TRANSACTION_TIMEOUT = "20s"

try:
    import psycopg
    from psycopg import pq
except ImportError:  # the postgres extra is not installed: said when such a store is opened
    psycopg = None  # type: ignore[assignment]

VERSION_TABLE = "mmlens_schema"
LAYOUT_LOCK = 0x6D6D6C656E73  # pg_advisory_xact_lock key ("mmlens"): one migration at a time


class PostgresBackend(Backend):
    name = "postgresql"
    errors: ClassVar[tuple[type[BaseException], ...]] = (psycopg.Error,) if psycopg is not None else ()
    types: ClassVar[dict[str, str]] = {"REAL": "DOUBLE PRECISION", "BLOB": "BYTEA", "INTEGER": "BIGINT"}
    for_update = " FOR UPDATE"  # SQLite's BEGIN IMMEDIATE serializes writers already

    def __init__(self, url: str) -> None:
        self.url = url
        self.location = redacted(url)

    clock = "extract(epoch from clock_timestamp())::double precision"
    in_chunk = 50_000  # one array parameter, whatever its length

    def keys_in(self, keys: list[str]) -> tuple[str, tuple[Any, ...]]:
        # one parameter: psycopg parses a statement of thousands of placeholders slowly, uncached
        return "= ANY(?)", (keys,)

    def key_rows(self, keys: list[str]) -> tuple[str, tuple[Any, ...]]:
        return "SELECT unnest(?::text[]) AS value", (keys,)

    def sql(self, text: str) -> str:
        return _placeholders(text)

    def connect(self, read_only: bool) -> Any:
        if psycopg is None:
            raise StoreError(
                f"the store {self.location} is a PostgreSQL server: install its driver first "
                "(pip install 'mmlens[postgres]', which installs psycopg[binary])"
            )
        try:
            db = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            # A runner stopped inside a transaction (SIGSTOP, a hung machine) would hold its locks,
            # and so every other runner, forever: the server ends such a transaction after 20 s.
            db.execute(f"SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION_TIMEOUT}'")
        except psycopg.Error as error:
            raise StoreError(f"cannot connect to the store {self.location}: {self.cause(error)}") from None
        try:
            check_schema(self, db, read_only=read_only)
        except StoreLayoutError:
            db.close()
            raise
        except psycopg.Error as error:
            db.close()
            raise StoreError(f"cannot open the store {self.location}: {self.cause(error)}") from None
        return db

    def after_check(self, db: Any, read_only: bool) -> None:
        if read_only:
            db.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")

    def version(self, db: Any) -> int:
        if VERSION_TABLE not in self.tables(db, every=True):
            return 0
        row = db.execute(f"SELECT version FROM {VERSION_TABLE} WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def stamp_version(self, db: Any, version: int) -> None:
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)"
        )
        db.execute(
            f"INSERT INTO {VERSION_TABLE} (id, version) VALUES (1, %s) "
            "ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            (int(version),),
        )

    def lock_layout(self, db: Any) -> None:
        db.execute("SELECT pg_advisory_xact_lock(%s)", (LAYOUT_LOCK,))

    def tables(self, db: Any, every: bool = False) -> set[str]:
        # pg_catalog, not information_schema: the latter hides what a read-only role may not change
        rows = db.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()
        names = {row[0] for row in rows}
        return names if every else names - {VERSION_TABLE}

    def columns(self, db: Any, table: str) -> dict[str, FoundColumn]:
        rows = db.execute(
            """SELECT a.attname, a.attnotnull, a.atthasdef, COALESCE(a.attnum = ANY(i.indkey), false)
               FROM pg_attribute a
               JOIN pg_class c ON c.oid = a.attrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
               WHERE n.nspname = current_schema() AND c.relname = %s AND a.attnum > 0
                 AND NOT a.attisdropped""",
            (table,),
        ).fetchall()
        return {
            name: FoundColumn(bool(not_null), bool(default), bool(key))
            for name, not_null, default, key in rows
        }

    def in_transaction(self, db: Any) -> bool:
        return bool(db.info.transaction_status != pq.TransactionStatus.IDLE)

    def cause(self, error: BaseException) -> str:
        message = super().cause(error)
        if psycopg is not None and isinstance(error, psycopg.errors.InsufficientPrivilege):
            hint = "this role cannot write here; read-only commands such as show and report can read it"
            return f"{message} ({hint})"
        return message

    def state(self, db: Any) -> str:
        # the server's row counters (flushed within a second of each commit) and the runs' last change
        changes = db.execute(
            "SELECT COALESCE(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables "
            "WHERE schemaname = current_schema()"
        ).fetchone()[0]
        runs, updated = db.execute("SELECT count(*), COALESCE(max(updated), 0) FROM runs").fetchone()
        return f"{changes}.{runs}.{updated!r}"

    def json_set(self, column: str, field: str) -> str:
        return f"jsonb_set(COALESCE({column}, '{{}}')::jsonb, '{{{field}}}', to_jsonb(?::text))::text"


def _placeholders(text: str, cache: dict[str, str] = {}) -> str:  # noqa: B006 - a deliberate memo
    """``?`` -> ``%s``; the store's SQL holds no literal ``?`` or ``%``."""
    converted = cache.get(text)
    if converted is None:
        assert "%" not in text, text
        converted = cache.setdefault(text, text.replace("?", "%s"))
    return converted
