"""Replies are capped (the cut recorded) before they are stored, and stored once; commits are batched
within a few ms."""

from __future__ import annotations

import contextlib
import json
import random
import string
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from mmlens import api
from mmlens.cli import main
from mmlens.core.messages import Message
from mmlens.core.requests import MAX_REPLY_CHARS, GenerationSettings, Request, Response
from mmlens.models.base import Emit, Model, ModelArgs, ModelSpec, build_model, models
from mmlens.runner.execute import execute
from mmlens.store.sqlite import Store
from tests.fixtures.fault_server import FaultServer
from tests.store.backends import Raw


def test_a_huge_reply_is_capped_the_cut_recorded_and_stored_once(store_at: Path | str, raw: Raw) -> None:
    huge = "x" * (3 * MAX_REPLY_CHARS)  # the fault server echoes the prompt: a 300,000-character reply
    requests = {
        "big": Request("generate", (Message.user(huge),), GenerationSettings(max_new_tokens=8)),
        "small": Request("generate", (Message.user("hello"),), GenerationSettings(max_new_tokens=8)),
    }
    path = store_at
    with FaultServer() as server, Store(path) as store:
        model = build_model(
            ModelSpec(backend="openai", name="fault-model", args={"base_url": server.base_url})
        )
        responses, stats = execute(requests, model, store, cached_responses={})
    assert stats.errors == 0
    big = responses["big"]
    assert big.text is not None and len(big.text) == MAX_REPLY_CHARS
    assert big.truncated_chars == len("echo: ") + len(huge) - MAX_REPLY_CHARS
    assert responses["small"].truncated_chars is None and responses["small"].text == "echo: hello"
    rows = dict(raw.rows("SELECT key, response FROM responses"))
    assert len(rows["big"]) < MAX_REPLY_CHARS + 200
    assert json.loads(rows["big"])["truncated_chars"] == big.truncated_chars
    with Store(path, read_only=True) as store:
        assert store.get_responses(["big"])["big"] == big


def test_an_uncapped_reply_of_an_older_store_is_capped_when_read(store_at: Path | str) -> None:
    path = store_at
    with Store(path, commit_interval=0) as store:
        store.put_response("k", "m", "generate", Response(text="y" * (MAX_REPLY_CHARS + 5)))
        read = store.get_responses(["k"])["k"]
    assert read.text == "y" * MAX_REPLY_CHARS and read.truncated_chars == 5


def _commits(store: Store) -> list[int]:
    """The thread of each write transaction ``store`` commits from now on (any backend)."""
    threads: list[int] = []
    transaction = store._transaction

    @contextlib.contextmanager
    def counted() -> Iterator[None]:
        with transaction():
            yield
        threads.append(threading.get_ident())

    store._transaction = counted  # type: ignore[method-assign]
    return threads


def test_a_burst_of_responses_shares_commits_and_is_durable_within_milliseconds(
    store_at: Path | str, raw: Raw
) -> None:
    store = Store(store_at)
    commits = _commits(store)
    for i in range(500):
        store.put_response(f"k{i}", "m", "generate", Response(text=f"answer {i}"))
    time.sleep(0.1)  # no flush, no close: what a kill -9 now would leave is what another reader sees
    assert raw.value("SELECT COUNT(*) FROM responses") == 500
    assert 1 <= len(commits) < 50, len(commits)  # one per response before: 500
    store.close()


def test_commit_interval_zero_commits_each_response(store_at: Path | str) -> None:
    store = Store(store_at, commit_interval=0)
    commits = _commits(store)
    for i in range(5):
        store.put_response(f"k{i}", "m", "generate", Response(text="a"))
    assert len(commits) == 5
    store.close()


class LongReplyArgs(ModelArgs):
    chars: int = 1_000_000


@models.register("store_test_long_reply")
class LongReplyModel(Model):
    """Answers every request with the same long, incompressible reply (``chars`` characters); its
    fingerprint does not hold the reply, so provenance stays small."""

    backend = "store_test_long_reply"
    Args = LongReplyArgs

    def process(self, requests: Sequence[Request], emit: Emit) -> None:
        args = self.args
        assert isinstance(args, LongReplyArgs)
        rng = random.Random(args.chars)
        body = "".join(rng.choice(string.ascii_letters) for _ in range(args.chars))
        for index in range(len(requests)):
            emit(index, Response(text=REPLY_MARK + body[len(REPLY_MARK) :]))


REPLY_MARK = "yes MARK-7f3a9 "


def _store_bytes(path: Path | str) -> int:
    """The store's size on disk, its WAL included (after close the WAL is folded in)."""
    assert isinstance(path, Path)
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def _evaluate(tmp_path: Path, store: Path | str, chars: int) -> api.RunResult:
    model = build_model(ModelSpec(backend="store_test_long_reply", name="long", args={"chars": chars}))
    try:
        return api.evaluate("shapes_small", model, limit=1, store=store, output_dir=tmp_path / "runs")
    finally:
        model.close()


def test_a_1mb_reply_occupies_the_store_once_and_show_report_and_resume_still_have_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], store_at: Path | str, raw: Raw
) -> None:
    store = store_at
    result = _evaluate(tmp_path / "b", store, chars=1_000_000)
    record = result.records[0]
    assert record.response is not None and len(record.response) == MAX_REPLY_CHARS  # capped
    assert record.response.startswith(REPLY_MARK)
    if isinstance(store, Path):
        # In its response row and its sample record, the capped reply takes the room of one copy:
        # twice (two copies) before the store kept long texts once.
        small_store = tmp_path / "small.sqlite"
        _evaluate(tmp_path / "a", small_store, chars=20)
        grown = _store_bytes(store) - _store_bytes(small_store)
        assert 0.9 * MAX_REPLY_CHARS < grown < 1.3 * MAX_REPLY_CHARS, grown
    inline = raw.value("SELECT COUNT(*) FROM records WHERE record LIKE ?", ("%MARK-7f3a9%",))
    responses = raw.value("SELECT COUNT(*) FROM responses WHERE response LIKE ?", ("%MARK-7f3a9%",))
    texts = raw.value("SELECT COUNT(*) FROM texts WHERE text LIKE ?", ("yes MARK-7f3a9%",))
    assert (inline, responses, texts) == (0, 0, 1)
    # samples.jsonl, a file to share on its own, holds the reply once, in full
    samples = (result.run_dir / "samples.jsonl").read_text()  # type: ignore[operator]
    assert samples.count("MARK-7f3a9") == 1 and record.response in samples
    # readers get the records as written
    with Store(store, read_only=True) as opened:
        assert [r["response"] for r in opened.iter_records(result.run_id)] == [record.response]
    assert main(["--store", str(store), "show", result.run_id]) == 0
    assert "shapes_small" in capsys.readouterr().out
    report = tmp_path / "report.html"
    assert main(["--store", str(store), "report", "-o", str(report)]) == 0
    assert record.response in report.read_text()
    # a rerun resumes from the store: nothing asked again, the same reply
    again = _evaluate(tmp_path / "c", store, chars=1_000_000)
    assert again.results["provenance"]["requests"]["cached"] == 1
    assert again.records[0].response == record.response


def test_a_reply_that_looks_like_a_reference_is_kept_as_it_is(store_at: Path | str) -> None:
    lookalike = '{"$text_sha256": "' + "0" * 64 + '"}' + " " * 2000
    with Store(store_at, commit_interval=0) as store:
        store.put_response("k", "m", "generate", Response(text=lookalike))
        store.put_response("short", "m", "generate", Response(text='{"$text_sha256": "' + "0" * 64 + '"}'))
        store.finish_run("r", {}, [{"id": "s", "response": lookalike, "details": {"$text_sha256": "x"}}])
        assert store.get_responses(["k"])["k"].text == lookalike
        assert store.get_responses(["short"])["short"].text == '{"$text_sha256": "' + "0" * 64 + '"}'
        assert list(store.iter_records("r")) == [
            {"id": "s", "response": lookalike, "details": {"$text_sha256": "x"}}
        ]


def test_a_steady_stream_commits_in_the_callers_thread_within_the_interval(
    store_at: Path | str, raw: Raw, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A put that finds the batch older than ``commit_interval`` commits it there and then, so a busy
    stream neither waits for nor hops to the timer's thread (which a CPU-bound event loop starves of
    the GIL); the timer only commits a batch's tail. Here the timer never runs at all."""
    from mmlens.store import database as store_module

    class Starved:
        def __init__(self, *args: object) -> None:
            self.daemon = True

        def start(self) -> None:
            pass

        def cancel(self) -> None:
            pass

    monkeypatch.setattr(store_module.threading, "Timer", Starved)
    store = Store(store_at, commit_interval=0.002)
    threads = _commits(store)
    for i in range(20):
        store.put_response(f"k{i}", "m", "generate", Response(text="a"))
        time.sleep(0.003)  # each put finds the batch before it older than the interval
    # no flush, no close: what a kill -9 now would leave; before: 0 (every batch waited for the timer)
    assert raw.value("SELECT COUNT(*) FROM responses") >= 19
    assert set(threads) == {threading.get_ident()}
    store.close()
