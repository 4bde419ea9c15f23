"""The store's layout, its version (SQLite's ``user_version``), and the check made on every open.

Versions
- 1: responses, runs, thumbnails, records; a reply was kept whole in its ``responses`` row and again
  in each sample record (``records``) that showed it.
- 2 (this one): a ``texts`` table keeps each long text (a reply or prompt text of at least
  ``INLINE_TEXT_CHARS`` characters) once, keyed by its SHA-256; ``responses`` and ``records`` rows
  hold ``{"$text_sha256": DIGEST}`` in its place, and the store joins the text back when it reads
  them (store/sqlite.py). Shorter texts stay where they were.

A version 1 store is migrated on open (the ``texts`` table is added; its rows, with their texts
inline, read as before). A store written before versions were recorded (``user_version`` 0) is
checked table by table and stamped the current version when its tables are the ones below (a
table it lacks, such as ``thumbnails`` in the oldest stores, is created); a store of a newer
version, or whose tables mmlens cannot write to (a column missing, an extra NOT NULL column without
a default, another primary key), is refused in one line before anything is sent to a model. Opened
read-only, the store is checked the same way and never changed (a missing table is made in the
connection's temporary schema, empty).

The same layout, version and checks hold on every backend (store/backend.py): SQLite keeps the
version in ``PRAGMA user_version``, PostgreSQL in a one-row ``mmlens_schema`` table; the column
types are spelled as each database does (BLOB is BYTEA, REAL is DOUBLE PRECISION on PostgreSQL).
``MIGRATIONS`` says what each version adds; a migration runs in one transaction, under a lock that
keeps two processes opening a new store at the same moment from both creating it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mmlens.core.errors import MmlensError

if TYPE_CHECKING:
    from mmlens.store.backend import Backend

SCHEMA_VERSION = 2


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    not_null: bool = True
    primary_key: int = 0  # position in the primary key (1-based), 0: not part of it


TABLES: dict[str, tuple[Column, ...]] = {
    "responses": (
        Column("key", "TEXT", not_null=False, primary_key=1),
        Column("model", "TEXT"),
        Column("kind", "TEXT"),
        Column("response", "TEXT"),
        Column("created", "REAL"),
    ),
    "runs": (
        Column("run_id", "TEXT", not_null=False, primary_key=1),
        Column("task", "TEXT"),
        Column("model", "TEXT"),
        Column("status", "TEXT"),
        Column("output_dir", "TEXT", not_null=False),
        Column("provenance", "TEXT"),
        Column("results", "TEXT", not_null=False),
        Column("created", "REAL"),
        Column("updated", "REAL"),
    ),
    "thumbnails": (
        Column("digest", "TEXT", not_null=False, primary_key=1),
        Column("jpeg", "BLOB"),
    ),
    "records": (
        Column("run_id", "TEXT", primary_key=1),
        Column("position", "INTEGER"),
        Column("sample_id", "TEXT", primary_key=2),
        Column("record", "TEXT"),
    ),
    "texts": (  # version 2: each long reply (or prompt text) once, keyed by its SHA-256
        Column("digest", "TEXT", not_null=False, primary_key=1),
        Column("text", "TEXT"),
    ),
    # Names and tags given to runs (mmlens run --name/--tag, mmlens tag). Additive: a store without
    # them gets them on open, empty (no version change; an older mmlens ignores them).
    "run_names": (
        Column("run_id", "TEXT", not_null=False, primary_key=1),
        Column("name", "TEXT"),
    ),
    "run_tags": (
        Column("run_id", "TEXT", primary_key=1),
        Column("tag", "TEXT", primary_key=2),
    ),
    # Where each image of a run can be read again (scenarios/image_sources.py), so the report makes
    # thumbnails lazily. Additive like run_names: created empty on open, no version change.
    "image_sources": (
        Column("digest", "TEXT", not_null=False, primary_key=1),
        Column("source", "TEXT"),
    ),
    # Requests a runner is computing (runner/claims.py): who, and until when its lease holds.
    # Additive like run_names: an older mmlens ignores them (and computes what it finds missing).
    "claims": (
        Column("key", "TEXT", not_null=False, primary_key=1),
        Column("owner", "TEXT"),
        Column("expires", "REAL"),
    ),
}

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: ("responses", "runs", "thumbnails", "records"),
    2: ("texts",),
}
"""The tables each layout version added; the additive tables (the rest of ``TABLES``) are created
whenever they are missing, at any version."""


def create_statement(table: str, temporary: bool = False, backend: Backend | None = None) -> str:
    columns = TABLES[table]
    spelled = backend.column_type if backend is not None else (lambda generic: generic)
    parts = [f"{c.name} {spelled(c.type)}{' NOT NULL' if c.not_null else ''}" for c in columns]
    keys = sorted((c for c in columns if c.primary_key), key=lambda c: c.primary_key)
    if len(keys) == 1:
        index = columns.index(keys[0])
        parts[index] += " PRIMARY KEY"
    else:
        parts.append(f"PRIMARY KEY ({', '.join(c.name for c in keys)})")
    temp = backend.temporary_table if backend is not None else "CREATE TEMP TABLE"
    prefix = temp if temporary else "CREATE TABLE IF NOT EXISTS"
    return f"{prefix} {table} (\n    " + ",\n    ".join(parts) + "\n)"


SCHEMA = ";\n".join(create_statement(table) for table in TABLES) + ";\n"


class StoreLayoutError(MmlensError):
    """A store this mmlens cannot use: another layout, a newer version, not an mmlens store."""


def table_problem(backend: Backend, db: Any, table: str) -> str | None:
    """Why mmlens cannot read and write ``table`` as it is, or None when it can."""
    found = backend.columns(db, table)
    expected = {column.name: column for column in TABLES[table]}
    missing = [name for name in expected if name not in found]
    if missing:
        return f"table {table} has no column {', '.join(missing)}"
    for name, column in found.items():
        if name not in expected and column.not_null and not column.has_default:
            return f"table {table} has a column {name} that mmlens does not write (NOT NULL, no default)"
    wanted_key = sorted(c.name for c in expected.values() if c.primary_key)
    found_key = sorted(name for name, column in found.items() if column.primary_key)
    if found_key != wanted_key:
        keyed = ", ".join(found_key) or "nothing"
        return f"table {table} is keyed by ({keyed}), not ({', '.join(wanted_key)})"
    return None


def check_schema(backend: Backend, db: Any, read_only: bool) -> None:
    """Check (and, unless ``read_only``, create or migrate) the layout; a refusal is one line."""
    path = backend.location
    version = backend.version(db)
    if version > SCHEMA_VERSION:
        raise StoreLayoutError(
            f"the store {path} has layout version {version}, newer than this mmlens reads "
            f"({SCHEMA_VERSION}); upgrade mmlens or pass another --store"
        )
    present = backend.tables(db)
    for table in TABLES:
        if table not in present:
            continue
        problem = table_problem(backend, db, table)
        if problem is not None:
            kind = f"version {version}" if version else "an unversioned"
            raise StoreLayoutError(
                f"the store {path} ({kind} layout) cannot be used: {problem}; it was not written by "
                "this mmlens or was changed by hand; pass another --store (nothing was sent)"
            )
    absent = [table for table in TABLES if table not in present]
    if read_only:
        for table in absent:  # readers find it empty; the store is not touched
            db.execute(create_statement(table, temporary=True, backend=backend))
        return
    if absent or version != SCHEMA_VERSION:
        migrate(backend, db, version)


def migrate(backend: Backend, db: Any, version: int) -> None:
    """Bring the layout from ``version`` to ``SCHEMA_VERSION`` in one transaction: each version's
    tables in order (``MIGRATIONS``), then the additive ones, then the new version recorded."""
    db.execute(backend.begin_write)
    try:
        backend.lock_layout(db)
        for step in sorted(MIGRATIONS):
            if step > version or version == 0:  # 0: unversioned, checked table by table above
                for table in MIGRATIONS[step]:
                    db.execute(create_statement(table, backend=backend))
        for table in TABLES:  # IF NOT EXISTS: the additive tables, and any a version lacked
            db.execute(create_statement(table, backend=backend))
        backend.stamp_version(db, SCHEMA_VERSION)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
