"""Storage errors are one line (what, where, that the run can be resumed); read-only commands read
a store they cannot write to."""

from __future__ import annotations

import os
import resource
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.plugins import load_plugins
from tests.conftest import PLUGINS
from tests.fixtures.numbers_bench import build_numbers_task

ORACLE = str(PLUGINS / "pixel_oracle.py")


@pytest.fixture(autouse=True)
def oracle_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMLENS_PLUGINS", ORACLE)
    load_plugins()


def _cli(args: list[str], env: dict[str, str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "mmlens", *args], env=env, text=True, capture_output=True, timeout=60, **kwargs
    )


def _responses(store: Path) -> int:
    with sqlite3.connect(store) as db:
        count = int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
    db.close()
    return count


def test_a_file_size_limit_is_one_line_and_the_run_resumes(tmp_path: Path) -> None:
    task = build_numbers_task(tmp_path / "bench", count=300, duplicates=0)
    store = tmp_path / "s.sqlite"
    env = {**os.environ, "MMLENS_PLUGINS": ORACLE, "MMLENS_HOME": str(tmp_path / "home")}
    args = ["--store", str(store), "run", "numbers", "--include", str(task), "--model", "pixel_oracle",
            "--model-args", "batch_size=10,delay=0.01", "--output-dir", str(tmp_path / "runs")]  # fmt: skip
    api.evaluate("numbers", "pixel_oracle", include=[task], store=store, output_dir=None, limit=5)
    limit = store.stat().st_size + 48 * 1024  # the WAL of a few dozen commits

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    failed = _cli(args, env, preexec_fn=small_files)
    lines = failed.stderr.strip().splitlines()
    assert failed.returncode == 2 and len(lines) == 1, failed.stderr
    assert lines[0].startswith(f"error: cannot write to the store {store}: "), lines[0]
    assert "file-size limit" in lines[0] and "rerun the same command to resume" in lines[0]
    saved = _responses(store)
    assert 5 <= saved < 300
    finished = _cli(args, env)
    assert finished.returncode == 0, finished.stderr
    assert _responses(store) == 300


@pytest.fixture
def read_only_store(tmp_path: Path) -> Iterator[Path]:
    """A finished run's store in a folder the commands cannot write to: mode bits for a normal
    user; as root (whom they do not bind) the folder is mounted read-only in the command's own
    mount namespace, as on read-only media."""
    task = build_numbers_task(tmp_path / "bench", count=6, duplicates=0)
    store = tmp_path / "media" / "store.sqlite"
    store.parent.mkdir()
    api.evaluate("numbers", "pixel_oracle", include=[task], store=store, output_dir=None)
    assert not store.with_name("store.sqlite-wal").exists()  # closed cleanly: no -wal, no -shm
    if os.geteuid() == 0 and shutil.which("unshare") is None:
        pytest.skip("running as root without unshare: no way to make the folder read-only")
    store.chmod(0o444)
    store.parent.chmod(0o555)
    try:
        yield store
    finally:
        store.parent.chmod(0o755)


def _read_only_cli(store: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mmlens", "--store", str(store), *args]
    if os.geteuid() == 0:
        media = shlex.quote(str(store.parent))
        script = f'mount --bind {media} {media} && mount -o remount,bind,ro {media} && exec "$@"'
        command = ["unshare", "-m", "sh", "-c", script, "sh", *command]
    return subprocess.run(command, env=env, text=True, capture_output=True, timeout=60)


def test_show_and_report_read_a_store_on_read_only_media(read_only_store: Path, tmp_path: Path) -> None:
    env = {**os.environ}
    before = read_only_store.read_bytes()
    listed = _read_only_cli(read_only_store, ["show"], env)
    assert listed.returncode == 0, listed.stderr
    assert "numbers" in listed.stdout
    run_id = listed.stdout.splitlines()[1].split()[0]
    shown = _read_only_cli(read_only_store, ["show", run_id], env)
    assert shown.returncode == 0 and "6 samples" in shown.stdout, shown.stderr + shown.stdout
    report = tmp_path / "report.html"
    built = _read_only_cli(read_only_store, ["report", "-o", str(report)], env)
    assert built.returncode == 0, built.stderr
    assert report.stat().st_size > 0
    assert read_only_store.read_bytes() == before
    assert sorted(p.name for p in read_only_store.parent.iterdir()) == ["store.sqlite"]


def test_a_run_on_a_read_only_store_is_one_line(read_only_store: Path, tmp_path: Path) -> None:
    task = build_numbers_task(tmp_path / "small", count=3, duplicates=0)
    args = ["run", "numbers", "--include", str(task), "--model", "pixel_oracle", "--output-dir",
            str(tmp_path / "runs")]  # fmt: skip
    ran = _read_only_cli(read_only_store, args, {**os.environ, "MMLENS_PLUGINS": ORACLE})
    lines = ran.stderr.strip().splitlines()
    assert ran.returncode == 2 and len(lines) == 1, ran.stderr
    assert str(read_only_store) in lines[0] and "read-only commands" in lines[0], lines[0]


@pytest.fixture
def read_only_role(postgres_url: str) -> str:
    """A finished run's PostgreSQL store, and the URL of a role that may only read it (the server's
    counterpart of read-only media)."""
    import psycopg

    from tests.fixtures.numbers_bench import build_numbers_task as build

    task = build(Path(tempfile.mkdtemp(prefix="mmlens-pg-task-")) / "bench", count=6, duplicates=0)
    api.evaluate("numbers", "pixel_oracle", include=[task], store=postgres_url, output_dir=None)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "DO $$ BEGIN CREATE ROLE reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        admin.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
    shutil.rmtree(task.parent, ignore_errors=True)
    return postgres_url.replace("mmlens@", "reader@", 1)


def _dump(url: str) -> list[tuple[object, ...]]:
    import psycopg

    with psycopg.connect(url) as db:
        return db.execute("SELECT run_id, status, updated, results FROM runs ORDER BY run_id").fetchall()


def test_show_and_report_read_a_postgres_store_through_a_role_that_may_only_read(
    read_only_role: str, tmp_path: Path
) -> None:
    before = _dump(read_only_role)
    listed = _cli(["--store", read_only_role, "show"], {**os.environ})
    assert listed.returncode == 0, listed.stderr
    run_id = listed.stdout.splitlines()[1].split()[0]
    shown = _cli(["--store", read_only_role, "show", run_id], {**os.environ})
    assert shown.returncode == 0 and "6 samples" in shown.stdout, shown.stderr + shown.stdout
    report = tmp_path / "report.html"
    built = _cli(["--store", read_only_role, "report", "-o", str(report)], {**os.environ})
    assert built.returncode == 0, built.stderr
    assert report.stat().st_size > 0
    assert _dump(read_only_role) == before


def test_a_run_through_a_postgres_role_that_may_only_read_is_one_line(
    read_only_role: str, tmp_path: Path
) -> None:
    task = build_numbers_task(tmp_path / "small", count=3, duplicates=0)
    args = ["--store", read_only_role, "run", "numbers", "--include", str(task), "--model", "pixel_oracle",
            "--output-dir", str(tmp_path / "runs")]  # fmt: skip
    ran = _cli(args, {**os.environ, "MMLENS_PLUGINS": ORACLE})
    lines = ran.stderr.strip().splitlines()
    assert ran.returncode == 2 and len(lines) == 1, ran.stderr
    assert read_only_role in lines[0] and "permission denied" in lines[0], lines[0]
    assert "read-only commands" in lines[0], lines[0]


def test_a_lost_server_connection_is_one_line_and_the_run_resumes(postgres_url: str, tmp_path: Path) -> None:
    """The server's counterpart of a full disk: the runner's connection is cut mid-run (as by a
    server restart); the run stops in one line, and the same command resumes it."""
    import psycopg

    task = build_numbers_task(tmp_path / "bench", count=300, duplicates=0)
    # the cut runner cannot drop its claims: the rerun takes them over when their lease ends
    env = {
        **os.environ,
        "MMLENS_PLUGINS": ORACLE,
        "MMLENS_HOME": str(tmp_path / "home"),
        "MMLENS_CLAIM_LEASE": "2",
    }
    args = [sys.executable, "-m", "mmlens", "--store", postgres_url, "run", "numbers", "--include", str(task),
            "--model", "pixel_oracle", "--model-args", "batch_size=5,delay=0.02",
            "--output-dir", str(tmp_path / "runs")]  # fmt: skip
    runner = subprocess.Popen(args, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        saved = 0
        for _ in range(600):
            tables = {row[0] for row in admin.execute("SELECT tablename FROM pg_tables").fetchall()}
            if "responses" in tables:
                saved = admin.execute("SELECT COUNT(*) FROM responses").fetchone()[0]  # type: ignore[index]
                if saved >= 20:
                    break
            time.sleep(0.05)
        assert saved >= 20 and runner.poll() is None, "the run did not get going"
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    out, err = runner.communicate(timeout=60)
    lines = err.strip().splitlines()
    assert runner.returncode == 2 and len(lines) == 1, err + out
    assert lines[0].startswith(f"error: cannot write to the store {postgres_url}: "), lines[0]
    assert "rerun the same command to resume" in lines[0], lines[0]
    finished = _cli(args[3:], env)
    assert finished.returncode == 0, finished.stderr
    with psycopg.connect(postgres_url) as db:
        assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 300  # type: ignore[index]
    assert "300 computed" not in finished.stdout  # the first run's answers were reused
