"""A store named by URL: ``sqlite:///PATH`` is the file, ``postgresql://...`` a real server (by
--store or MMLENS_STORE); run, show and report work on either; a password never reaches a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlens.cli import main
from mmlens.core.errors import ConfigError
from mmlens.core.paths import redacted, store_location
from mmlens.core.requests import Response
from mmlens.store import postgres
from mmlens.store.backend import StoreError
from mmlens.store.sqlite import Store


def _run_show_report(tmp_path: Path, capsys: pytest.CaptureFixture[str], *store: str) -> str:
    """Run shapes_small, then show and report it, with ``store`` (``--store X`` or nothing)."""
    run = [
        *store,
        "run",
        "shapes_small",
        "--limit",
        "2",
        "--output-dir",
        str(tmp_path / "runs"),
        "--no-progress",
    ]
    assert main(run) == 0
    capsys.readouterr()
    assert main([*store, "show"]) == 0
    listed = capsys.readouterr().out
    assert "shapes_small" in listed and "acc 1.0000" in listed, listed
    report = tmp_path / "report.html"
    assert main([*store, "report", "-o", str(report)]) == 0
    assert "shapes_small" in report.read_text()
    return listed


@pytest.mark.parametrize("slashes", ["///", "////"])
def test_a_sqlite_url_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], slashes: str
) -> None:
    path = tmp_path / "by url.sqlite"
    url = f"sqlite:{slashes}{str(path).lstrip('/')}".replace(" ", "%20")
    assert store_location(url, "--store") == path
    _run_show_report(tmp_path, capsys, "--store", url)
    assert path.is_file()
    with Store(path, read_only=True) as store:  # the same store as the plain path names
        assert [run.task for run in store.find_runs()] == ["shapes_small"]


def test_a_postgresql_store_by_option_and_by_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    _run_show_report(tmp_path / "option", capsys, "--store", postgres_url)
    monkeypatch.setenv("MMLENS_STORE", postgres_url)
    _run_show_report(tmp_path / "variable", capsys)  # the same run again: answered from the server
    with Store(postgres_url, read_only=True) as store:
        (run,) = store.find_runs()
        assert run.typed_results().provenance.requests.cached == 2  # type: ignore[union-attr]
        assert store.path == postgres_url


def test_an_unreachable_server_is_one_line_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], postgres_server: object
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://someone:hunter2@127.0.0.1:{port}/mmlens"
    argv = ["--store", url, "run", "shapes_small", "--limit", "2", "--output-dir", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(
        f"error: cannot connect to the store postgresql://someone:***@127.0.0.1:{port}/mmlens"
    )
    assert "hunter2" not in err


def test_the_help_shows_a_store_url_without_its_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MMLENS_STORE", "postgresql://someone:hunter2@db.example:5432/mmlens")
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "postgresql://someone:***@db.example:5432/mmlens" in " ".join(out.split()), out
    assert "hunter2" not in out
    assert redacted("postgresql://u@h/d") == "postgresql://u@h/d"


def test_without_the_driver_a_postgresql_store_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(postgres, "psycopg", None)
    with pytest.raises(StoreError, match=r"pip install 'mmlens\[postgres\]'"):
        Store("postgresql://someone@127.0.0.1:1/mmlens")


def test_another_scheme_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^--store: mysql://\.\.\. is not a store mmlens can use"):
        store_location("mysql://u:secret@h/d", "--store")


def test_the_state_mmlens_view_watches_changes_when_a_run_writes(store_at: Path | str) -> None:
    with Store(store_at, commit_interval=0) as writer, Store(store_at, read_only=True) as reader:
        before = reader.state()
        assert reader.state() == before
        writer.begin_run("r", "t", "m", "/o", {})
        after = reader.state()
        assert after != before
        writer.put_response("k", "m", "generate", Response(text="yes"))
        writer.set_status("r", "done")
        assert reader.state() != after


def test_mmlens_view_rebuilds_a_postgresql_stores_report_when_a_run_writes(postgres_url: str) -> None:
    from mmlens.report.serve import LiveReport

    Store(postgres_url).close()
    built: list[str] = []

    def state() -> str:
        with Store(postgres_url, read_only=True) as store:
            return store.state()

    live = LiveReport(state, built.append)
    first = live.build()
    assert live.current() == first and built == [first]  # nothing changed: not rebuilt
    with Store(postgres_url) as writer:
        writer.begin_run("r", "t", "m", "/o", {})
    assert live.current() != first and len(built) == 2


def test_names_tags_and_removal_on_either_backend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], store_at: Path | str
) -> None:
    store = ["--store", str(store_at)]
    assert (
        main([*store, "run", "shapes_small", "--limit", "2", "--output-dir", str(tmp_path), "--no-progress"])
        == 0
    )
    with Store(store_at, read_only=True) as opened:
        (run,) = opened.find_runs()
    assert main([*store, "tag", run.run_id, "first", "small", "--name", "baseline"]) == 0
    assert main([*store, "tag", "baseline", "--remove", "small"]) == 0
    with Store(store_at, read_only=True) as opened:
        assert opened.run_names_and_tags() == {run.run_id: ("baseline", ["first"])}
    capsys.readouterr()
    assert main([*store, "show", "--tag", "first"]) == 0
    assert run.run_id in capsys.readouterr().out
    assert main([*store, "rm", "baseline", "--yes", "--keep-files"]) == 0
    with Store(store_at, read_only=True) as opened:
        assert opened.find_runs() == [] and opened.run_names_and_tags() == {}
        assert opened.count_responses() == 2  # the cache is kept: a rerun costs nothing
