"""The results and response store, over SQLite (a file, the default) or PostgreSQL (a server).

Tables
- responses: the response cache, keyed by the request's content hash (model fingerprint +
  canonical request). Only successful responses are cached; failed requests are retried on the
  next run.
- runs: one row per run (id, task, model, status, provenance, results).
- records: per-sample records of a run (one JSON document each).
- thumbnails: a small JPEG per image content hash, for the HTML report (never full-size images).
- texts: each long text (a reply or prompt text of 1,024 characters or more) once, by its SHA-256;
  responses and records rows refer to it and are joined back with it when read (store/texts.py),
  so a reply is stored once, not in its response row and again in each record showing it.
- claims: the requests runners are computing now, each with its owner and lease (runner/claims.py).

The layout carries a version (store/schema.py), checked on every open before anything is sent:
an older layout is migrated, one this mmlens cannot use is refused in one line. What differs
between the databases (connecting, placeholders, column types, JSON editing) is the backend's
(store/backend.py, sqlite_backend.py, postgres.py); the queries here are the same for both.

Responses are committed in batches: one put waits at most ``commit_interval`` seconds (5 ms by
default; 0 commits each on its own) for its transaction, so a run killed with SIGKILL loses at most
the answers of the last few milliseconds (the rerun asks them again) and never leaves a half-written
row. A failed write (full disk, file-size limit, read-only file) is one StoreError saying what and
where; what was committed before stays, so the run can be resumed. ``read_only=True`` opens the
store without writing anything (``show``, ``report``, ``view``), also on read-only media.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmlens.core.canonical import canonical_json
from mmlens.core.errors import DataError
from mmlens.core.jsonlines import encode_record
from mmlens.core.paths import default_store_path, store_location
from mmlens.core.requests import Response, cap_reply
from mmlens.core.results import Provenance, RunResults
from mmlens.store.backend import Backend, StoreError, backend_for
from mmlens.store.texts import INLINE_TEXT_CHARS, TEXT_REF, join_back, set_apart, storable, text_digest


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


DEFAULT_COMMIT_INTERVAL = 0.005
"""Seconds a put response may wait for its commit: answers arriving within it share one transaction,
so a fast endpoint is not bounded by one commit per response; a run killed with SIGKILL loses at most
the answers of the last interval, which the rerun asks again."""


_REFERENCE = re.compile(r'\{"' + re.escape(TEXT_REF) + r'": "([0-9a-f]{64})"\}')
"""A reference as json.dumps writes it; inside a JSON string its quotes would be escaped, so a
reply that merely contains such text is never taken for one."""

_RUN_COLUMNS = "run_id, task, model, status, output_dir, provenance, results, created, updated"


class Store:
    """The store at ``path`` (default: ``default_store_path()``): a SQLite file (a Path, a plain
    path or ``sqlite:///PATH``) or a PostgreSQL server (``postgresql://USER@HOST:PORT/DATABASE``).

    ``read_only``: open without writing anything (``show``, ``report``, ``view``), so a store on
    read-only media or owned by another user can be read; a missing file is an error then.
    ``commit_interval``: see ``DEFAULT_COMMIT_INTERVAL``; 0 commits every response on its own."""

    # A put that finds its batch due commits it in its own thread (False: only the timer thread
    # commits, as before; kept for benchmarks/bench_store_commits.py's before/after)
    inline_commits = True

    def __init__(
        self,
        path: str | Path | None = None,
        commit_interval: float = DEFAULT_COMMIT_INTERVAL,
        *,
        read_only: bool = False,
    ) -> None:
        if path is None:
            location = default_store_path()
        elif isinstance(path, str):
            location = store_location(path, "store")
        else:
            location = path.expanduser()
        self.backend: Backend = backend_for(location)
        # where the store is, for messages and provenance: the file, or the URL without its password
        self.path: Path | str = self.backend.file or self.backend.location
        self.read_only = read_only
        self.commit_interval = commit_interval
        self._lock = threading.RLock()
        self._pending: list[tuple[str, str, str, str, float]] = []
        self._pending_texts: dict[str, str] = {}
        self._timer: threading.Timer | None = None
        self._failure: StoreError | None = None
        self._db = self.backend.connect(read_only)
        self.backend.after_check(self._db, read_only)

    def _execute(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> Any:
        return self._db.execute(self.backend.sql(sql), params)

    def _executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        return self.backend.executemany(self._db, sql, rows)

    # -- response cache -------------------------------------------------------------------
    def get_responses(self, keys: Iterable[str]) -> dict[str, Response]:
        """The cached responses of ``keys`` (a long reply joined back from ``texts``); one whose
        text the store lacks is left out, so it is asked again."""
        with self._reading():
            rows = list(self._select_where_in("SELECT key, response FROM responses WHERE key IN ({})", keys))
            texts = self._texts_of(payload for _, payload in rows)
        found = {}
        for key, payload in rows:
            data = json.loads(payload)
            reference = data.get("text")
            if isinstance(reference, dict):
                text = texts.get(str(reference.get(TEXT_REF)))
                if text is None:
                    continue
                data["text"] = text
            found[key] = cap_reply(Response.from_dict(data))
        return found

    def put_response(self, key: str, model: str, kind: str, response: Response) -> None:
        """Queue ``response`` for the next commit (within ``commit_interval`` seconds); a commit
        that failed since the last call raises its StoreError here."""
        if not response.ok:
            return
        data = response.to_dict()
        text = response.text
        apart: tuple[str, str] | None = None
        if text is not None and storable(text):  # kept once in texts; the row refers to it
            apart = (text_digest(text), text)
            data["text"] = {TEXT_REF: apart[0]}
        row = (key, model, kind, json.dumps(data), time.time())
        with self._lock:
            if self._failure is not None:
                raise self._failure
            self._pending.append(row)
            if apart is not None:
                self._pending_texts[apart[0]] = apart[1]
            due = self.inline_commits and row[4] - self._pending[0][4] >= self.commit_interval
            if self.commit_interval <= 0 or due:
                self.flush()  # here, in the caller's thread: a busy stream commits without a thread hop
            elif self._timer is None:  # the batch's tail, if no later put comes to commit it
                self._timer = threading.Timer(self.commit_interval, self._timed_flush)
                self._timer.daemon = True
                self._timer.start()

    def _timed_flush(self) -> None:
        with self._lock:
            self._timer = None
            try:
                self.flush()
            except StoreError as error:
                self._failure = error

    def flush(self, also: Callable[[], None] | None = None) -> None:
        """Commit the queued responses now (and run ``also``'s statements in the same transaction).
        On failure they are dropped (a rerun asks them again) and a StoreError says what and where."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._failure is not None:
                failure, self._failure = self._failure, None
                self._pending.clear()
                self._pending_texts.clear()
                raise failure
            if not self._pending and also is None:
                return
            rows, self._pending = self._pending, []
            texts, self._pending_texts = self._pending_texts, {}
            with self._transaction():
                if texts:  # in the same transaction as the rows that refer to them
                    self._insert_texts(texts)
                # ON CONFLICT, not OR IGNORE: another constraint failing must be an error, not a
                # silently dropped row (caching and resume quietly off).
                self._executemany(
                    "INSERT INTO responses (key, model, kind, response, created) VALUES (?,?,?,?,?) "
                    "ON CONFLICT(key) DO NOTHING",
                    rows,
                )
                if also is not None:
                    also()

    def count_responses(self) -> int:
        with self._reading():
            return int(self._execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    # -- claims (runner/claims.py) -------------------------------------------------------------
    def claim(self, keys: Iterable[str], owner: str, lease: float) -> tuple[list[str], set[str]]:
        """Claim ``keys`` for ``owner`` for ``lease`` seconds: each unclaimed one, and each whose
        lease has expired (a runner that died). Returns (the keys now ``owner``'s to compute, in
        the order given; the keys the store has a response for already, whose claims are dropped).
        The claim is made before the responses are looked at, so a key another runner answered and
        released in between is seen answered, never computed again."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return [], set()
        clock = self.backend.clock
        with self._transaction():
            # an expired claim is void (a runner that died): gone, also those on keys it answered
            self._execute(f"DELETE FROM claims WHERE expires < {clock}")
            rows, parameters = self.backend.key_rows(wanted)
            self._execute(  # "WHERE true": SQLite's INSERT ... SELECT ... ON CONFLICT needs a WHERE
                f"INSERT INTO claims (key, owner, expires) SELECT value, ?, {clock} + ? "
                f"FROM ({rows}) AS wanted WHERE true ON CONFLICT(key) DO UPDATE "
                f"SET owner = excluded.owner, expires = excluded.expires WHERE claims.expires < {clock}",
                (owner, lease, *parameters),
            )
            held = {key for key, in self._select_where_in(
                "SELECT key FROM claims WHERE owner = ? AND key IN ({})", wanted, (owner,)
            )}  # fmt: skip
            answered = {
                key for (key,) in self._select_where_in("SELECT key FROM responses WHERE key IN ({})", held)
            }
            self._execute_where_in("DELETE FROM claims WHERE owner = ? AND key IN ({})", answered, (owner,))
        return [key for key in wanted if key in held and key not in answered], answered

    def claimed_by_others(self, keys: Iterable[str], owner: str) -> dict[str, str]:
        """The keys among ``keys`` another runner holds a live lease on, and who."""
        with self._reading():
            return dict(
                self._select_where_in(
                    f"SELECT key, owner FROM claims WHERE owner <> ? AND expires >= {self.backend.clock} "
                    "AND key IN ({})",
                    keys,
                    (owner,),
                )
            )

    def renew_claims(self, owner: str, lease: float) -> int:
        """Extend ``owner``'s leases to ``lease`` seconds from now; how many it holds."""
        with self._transaction():
            cursor = self._execute(
                f"UPDATE claims SET expires = {self.backend.clock} + ? WHERE owner = ?", (lease, owner)
            )
            return int(cursor.rowcount)

    def release_claims(self, owner: str, keys: Iterable[str] | None = None) -> None:
        """Drop ``owner``'s claims on ``keys`` (None: all of them), in the transaction that commits
        the queued responses, so a runner waiting for them finds them."""

        def release() -> None:
            if keys is None:
                self._execute("DELETE FROM claims WHERE owner = ?", (owner,))
            else:
                self._execute_where_in("DELETE FROM claims WHERE owner = ? AND key IN ({})", keys, (owner,))

        self.flush(also=release)

    def drop_claims_of(self, owners: Iterable[str]) -> None:
        """Drop every claim of ``owners`` (runners known to have died: their leases are void now)."""
        gone = list(owners)
        if gone:
            with self._transaction():
                self._execute_where_in("DELETE FROM claims WHERE owner IN ({})", gone)

    def drop_claims(self, answered: Iterable[str]) -> None:
        """Drop every claim on ``answered`` (keys the store has responses for: whoever holds them,
        such as a runner killed after committing, has nothing left to do there)."""
        keys = list(answered)
        if keys:
            with self._transaction():
                self._execute_where_in("DELETE FROM claims WHERE key IN ({})", keys)

    # -- runs -------------------------------------------------------------------------------
    def begin_run(
        self, run_id: str, task: str, model: str, output_dir: str, provenance: dict[str, Any]
    ) -> None:
        now = time.time()
        with self._transaction():
            self._execute(
                """INSERT INTO runs (run_id, task, model, status, output_dir, provenance, created, updated)
                   VALUES (?,?,?,?,?,?,?,?)
                   ON CONFLICT(run_id) DO UPDATE SET status=excluded.status, output_dir=excluded.output_dir,
                   provenance=excluded.provenance, updated=excluded.updated""",
                (run_id, task, model, "running", output_dir, json.dumps(provenance), now, now),
            )

    def set_status(self, run_id: str, status: str, failure: str | None = None) -> None:
        """Set a run's status; ``failure`` (why a failed run stopped) goes into its provenance."""
        with self._transaction():
            self._execute("UPDATE runs SET status=?, updated=? WHERE run_id=?", (status, time.time(), run_id))
            if failure is not None:
                provenance = self.backend.json_set("provenance", "failure")
                self._execute(f"UPDATE runs SET provenance={provenance} WHERE run_id=?", (failure, run_id))

    def finish_run(
        self,
        run_id: str,
        results: dict[str, Any],
        records: list[dict[str, Any]],
        encoded: Sequence[str] | None = None,
    ) -> None:
        """Save the run's records and results and mark it done. A record's long texts (its reply,
        the replies of its exchanges) go to ``texts``, where the response rows have put them
        already: stored once. ``encoded``: the records as ``encode_record`` wrote them already
        (for samples.jsonl), so that they are not encoded twice."""
        rows = []
        texts: dict[str, str] = {}
        for position, record in enumerate(records):
            payload = encoded[position] if encoded is not None else encode_record(record)
            if len(payload) >= INLINE_TEXT_CHARS:  # else no string in it is long enough
                found: dict[str, str] = {}
                apart = set_apart(record, found)
                if found:
                    texts.update(found)
                    payload = encode_record(apart)
            rows.append((run_id, position, record["id"], payload))
        with self._transaction():
            # two runners finishing the same run (one command started on several machines): one
            # after the other, each replacing the records whole
            self._execute(f"SELECT run_id FROM runs WHERE run_id=?{self.backend.for_update}", (run_id,))
            self._execute("DELETE FROM records WHERE run_id=?", (run_id,))
            if texts:
                self._insert_texts(texts)
            self._executemany(
                "INSERT INTO records (run_id, position, sample_id, record) VALUES (?,?,?,?)", rows
            )
            self._execute(
                "UPDATE runs SET status=?, results=?, updated=? WHERE run_id=?",
                ("done", json.dumps(results), time.time(), run_id),
            )

    def get_run(self, run_id: str) -> RunRow | None:
        with self._reading():
            row = self._execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id=?", (run_id,)).fetchone()
        return _run_row(row) if row else None

    def find_runs(self, prefix: str = "") -> list[RunRow]:
        with self._reading():
            rows = self._execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id LIKE ? ESCAPE '\\' ORDER BY updated DESC",
                (prefix.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%",),
            ).fetchall()
        return [_run_row(row) for row in rows]

    def iter_records(self, run_id: str) -> Iterator[dict[str, Any]]:
        """The run's records in order, as they were written (long texts joined back)."""
        with self._reading():
            rows = self._execute(
                "SELECT record FROM records WHERE run_id=? ORDER BY position", (run_id,)
            ).fetchall()
            texts = self._texts_of(payload for (payload,) in rows)

        def lookup(digest: str) -> str:
            try:
                return texts[digest]
            except KeyError:
                raise DataError(
                    f"run {run_id}: a record refers to a text the store {self.path} lacks "
                    f"({digest[:12]}); rerun the run's command to write it again"
                ) from None

        for (payload,) in rows:
            data = json.loads(payload)
            yield join_back(data, lookup) if TEXT_REF in payload else data

    # -- names, tags, removal ------------------------------------------------------------------
    def run_names_and_tags(self) -> dict[str, tuple[str | None, list[str]]]:
        """run id -> (its name or None, its tags sorted), for every run that has either."""
        with self._reading():
            names = dict(self._execute("SELECT run_id, name FROM run_names").fetchall())
            tags: dict[str, list[str]] = {}
            for run_id, tag in self._execute("SELECT run_id, tag FROM run_tags ORDER BY tag").fetchall():
                tags.setdefault(run_id, []).append(tag)
        return {run_id: (names.get(run_id), tags.get(run_id, [])) for run_id in {*names, *tags}}

    def set_run_name(self, run_id: str, name: str | None) -> None:
        with self._transaction():
            self._execute("DELETE FROM run_names WHERE run_id=?", (run_id,))
            if name:
                self._execute("INSERT INTO run_names (run_id, name) VALUES (?,?)", (run_id, name))

    def tag_runs(self, run_ids: Iterable[str], add: Iterable[str] = (), remove: Iterable[str] = ()) -> None:
        ids = list(run_ids)
        pairs_add = [(run_id, tag) for run_id in ids for tag in add]
        pairs_remove = [(run_id, tag) for run_id in ids for tag in remove]
        with self._transaction():
            self._executemany("DELETE FROM run_tags WHERE run_id=? AND tag=?", pairs_remove)
            self._executemany(
                "INSERT INTO run_tags (run_id, tag) VALUES (?,?) ON CONFLICT DO NOTHING", pairs_add
            )

    def delete_runs(self, run_ids: Iterable[str]) -> int:
        """Remove runs: their rows, records, name and tags (the response cache is kept, so a rerun
        costs nothing). Returns how many run rows were removed."""
        ids = [(run_id,) for run_id in run_ids]
        with self._transaction():
            for table in ("records", "run_names", "run_tags"):
                self._executemany(f"DELETE FROM {table} WHERE run_id=?", ids)
            return sum(int(self._execute("DELETE FROM runs WHERE run_id=?", row).rowcount) for row in ids)

    # -- long texts ---------------------------------------------------------------------------
    def _insert_texts(self, texts: dict[str, str]) -> None:
        self._executemany(
            "INSERT INTO texts (digest, text) VALUES (?,?) ON CONFLICT(digest) DO NOTHING",
            list(texts.items()),
        )

    def _texts_of(self, payloads: Iterable[str]) -> dict[str, str]:
        """The texts the JSON ``payloads`` refer to (digest -> text); called while reading."""
        digests: set[str] = set()
        for payload in payloads:
            if TEXT_REF in payload:
                digests.update(_REFERENCE.findall(payload))
        if not digests:
            return {}
        return dict(self._select_where_in("SELECT digest, text FROM texts WHERE digest IN ({})", digests))

    # -- thumbnails ---------------------------------------------------------------------------
    def missing_thumbnails(self, digests: Iterable[str]) -> set[str]:
        wanted = set(digests)
        return wanted - self.thumbnailed(wanted)

    def thumbnailed(self, digests: Iterable[str]) -> set[str]:
        """Which of ``digests`` have a thumbnail (their JPEGs are not read)."""
        with self._reading():
            return {
                digest
                for (digest,) in self._select_where_in(
                    "SELECT digest FROM thumbnails WHERE digest IN ({})", digests
                )
            }

    def put_thumbnails(self, items: dict[str, bytes]) -> None:
        if not items:
            return
        with self._transaction():
            self._executemany(
                "INSERT INTO thumbnails (digest, jpeg) VALUES (?,?) ON CONFLICT(digest) DO NOTHING",
                list(items.items()),
            )

    def get_thumbnails(self, digests: Iterable[str]) -> dict[str, bytes]:
        with self._reading():
            rows = list(
                self._select_where_in("SELECT digest, jpeg FROM thumbnails WHERE digest IN ({})", digests)
            )
        return {digest: bytes(jpeg) for digest, jpeg in rows}

    # -- image sources ------------------------------------------------------------------------
    def put_image_sources(self, items: dict[str, dict[str, Any]]) -> None:
        """Where each image (by digest) can be read again, for thumbnails made at report time; the
        latest run's source replaces an older one (the data may have moved since)."""
        if not items:
            return
        with self._transaction():
            self._executemany(
                "INSERT INTO image_sources (digest, source) VALUES (?,?) "
                "ON CONFLICT(digest) DO UPDATE SET source = excluded.source",
                # canonical JSON: read back with json.loads only, and orjson writes it where installed
                [(digest, canonical_json(source)) for digest, source in items.items()],
            )

    def image_sources(self, digests: Iterable[str]) -> dict[str, dict[str, Any]]:
        with self._reading():
            rows = list(
                self._select_where_in(
                    "SELECT digest, source FROM image_sources WHERE digest IN ({})", digests
                )
            )
        return {digest: json.loads(source) for digest, source in rows}

    def sourced(self, digests: Iterable[str]) -> set[str]:
        """Which of ``digests`` have a recorded source (a run read them and found them readable)."""
        with self._reading():
            return {
                digest
                for (digest,) in self._select_where_in(
                    "SELECT digest FROM image_sources WHERE digest IN ({})", digests
                )
            }

    # -- plumbing ---------------------------------------------------------------------------
    def state(self) -> str:
        """What changes when a run writes to the store (``mmlens view`` rebuilds on a change)."""
        with self._reading():
            return self.backend.state(self._db)

    def _select_where_in(
        self, query: str, values: Iterable[str], leading: tuple[Any, ...] = ()
    ) -> Iterator[tuple[Any, ...]]:
        """Run ``query`` (with one ``{}`` for the IN list, after the ``leading`` parameters) over
        ``values`` in chunks every database accepts."""
        value_list = list(values)
        step = self.backend.in_chunk
        for start in range(0, len(value_list), step):
            test, parameters = self.backend.keys_in(value_list[start : start + step])
            yield from self._execute(query.replace("IN ({})", test), (*leading, *parameters)).fetchall()

    def _execute_where_in(self, query: str, values: Iterable[str], leading: tuple[Any, ...] = ()) -> None:
        """``_select_where_in`` for a statement that returns no rows (a DELETE)."""
        value_list = list(values)
        step = self.backend.in_chunk
        for start in range(0, len(value_list), step):
            test, parameters = self.backend.keys_in(value_list[start : start + step])
            self._execute(query.replace("IN ({})", test), (*leading, *parameters))

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        with self._lock:
            try:
                yield
            except self.backend.errors as error:
                raise StoreError(f"cannot read the store {self.path}: {self.backend.cause(error)}") from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction; any database failure is a StoreError saying what, where, and that
        what was committed before is kept (the run can be resumed)."""
        if self.read_only:
            raise StoreError(f"the store {self.path} was opened read-only")
        with self._lock:
            try:
                self._db.execute(self.backend.begin_write)
                try:
                    yield
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except self.backend.errors as error:
                if self.backend.in_transaction(self._db):
                    with contextlib.suppress(*self.backend.errors):
                        self._db.execute("ROLLBACK")
                raise StoreError(
                    f"cannot write to the store {self.path}: {self.backend.cause(error)}; everything saved "
                    "before is kept: fix that and rerun the same command to resume"
                ) from None

    def close(self) -> None:
        try:
            if not self.read_only:
                self.flush()
        finally:
            with self._lock:
                self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
