"""Failures of the openai backend that must not look like success or slow a run down (issue 15, items 1-2).

Against a real misbehaving HTTP server on 127.0.0.1 (tests/fixtures/fault_server.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from mmlens.core.errors import ModelUnavailable
from mmlens.core.messages import Message
from mmlens.core.requests import Request, Response
from mmlens.models.base import ModelSpec, build_model
from mmlens.models.openai import OpenAIModel
from tests.fixtures.fault_server import FaultServer

pytestmark = pytest.mark.timeout(30)


def make_model(base_url: str, **args: Any) -> OpenAIModel:
    settings = {"base_url": base_url, "timeout": 2, "retry_backoff": 0.01, "max_retries": 3, **args}
    model = build_model(ModelSpec(backend="openai", name="fault-model", args=settings))
    assert isinstance(model, OpenAIModel)
    return model


def ask(text: str) -> Request:
    return Request("generate", (Message.user(text),))


def collect(model: OpenAIModel, requests: list[Request]) -> tuple[dict[int, Response], dict[int, float]]:
    """Process; the responses and when (seconds from the start) each was emitted."""
    responses: dict[int, Response] = {}
    at: dict[int, float] = {}
    started = time.monotonic()

    def emit(index: int, response: Response) -> None:
        responses[index] = response
        at[index] = time.monotonic() - started

    model.process(requests, emit)
    return responses, at


# ----- item 2: timeouts are not overload; a slow request never blocks healthy ones -----


def test_hanging_requests_do_not_shrink_concurrency_or_hold_up_the_rest() -> None:
    """100 rows, 21 of them hanging (every attempt), the hanging ones first: the 79 healthy ones are
    answered as soon as slots free up, the limit stays at 16, and the run takes about what the hanging
    ones' timeouts cost in parallel (2 attempts x 1 s), not one hanging attempt after another."""
    hanging = {i for i in range(21)}
    texts = [f"q{i} #fault=hang,hang" if i in hanging else f"q{i}" for i in range(100)]
    with FaultServer(latency=0.01, hang_seconds=20) as server:
        model = make_model(server.base_url, timeout=1, max_retries=1, concurrency=16)
        started = time.monotonic()
        responses, at = collect(model, [ask(text) for text in texts])
        elapsed = time.monotonic() - started
    healthy = [i for i in range(100) if i not in hanging]
    assert all(responses[i].text == f"echo: {texts[i]}" for i in healthy)
    assert all(responses[i].error is not None and "no reply" in (responses[i].error or "") for i in hanging)
    assert model.last_stats.lowest_concurrency == 16, model.last_stats
    assert model.last_stats.overload_signals == 0
    # every healthy row is answered once the first hanging attempts time out (1 s), not after their retries
    assert max(at[i] for i in healthy) < 1.8, sorted(at[i] for i in healthy)[-5:]
    assert elapsed < 4.5, elapsed  # 42 hanging attempt-seconds over 16 slots; serially it is 42 s


# ----- item 1: an endpoint that cannot answer stops the run at once -----


def closed_port_url() -> str:
    with FaultServer() as server:
        return server.base_url  # nothing listens there once the server has stopped


def test_nothing_listening_stops_after_a_few_attempts_not_every_requests_retries() -> None:
    model = make_model(closed_port_url(), max_retries=5, retry_backoff=0.5, concurrency=4)
    emitted: list[int] = []
    started = time.monotonic()
    with pytest.raises(ModelUnavailable, match=r"connection to http://127\.0\.0\.1:\d+/v1/chat/completions"):
        model.process([ask(f"q{i}") for i in range(200)], lambda index, response: emitted.append(index))
    assert time.monotonic() - started < 2  # 200 requests x 6 attempts with backoff took minutes
    assert emitted == []  # nothing was answered, and nothing is made up


def test_an_unknown_host_stops_the_run() -> None:
    model = make_model("http://mmlens-no-such-host.invalid/v1", max_retries=5, retry_backoff=0.5)
    started = time.monotonic()
    with pytest.raises(ModelUnavailable, match="mmlens-no-such-host.invalid"):
        model.process([ask(f"q{i}") for i in range(50)], lambda index, response: None)
    assert time.monotonic() - started < 5


def test_a_refused_key_stops_the_run_after_a_few_requests() -> None:
    with FaultServer() as server:
        model = make_model(server.base_url, concurrency=4)
        with pytest.raises(ModelUnavailable, match="HTTP 401 .*the API key was refused"):
            model.process([ask(f"q{i} #fault=401") for i in range(500)], lambda index, response: None)
        total = server.record.total
    assert total <= 8, total  # not all 500


def test_one_refusal_among_answers_is_an_error_of_that_request_only() -> None:
    texts = [f"q{i}" for i in range(30)]
    texts[10] = "q10 #fault=403"
    with FaultServer() as server:
        responses, _ = collect(make_model(server.base_url, concurrency=4), [ask(text) for text in texts])
    assert responses[10].error is not None and "HTTP 403" in responses[10].error
    assert all(responses[i].ok for i in range(30) if i != 10)


def test_a_dropped_connection_is_retried_not_taken_for_an_unreachable_endpoint() -> None:
    texts = [f"q{i} #fault=drop,drop" for i in range(6)]
    with FaultServer() as server:
        responses, _ = collect(make_model(server.base_url, concurrency=2), [ask(text) for text in texts])
    assert all(responses[i].text == f"echo: {texts[i]}" for i in range(6))
