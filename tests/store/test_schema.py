"""The store's layout version: checked on open, migrated where it can be, refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlens.cli import main
from mmlens.core.plugins import load_plugins
from mmlens.core.requests import Response
from mmlens.store.schema import SCHEMA_VERSION
from mmlens.store.sqlite import Store
from tests.conftest import PLUGINS
from tests.fixtures.numbers_bench import build_numbers_task
from tests.store.backends import Raw

ORACLE = str(PLUGINS / "pixel_oracle.py")

# The layout of the stores mmlens wrote before it recorded a version (no thumbnails table yet).
UNVERSIONED = """
CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, kind TEXT NOT NULL,
    response TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE runs (run_id TEXT PRIMARY KEY, task TEXT NOT NULL, model TEXT NOT NULL,
    status TEXT NOT NULL, output_dir TEXT, provenance TEXT NOT NULL, results TEXT,
    created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE records (run_id TEXT NOT NULL, position INTEGER NOT NULL, sample_id TEXT NOT NULL,
    record TEXT NOT NULL, PRIMARY KEY (run_id, sample_id));
"""


@pytest.fixture(autouse=True)
def oracle_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMLENS_PLUGINS", ORACLE)
    load_plugins()


def _run(tmp_path: Path, store: Path | str) -> tuple[int, Path]:
    task = build_numbers_task(tmp_path / "bench", count=6, duplicates=0)
    log = tmp_path / "computed.log"
    code = main(
        ["--store", str(store), "run", "numbers", "--include", str(task), "--model", "pixel_oracle",
         "--model-args", f"log={log}", "--output-dir", str(tmp_path / "runs")]
    )  # fmt: skip
    return code, log


def _refused_in_one_line(capsys: pytest.CaptureFixture[str], log: Path, *words: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: the store "), err
    assert all(word in err for word in words), err
    assert not log.exists(), "a request was sent before the store was refused"
    return err


def test_a_new_store_records_its_layout_version(store_at: Path | str, raw: Raw) -> None:
    Store(store_at).close()
    assert raw.version() == SCHEMA_VERSION


def test_an_unversioned_store_is_migrated_and_keeps_its_responses(store_at: Path | str, raw: Raw) -> None:
    path = store_at
    row = "INSERT INTO responses VALUES ('k', 'm', 'generate', '{\"text\": \"yes\"}', 0);"
    raw.script(UNVERSIONED + row)
    with Store(path) as store:
        assert store.get_responses(["k"]) == {"k": Response(text="yes")}
        assert store.get_thumbnails(["d"]) == {}  # the table the old layout lacked is there
        store.put_thumbnails({"d": b"jpeg"})
    assert raw.version() == SCHEMA_VERSION


def test_a_newer_store_is_refused_in_one_line_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], store_at: Path | str, raw: Raw
) -> None:
    store = store_at
    Store(store).close()
    raw.set_version(SCHEMA_VERSION + 1)
    code, log = _run(tmp_path, store)
    assert code == 2
    _refused_in_one_line(capsys, log, str(store), f"version {SCHEMA_VERSION + 1}", "upgrade mmlens")


def test_an_extra_not_null_column_is_refused_not_silently_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], store_at: Path | str, raw: Raw
) -> None:
    store = store_at
    extra = "created REAL NOT NULL, owner TEXT NOT NULL);"
    raw.script(UNVERSIONED.replace("created REAL NOT NULL);", extra, 1))
    code, log = _run(tmp_path, store)
    assert code == 2
    _refused_in_one_line(capsys, log, str(store), "responses", "owner", "NOT NULL")


def test_an_older_layout_without_a_column_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], store_at: Path | str, raw: Raw
) -> None:
    store = store_at
    raw.script(UNVERSIONED.replace("kind TEXT NOT NULL,", "", 1))
    code, log = _run(tmp_path, store)
    assert code == 2
    _refused_in_one_line(capsys, log, str(store), "responses", "no column kind")


def test_an_insert_the_table_refuses_is_an_error_not_a_silent_no_op(store_at: Path | str, raw: Raw) -> None:
    """Defence in depth: a constraint other than the key failing raises (no INSERT OR IGNORE)."""
    path = store_at
    Store(path).close()
    raw.refuse_inserts("responses")
    store = Store(path, commit_interval=0)
    with pytest.raises(Exception, match="cannot write to the store"):
        store.put_response("k", "m", "generate", Response(text="yes"))
    store.close()


def test_a_version_1_store_with_replies_inline_is_read_then_migrated(store_at: Path | str, raw: Raw) -> None:
    """Version 1 kept each long reply inline in its response row and its record: still read as
    they are (read-only: the file untouched), then migrated to keep new long texts once."""
    path = store_at
    reply = "r" * 5000
    response = json.dumps({"text": reply})
    record = json.dumps({"id": "s1", "response": reply, "exchanges": [{"response": reply}]})
    raw.script(
        UNVERSIONED
        + f"CREATE TABLE thumbnails (digest TEXT PRIMARY KEY, jpeg {raw.blob} NOT NULL);"
        + f"INSERT INTO responses VALUES ('k', 'm', 'generate', '{response}', 0);"
        + f"INSERT INTO records VALUES ('run', 0, 's1', '{record}');"
    )
    raw.set_version(1)
    with Store(path, read_only=True) as store:
        assert store.get_responses(["k"]) == {"k": Response(text=reply)}
        assert list(store.iter_records("run")) == [json.loads(record)]
    assert raw.version() == 1
    assert "texts" not in {name for (name,) in raw.rows(TABLES_QUERY[raw.is_sqlite])}  # untouched
    with Store(path, commit_interval=0) as store:
        assert store.get_responses(["k"]) == {"k": Response(text=reply)}
        assert list(store.iter_records("run")) == [json.loads(record)]
        store.put_response("k2", "m", "generate", Response(text="n" * 5000))
        assert store.get_responses(["k2"]) == {"k2": Response(text="n" * 5000)}
    assert raw.version() == SCHEMA_VERSION == 2
    assert raw.value("SELECT COUNT(*) FROM texts") == 1


TABLES_QUERY = {
    True: "SELECT name FROM sqlite_master WHERE type='table'",
    False: "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()",
}


def test_a_server_store_refused_is_named_without_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], postgres_url: str
) -> None:
    """A PostgreSQL URL's password never reaches a message (the refusal names the URL without it)."""
    with_password = postgres_url.replace("mmlens@", "mmlens:hunter2@", 1)  # trust auth: ignored
    Store(with_password).close()
    Raw(postgres_url).set_version(SCHEMA_VERSION + 1)
    code, log = _run(tmp_path, with_password)
    assert code == 2
    err = _refused_in_one_line(
        capsys, log, postgres_url.replace("mmlens@", "mmlens:***@", 1), "upgrade mmlens"
    )
    assert "hunter2" not in err


def test_stores_opened_at_the_same_moment_create_the_layout_once(store_at: Path | str, raw: Raw) -> None:
    """Six processes opening a new store together: the migration runs under a lock (PostgreSQL's
    CREATE TABLE IF NOT EXISTS races otherwise), each open succeeds, the version is recorded."""
    import subprocess
    import sys

    script = "import sys\nfrom mmlens.store.sqlite import Store\nStore(sys.argv[1]).close()"
    command = [sys.executable, "-c", script, str(store_at)]
    openers = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    failures = [opener.communicate()[1] for opener in openers if opener.wait() != 0]
    assert failures == []
    assert raw.version() == SCHEMA_VERSION
