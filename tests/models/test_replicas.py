"""One model at several endpoints (issue 14, item 4): requests spread over real OpenAI-compatible
servers on 127.0.0.1 (tests/fixtures/fault_server.py), per-replica concurrency, and failover when
one dies mid-run. The servers answer ``echo: <prompt>``, so an answer shows which request it is for."""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mmlens.cli.parser import add_model_options, model_args_text
from mmlens.core.errors import ModelUnavailable
from mmlens.core.messages import Message
from mmlens.core.requests import Request, Response
from mmlens.models.base import ModelSpec, build_model, parse_model_args
from mmlens.models.openai import OpenAIModel
from tests.fixtures.fault_server import FaultServer
from tests.fixtures.numbers_bench import build_numbers_task

pytestmark = pytest.mark.timeout(60)


def make_model(base_urls: list[str], **args: Any) -> OpenAIModel:
    settings = {"base_urls": base_urls, "timeout": 5, "retry_backoff": 0.05, "max_retries": 3, **args}
    model = build_model(ModelSpec(backend="openai", name="fault-model", args=settings))
    assert isinstance(model, OpenAIModel)
    return model


def ask(text: str) -> Request:
    return Request("generate", (Message.user(text),))


def answers(model: OpenAIModel, requests: list[Request]) -> dict[int, Response]:
    responses: dict[int, Response] = {}

    def emit(index: int, response: Response) -> None:
        assert index not in responses, f"request {index} emitted twice"
        responses[index] = response

    model.process(requests, emit)
    return responses


def texts(responses: dict[int, Response]) -> dict[int, str | None]:
    return {index: response.text for index, response in responses.items()}


def test_requests_spread_over_every_replica_with_per_replica_concurrency() -> None:
    requests = [ask(f"q{i}") for i in range(240)]
    with FaultServer(latency=0.03) as a, FaultServer(latency=0.03) as b, FaultServer(latency=0.03) as c:
        model = make_model([a.base_url, b.base_url, c.base_url], concurrency=4)
        started = time.monotonic()
        responses = answers(model, requests)
        elapsed = time.monotonic() - started
        servers = [a, b, c]
    assert texts(responses) == {i: f"echo: q{i}" for i in range(240)}
    totals = [server.record.total for server in servers]
    assert sum(totals) == 240, totals
    assert all(total >= 50 for total in totals), totals  # an even share is 80
    # each replica gets at most its own concurrency, and together they hold 3 x 4 in flight
    assert [server.record.max_in_flight for server in servers] == [4, 4, 4]
    assert model.last_stats.max_in_flight == 12
    assert model.last_stats.replicas == {server.base_url: server.record.total for server in servers}
    assert elapsed < 240 * 0.03 / 4 * 0.75, elapsed  # one replica at 4 in flight would take 1.8 s


def test_a_replica_killed_mid_run_loses_nothing_and_answers_are_the_same(
    caplog: pytest.LogCaptureFixture,
) -> None:
    requests = [ask(f"question {i}") for i in range(300)]
    with FaultServer(latency=0.01) as alone:
        expected = texts(answers(make_model([alone.base_url], concurrency=8), requests))
    assert expected == {i: f"echo: question {i}" for i in range(300)}

    b = FaultServer(latency=0.03)  # stopped by the test itself
    b.start()
    with FaultServer(latency=0.03) as a, FaultServer(latency=0.03) as c:
        killed: list[int] = []

        def kill_b_after_30() -> None:
            while b.record.total < 30:
                time.sleep(0.002)
            b.stop()  # in-flight requests are cut off; the port then refuses connections
            killed.append(b.record.total)

        killer = threading.Thread(target=kill_b_after_30, daemon=True)
        killer.start()
        model = make_model([a.base_url, b.base_url, c.base_url], concurrency=8)
        with caplog.at_level(logging.WARNING, logger="mmlens.models.replicas"):
            responses = answers(model, requests)
        killer.join(5)
        totals = {"a": a.record.total, "b": b.record.total, "c": c.record.total}
    assert killed, "replica b was never stopped"
    assert texts(responses) == expected
    assert all(response.ok for response in responses.values())
    assert totals["b"] < 60 and totals["a"] + totals["c"] >= 240, totals
    counts = model.last_stats.replicas
    assert sum(counts.values()) == 300, counts  # one answer per request, whoever gave it
    assert counts[b.base_url] <= totals["b"] and counts[b.base_url] < 60, counts
    taken_out = [record.getMessage() for record in caplog.records if "taken out" in record.getMessage()]
    assert len(taken_out) == 1 and b.base_url in taken_out[0] and "2 of 3 replicas left" in taken_out[0]


def closed_port_url() -> str:
    with FaultServer() as server:
        return server.base_url  # nothing listens there once the server has stopped


def test_every_replica_down_stops_the_run_as_one_unreachable_endpoint_does() -> None:
    model = make_model(
        [closed_port_url(), closed_port_url()], concurrency=4, retry_backoff=0.5, max_retries=5
    )
    started = time.monotonic()
    with pytest.raises(ModelUnavailable, match="connection to .* failed.*attempts in a row"):
        answers(model, [ask(f"q{i}") for i in range(50)])
    assert time.monotonic() - started < 3  # a few attempts, not every request's retries and backoff


def test_a_replica_refusing_connections_from_the_start_is_taken_out_and_the_rest_answer() -> None:
    dead = closed_port_url()
    with FaultServer(latency=0.01) as alive:
        model = make_model([dead, alive.base_url], concurrency=4, retry_backoff=0.5)
        started = time.monotonic()
        responses = answers(model, [ask(f"q{i}") for i in range(60)])
        elapsed = time.monotonic() - started
    assert texts(responses) == {i: f"echo: q{i}" for i in range(60)}
    assert model.last_stats.replicas == {dead: 0, alive.base_url: 60}
    assert elapsed < 1.5, elapsed  # failed over at once, never waiting out a backoff


def test_which_replicas_serve_never_enters_the_fingerprint() -> None:
    one_set = make_model(["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"])
    other_set = make_model(["http://10.0.0.3:8000/v1/", "http://10.0.0.4:8000/v1", "http://10.0.0.5/v1"])
    assert one_set.fingerprint_key() == other_set.fingerprint_key()
    assert "10.0.0" not in one_set.fingerprint_key()
    single = build_model(ModelSpec(backend="openai", name="fault-model", args={"base_url": "http://h:1/v1"}))
    assert single.fingerprint()["base_url"] == "http://h:1/v1"  # one endpoint: its key stays as it was


def test_base_url_repeated_on_the_command_line_becomes_a_replica_list() -> None:
    parser = argparse.ArgumentParser()
    add_model_options(parser, None)
    args = parser.parse_args(
        [
            "--base-url",
            "http://127.0.0.1:8001/v1",
            "--base-url",
            "http://127.0.0.1:8002/v1",
            "--concurrency",
            "8",
        ]
    )
    spec = ModelSpec(backend="openai", name="m", args=parse_model_args(model_args_text(args)))
    model = build_model(spec)
    assert isinstance(model, OpenAIModel)
    assert model.args.replica_urls == ["http://127.0.0.1:8001/v1", "http://127.0.0.1:8002/v1"]
    assert model.args.concurrency == 8
    one = parser.parse_args(["--base-url", "http://127.0.0.1:8001/v1"])
    assert model_args_text(one) == "base_url=http://127.0.0.1:8001/v1"
    unquoted = parse_model_args("base_urls=[http://a:1/v1/chat/completions, http://b:2/v1]")
    assert build_model(ModelSpec(backend="openai", name="m", args=unquoted)).args.replica_urls == [  # type: ignore[attr-defined]
        "http://a:1/v1",
        "http://b:2/v1",
    ]


def test_mmlens_run_over_replicas_stores_answers_any_replica_set_reuses(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Two runs of one task, on replicas A+B then on B+C: the second computes nothing (the stored
    answers do not depend on which replica gave them) and both have the same numbers."""
    from mmlens.cli import main

    task = build_numbers_task(tmp_path / "bench", count=40, duplicates=0)
    store = tmp_path / "s.sqlite"

    def run(*urls: str) -> tuple[dict[str, Any], str]:
        argv = [
            "--store",
            str(store),
            "run",
            "numbers",
            "--include",
            str(task),
            "--model",
            "openai:fault-model",
        ]
        argv += [item for url in urls for item in ("--base-url", url)]
        argv += ["--output-dir", str(tmp_path / "runs"), "--no-progress", "--json", "--concurrency", "4"]
        assert main(argv) == 0
        captured = capsys.readouterr()
        return json.loads(captured.out), captured.err

    with FaultServer(latency=0.01) as a, FaultServer(latency=0.01) as b, FaultServer(latency=0.01) as c:
        first, first_err = run(a.base_url, b.base_url)
        second, second_err = run(b.base_url, c.base_url)
        totals = [a.record.total, b.record.total, c.record.total]
    assert first["provenance"]["requests"]["computed"] == 40
    assert (
        second["provenance"]["requests"]["computed"] == 0 and second["provenance"]["requests"]["cached"] == 40
    )
    assert totals[0] > 0 and totals[1] > 0 and totals[2] == 0 and sum(totals) == 40, totals
    assert second["metrics"] == first["metrics"]
    assert "base_url" not in json.dumps(first["provenance"]["model"]["fingerprint"])
    assert f"answered by: {a.base_url} {totals[0]}, {b.base_url} {totals[1]}" in first_err
    # the same counts in results.json's provenance (never in the fingerprint or a stored answer)
    assert first["provenance"]["model"]["answered_by"] == {a.base_url: totals[0], b.base_url: totals[1]}
    assert "answered_by" not in second["provenance"]["model"]
    assert "answered by" not in second_err  # nothing was sent


def test_an_overloaded_replica_is_backed_off_alone() -> None:
    """Replica a takes 2 requests at a time (429 past that), b takes everything: a's limit comes down
    while b keeps its own 8 in flight, and every request is answered."""
    requests = [ask(f"q{i}") for i in range(200)]
    with FaultServer(latency=0.02, capacity=2) as a, FaultServer(latency=0.02) as b:
        model = make_model([a.base_url, b.base_url], concurrency=8, max_retries=8, retry_backoff=0.01)
        responses = answers(model, requests)
        rejected, b_most = a.record.rejected_for_capacity, b.record.max_in_flight
    assert texts(responses) == {i: f"echo: q{i}" for i in range(200)}
    assert rejected > 0 and model.last_stats.overload_signals > 0
    assert b_most == 8
    assert model.last_stats.lowest_concurrency < 8  # a's limit, halved
    counts = model.last_stats.replicas
    assert counts[b.base_url] > counts[a.base_url], counts
