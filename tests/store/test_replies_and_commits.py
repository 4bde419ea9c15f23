"""Replies are capped (the cut recorded) before they are stored; commits are batched within a few ms."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from mmlens.core.messages import Message
from mmlens.core.requests import MAX_REPLY_CHARS, GenerationSettings, Request, Response
from mmlens.models.base import ModelSpec, build_model
from mmlens.runner.execute import execute
from mmlens.store.sqlite import Store
from tests.fixtures.fault_server import FaultServer


def test_a_huge_reply_is_capped_the_cut_recorded_and_stored_once(tmp_path: Path) -> None:
    huge = "x" * (3 * MAX_REPLY_CHARS)  # the fault server echoes the prompt: a 300,000-character reply
    requests = {
        "big": Request("generate", (Message.user(huge),), GenerationSettings(max_new_tokens=8)),
        "small": Request("generate", (Message.user("hello"),), GenerationSettings(max_new_tokens=8)),
    }
    path = tmp_path / "s.sqlite"
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
    with sqlite3.connect(path) as db:
        rows = dict(db.execute("SELECT key, response FROM responses").fetchall())
    db.close()
    assert len(rows["big"]) < MAX_REPLY_CHARS + 200
    assert json.loads(rows["big"])["truncated_chars"] == big.truncated_chars
    with Store(path, read_only=True) as store:
        assert store.get_responses(["big"])["big"] == big


def test_an_uncapped_reply_of_an_older_store_is_capped_when_read(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Store(path, commit_interval=0) as store:
        store.put_response("k", "m", "generate", Response(text="y" * (MAX_REPLY_CHARS + 5)))
        read = store.get_responses(["k"])["k"]
    assert read.text == "y" * MAX_REPLY_CHARS and read.truncated_chars == 5


def _commits(store: Store) -> list[str]:
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    return statements


def test_a_burst_of_responses_shares_commits_and_is_durable_within_milliseconds(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store(path)
    statements = _commits(store)
    for i in range(500):
        store.put_response(f"k{i}", "m", "generate", Response(text=f"answer {i}"))
    time.sleep(0.1)  # no flush, no close: what a kill -9 now would leave is what another reader sees
    with sqlite3.connect(path) as reader:
        assert reader.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 500
    reader.close()
    commits = statements.count("COMMIT")
    assert 1 <= commits < 50, commits  # one per response before: 500
    store.close()


def test_commit_interval_zero_commits_each_response(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite", commit_interval=0)
    statements = _commits(store)
    for i in range(5):
        store.put_response(f"k{i}", "m", "generate", Response(text="a"))
    assert statements.count("COMMIT") == 5
    store.close()
