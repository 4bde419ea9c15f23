"""The results and response store: one SQLite file in WAL mode.

Tables
- responses: the response cache, keyed by the request's content hash (model fingerprint +
  canonical request). Only successful responses are cached; failed requests are retried on the
  next run.
- runs: one row per run (id, task, model, status, provenance, results).
- records: per-sample records of a run (one JSON document each).
- thumbnails: a small JPEG per image content hash, for the HTML report (never full-size images).

Each response is committed as soon as it is put (``commit_interval`` seconds, 0 by default, can
batch commits for backends that answer thousands of requests a second), so a run killed with
SIGKILL loses no answered request and never leaves a half-written row.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmlens.core.errors import DataError, MmlensError
from mmlens.core.paths import default_home as default_home  # re-exported (moved to core.paths)
from mmlens.core.paths import default_store_path as default_store_path
from mmlens.core.requests import Response
from mmlens.core.results import Provenance, RunResults

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    kind TEXT NOT NULL,
    response TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    output_dir TEXT,
    provenance TEXT NOT NULL,
    results TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS thumbnails (
    digest TEXT PRIMARY KEY,
    jpeg BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    run_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    sample_id TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (run_id, sample_id)
);
"""


@dataclass
class RunRow:
    run_id: str
    task: str
    model: str
    status: str
    output_dir: str | None
    provenance: dict[str, Any]
    results: dict[str, Any] | None
    created: float
    updated: float

    def typed_results(self) -> RunResults | None:
        """The run's results as the typed model (None while the run has none); a row of a newer
        schema or one that is not an mmlens result is a DataError naming the run."""
        if self.results is None:
            return None
        if not isinstance(self.results, dict):
            raise DataError(f"run {self.run_id}: not an mmlens result (a JSON object was expected)")
        return RunResults.load(self.results, f"run {self.run_id}")

    def typed_provenance(self) -> Provenance:
        """The row's provenance as the typed model (what ``begin_run`` wrote; the results carry the
        finished one); a column that is not an mmlens provenance is a DataError naming the run."""
        return Provenance.load(self.provenance, f"run {self.run_id}")


class Store:
    def __init__(self, path: str | Path | None = None, commit_interval: float = 0.0) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as error:
            raise MmlensError(f"cannot open the store {self.path}: {error}") from None
        self.commit_interval = commit_interval
        self._pending: list[tuple[str, str, str, str, float]] = []
        self._last_commit = time.monotonic()

    # -- response cache -------------------------------------------------------------------
    def get_responses(self, keys: Iterable[str]) -> dict[str, Response]:
        rows = self._select_where_in("SELECT key, response FROM responses WHERE key IN ({})", keys)
        return {key: Response.from_dict(json.loads(payload)) for key, payload in rows}

    def put_response(self, key: str, model: str, kind: str, response: Response) -> None:
        if not response.ok:
            return
        self._pending.append((key, model, kind, json.dumps(response.to_dict()), time.time()))
        if time.monotonic() - self._last_commit >= self.commit_interval:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            self._last_commit = time.monotonic()
            return
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO responses (key, model, kind, response, created) VALUES (?,?,?,?,?)",
                self._pending,
            )
        self._pending.clear()
        self._last_commit = time.monotonic()

    def count_responses(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    # -- runs -------------------------------------------------------------------------------
    def begin_run(
        self, run_id: str, task: str, model: str, output_dir: str, provenance: dict[str, Any]
    ) -> None:
        now = time.time()
        with self._transaction():
            self._db.execute(
                """INSERT INTO runs (run_id, task, model, status, output_dir, provenance, created, updated)
                   VALUES (?,?,?,?,?,?,?,?)
                   ON CONFLICT(run_id) DO UPDATE SET status=excluded.status, output_dir=excluded.output_dir,
                   provenance=excluded.provenance, updated=excluded.updated""",
                (run_id, task, model, "running", output_dir, json.dumps(provenance), now, now),
            )

    def set_status(self, run_id: str, status: str) -> None:
        with self._transaction():
            self._db.execute(
                "UPDATE runs SET status=?, updated=? WHERE run_id=?", (status, time.time(), run_id)
            )

    def finish_run(self, run_id: str, results: dict[str, Any], records: list[dict[str, Any]]) -> None:
        with self._transaction():
            self._db.execute("DELETE FROM records WHERE run_id=?", (run_id,))
            self._db.executemany(
                "INSERT INTO records (run_id, position, sample_id, record) VALUES (?,?,?,?)",
                [(run_id, i, r["id"], json.dumps(r, ensure_ascii=False)) for i, r in enumerate(records)],
            )
            self._db.execute(
                "UPDATE runs SET status=?, results=?, updated=? WHERE run_id=?",
                ("done", json.dumps(results), time.time(), run_id),
            )

    def get_run(self, run_id: str) -> RunRow | None:
        row = self._db.execute(
            "SELECT run_id, task, model, status, output_dir, provenance, results, created, updated "
            "FROM runs WHERE run_id=?",
            (run_id,),
        ).fetchone()
        return _run_row(row) if row else None

    def find_runs(self, prefix: str = "") -> list[RunRow]:
        rows = self._db.execute(
            "SELECT run_id, task, model, status, output_dir, provenance, results, created, updated "
            "FROM runs WHERE run_id LIKE ? ORDER BY updated DESC",
            (prefix.replace("%", r"\%") + "%",),
        ).fetchall()
        return [_run_row(row) for row in rows]

    def iter_records(self, run_id: str) -> Iterator[dict[str, Any]]:
        rows = self._db.execute("SELECT record FROM records WHERE run_id=? ORDER BY position", (run_id,))
        for (payload,) in rows:
            yield json.loads(payload)

    # -- thumbnails ---------------------------------------------------------------------------
    def missing_thumbnails(self, digests: Iterable[str]) -> set[str]:
        wanted = set(digests)
        return wanted - set(self.get_thumbnails(wanted))

    def put_thumbnails(self, items: dict[str, bytes]) -> None:
        if not items:
            return
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO thumbnails (digest, jpeg) VALUES (?,?)", list(items.items())
            )

    def get_thumbnails(self, digests: Iterable[str]) -> dict[str, bytes]:
        rows = self._select_where_in("SELECT digest, jpeg FROM thumbnails WHERE digest IN ({})", digests)
        return {digest: bytes(jpeg) for digest, jpeg in rows}

    # -- plumbing ---------------------------------------------------------------------------
    def _select_where_in(self, query: str, values: Iterable[str]) -> Iterator[tuple[Any, ...]]:
        """Run ``query`` (with one ``{}`` for the IN list) over ``values`` in chunks SQLite accepts."""
        value_list = list(values)
        for start in range(0, len(value_list), 500):
            chunk = value_list[start : start + 500]
            yield from self._db.execute(query.format(",".join("?" * len(chunk))), chunk)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def close(self) -> None:
        self.flush()
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _run_row(row: tuple[Any, ...]) -> RunRow:
    return RunRow(
        run_id=row[0],
        task=row[1],
        model=row[2],
        status=row[3],
        output_dir=row[4],
        provenance=json.loads(row[5]),
        results=json.loads(row[6]) if row[6] else None,
        created=row[7],
        updated=row[8],
    )
