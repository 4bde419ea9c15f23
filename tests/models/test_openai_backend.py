"""The openai backend against a real misbehaving HTTP server on 127.0.0.1 (tests/fixtures/fault_server.py)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mmlens.core.errors import ConfigError
from mmlens.core.media import BytesImage, FileImage, GeneratedImage, ImageRef, VideoRef
from mmlens.core.messages import ImagePart, Message, VideoPart
from mmlens.core.requests import GenerationSettings, Request, Response
from mmlens.models.base import ModelSpec, build_model, parse_model_spec
from mmlens.models.http_retry import AdaptiveConcurrency, backoff_delay, parse_retry_after
from mmlens.models.openai import OpenAIModel
from mmlens.models.openai_payload import (
    ContinuationNotFound,
    LogprobsUnavailable,
    MalformedReply,
    continuation_logprob,
    json_codec,
    reply_text,
)
from tests.fixtures.fault_server import FaultServer, fake_logprob, fake_tokens

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(60)


def make_model(server: FaultServer, **args: Any) -> OpenAIModel:
    settings = {"base_url": server.base_url, "timeout": 2, "retry_backoff": 0.01, "max_retries": 3, **args}
    model = build_model(ModelSpec(backend="openai", name="fault-model", args=settings))
    assert isinstance(model, OpenAIModel)
    return model


def ask(text: str, *extra: Any, settings: GenerationSettings | None = None) -> Request:
    return Request("generate", (Message.user(*extra, text),), settings or GenerationSettings())


def run(model: OpenAIModel, requests: list[Request]) -> tuple[dict[int, Response], list[int]]:
    """Process and collect; also returns every emitted index in order (to catch duplicates)."""
    responses: dict[int, Response] = {}
    emitted: list[int] = []

    def emit(index: int, response: Response) -> None:
        emitted.append(index)
        responses[index] = response

    model.process(requests, emit)
    return responses, emitted


def png_bytes(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


# ----- answers, retries, errors -----


def test_every_request_is_answered_once_with_its_own_answer_despite_faults() -> None:
    plans = [
        [],
        ["429:0.2"],
        ["500", "500"],
        ["badjson"],
        ["drop"],
        ["hang"],
        ["503", "429"],
        ["500"] * 10,  # more failures than max_retries=3 allows
    ]
    cases = [(f"question {i} #fault={','.join(plans[i % 8]) or 'ok'}", plans[i % 8]) for i in range(24)]
    with FaultServer(latency=0.01, hang_seconds=10) as server:
        model = make_model(server, concurrency=8, timeout=1.0)
        responses, emitted = run(model, [ask(prompt) for prompt, _ in cases])
        counts = dict(server.record.counts)

    assert sorted(emitted) == list(range(len(cases)))  # each index exactly once
    for index, (prompt, plan) in enumerate(cases):
        response = responses[index]
        if len(plan) > 3:
            assert response.text is None
            assert response.error is not None and "gave up after 4 attempts" in response.error
            assert "HTTP 500" in response.error
            assert counts[prompt] == 4
        else:
            assert response.error is None, response.error
            assert response.text == f"echo: {prompt}"
            assert counts[prompt] == len(plan) + 1  # no request was sent more often than needed
            assert response.usage is not None and response.usage["prompt_tokens"] == len(prompt.split())
    assert model.last_stats.errors == sum(len(plan) > 3 for _, plan in cases)
    assert model.last_stats.retries == sum(min(len(plan), 3) for _, plan in cases)


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        ("400", "HTTP 400"),
        ("401", "environment variable OPENAI_API_KEY"),
        ("404", "check base_url"),
        ("422", "HTTP 422"),
        ("quota", "quota"),
        ("307", "redirected to /v1/moved/chat/completions"),
    ],
)
def test_client_errors_are_not_retried_and_say_why(behaviour: str, expected: str) -> None:
    prompt = f"which one? #fault={behaviour}"
    with FaultServer() as server:
        responses, _ = run(make_model(server), [ask(prompt)])
        assert server.record.counts[prompt] == 1
    assert responses[0].text is None
    assert responses[0].error is not None and expected in responses[0].error


def test_retry_after_in_seconds_and_as_http_date_is_honoured() -> None:
    seconds, date, plain = "a #fault=429:1", "b #fault=429:date:2", "c #fault=429"
    with FaultServer() as server:
        model = make_model(server, concurrency=1)
        responses, _ = run(model, [ask(plain)])
        responses_after, _ = run(model, [ask(seconds)])
        responses_date, _ = run(model, [ask(date)])
        arrivals = server.record.arrivals
    assert responses[0].ok and responses_after[0].ok and responses_date[0].ok
    gap = {prompt: arrivals[prompt][1] - arrivals[prompt][0] for prompt in (seconds, date, plain)}
    assert gap[plain] < 0.5  # without the header the backoff is short (retry_backoff=0.01)...
    assert gap[seconds] >= 0.95  # ...so these waits come from Retry-After
    assert gap[date] >= 0.95  # an HTTP date has 1-second resolution: now+2 s is 1 to 2 s away


def test_retry_after_parsing() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == pytest.approx(10.0)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412500.0) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_grows_exponentially_within_jitter_and_cap() -> None:
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (10, 30.0)]:
        delays = [backoff_delay(attempt, 0.5, 30.0) for _ in range(200)]
        assert min(delays) >= ceiling / 2 and max(delays) <= ceiling
        assert max(delays) - min(delays) > ceiling / 10  # jittered, not in lock step


def test_a_reply_that_stops_halfway_or_never_comes_is_timed_out() -> None:
    stalled, silent = "half a reply #fault=stall", "no reply #fault=hang,hang"
    with FaultServer(hang_seconds=10) as server:
        model = make_model(server, timeout=0.5, max_retries=1, concurrency=2)
        started = time.monotonic()
        responses, _ = run(model, [ask(stalled), ask(silent)])
        elapsed = time.monotonic() - started
        counts = dict(server.record.counts)
    assert responses[0].text == f"echo: {stalled}" and counts[stalled] == 2  # retried after the timeout
    assert responses[1].error is not None and "no reply from" in responses[1].error
    assert "within 0.5 s" in responses[1].error and counts[silent] == 2
    assert elapsed < 3  # two attempts of 0.5 s each, not the server's 10 s


def test_connection_refused_ends_in_a_clear_error() -> None:
    with FaultServer() as server:
        base_url = server.base_url
    model = build_model(
        ModelSpec(
            backend="openai", name="m", args={"base_url": base_url, "max_retries": 1, "retry_backoff": 0.01}
        )
    )
    responses, _ = run(model, [ask("anyone there?")])  # type: ignore[arg-type]
    assert responses[0].text is None
    assert responses[0].error is not None and "connection to" in responses[0].error


# ----- concurrency -----


def test_concurrency_bound_is_respected_and_used() -> None:
    with FaultServer(latency=0.05) as server:
        model = make_model(server, concurrency=5)
        responses, _ = run(model, [ask(f"q{i}") for i in range(40)])
        assert server.record.max_in_flight == 5
    assert all(r.ok for r in responses.values())


def test_connections_are_kept_alive_and_bounded_by_concurrency() -> None:
    with FaultServer(latency=0.01) as server:
        responses, _ = run(make_model(server, concurrency=4), [ask(f"k{i}") for i in range(40)])
        connections = server.record.connections
    assert all(r.ok for r in responses.values())
    assert 1 <= len(connections) <= 4  # 40 requests over at most 4 kept-alive connections


def test_concurrency_adapts_to_an_overloaded_server() -> None:
    """A server that takes 3 at a time: the client halves its limit instead of hammering it."""
    with FaultServer(latency=0.03, capacity=3) as server:
        model = make_model(server, concurrency=24, max_retries=12, retry_backoff=0.02, max_wait=0.2)
        responses, _ = run(model, [ask(f"q{i}") for i in range(120)])
        rejected = server.record.rejected_for_capacity
    assert all(r.ok for r in responses.values())
    assert all(responses[i].text == f"echo: q{i}" for i in range(120))
    assert model.last_stats.lowest_concurrency <= 6
    # without adaptation 24 clients against 3 slots are rejected several times per request
    assert rejected < 120, rejected


def test_adaptive_limit_halves_once_per_window_and_recovers_gradually() -> None:
    async def scenario() -> list[int]:
        limiter = AdaptiveConcurrency(16)
        tickets = [await limiter.acquire() for _ in range(16)]
        for _ in tickets:
            limiter.release()
        for ticket in tickets:  # a whole window of 429s answering one burst
            limiter.on_overload(ticket)
        seen = [limiter.current]
        new_ticket = await limiter.acquire()
        limiter.release()
        limiter.on_overload(new_ticket)  # a request sent after the decrease: a new signal
        seen.append(limiter.current)
        for _ in range(5):  # 4 + 1/4 + 1/4.25 + ... > 5 after five successes
            limiter.on_success()
        seen.append(limiter.current)
        for _ in range(500):
            limiter.on_success()
        seen.append(limiter.current)
        return seen

    assert asyncio.run(scenario()) == [8, 4, 5, 16]


# ----- what is sent -----


def test_api_key_comes_from_the_named_variable_and_never_leaks(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-9f8e7d6c5b4a"
    monkeypatch.setenv("MY_ENDPOINT_KEY", secret)
    with FaultServer() as server:
        model = make_model(server, api_key_env="MY_ENDPOINT_KEY")
        responses, _ = run(model, [ask("hello"), ask("denied #fault=401"), ask("leaky #fault=leakkey")])
        headers = list(server.record.authorization)
    assert "Bearer " + secret in headers
    assert responses[0].text == "echo: hello"
    assert responses[1].error is not None and "MY_ENDPOINT_KEY" in responses[1].error
    assert responses[2].error is not None and "Incorrect API key" in responses[2].error
    for text in (
        json.dumps(model.fingerprint()),
        model.fingerprint_key(),
        repr(model.args),
        repr(model.__dict__),
    ):
        assert secret not in text
    assert all(secret not in (r.error or "") for r in responses.values())


def test_proxies_from_the_environment_are_used_unless_no_proxy_exempts_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "all_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    with FaultServer() as server:
        # the fault server also answers requests addressed to it as a proxy (absolute-form URLs)
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{server.port}")
        monkeypatch.setenv("no_proxy", "")
        unreachable = build_model(
            ModelSpec(
                backend="openai",
                name="m",
                args={"base_url": "http://model.invalid:9/v1", "timeout": 2, "max_retries": 0},
            )
        )
        proxied, _ = run(unreachable, [ask("via the proxy")])  # type: ignore[arg-type]

        monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # a dead proxy...
        monkeypatch.setenv("no_proxy", "127.0.0.1")  # ...that this host does not use
        direct, _ = run(make_model(server), [ask("around the proxy")])
        monkeypatch.setenv("no_proxy", "")
        refused, _ = run(make_model(server, max_retries=0), [ask("through the dead proxy")])
        counts = dict(server.record.counts)
    assert proxied[0].text == "echo: via the proxy"
    assert direct[0].text == "echo: around the proxy"
    assert refused[0].error is not None and "connection to" in refused[0].error
    assert "through the dead proxy" not in counts


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        + ["-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_https_checks_the_server_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with FaultServer(ssl_context=server_context) as server:
        assert server.base_url.startswith("https://")
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        untrusted_model = make_model(server)
        untrusted, _ = run(untrusted_model, [ask("over tls")])
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        trusted, _ = run(make_model(server), [ask("over tls")])
    assert untrusted[0].error is not None and "certificate" in untrusted[0].error
    assert "SSL_CERT_FILE" in untrusted[0].error
    assert untrusted_model.last_stats.attempts == 1  # an untrusted certificate is not retried
    assert trusted[0].text == "echo: over tls"


def test_no_authorization_header_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FaultServer() as server:
        responses, _ = run(make_model(server), [ask("local")])
        assert server.record.authorization == [None]
    assert responses[0].text == "echo: local"


def test_generation_settings_become_chat_completion_fields() -> None:
    settings = GenerationSettings(
        max_new_tokens=7, temperature=0.3, top_p=0.9, stop=("x1", "x2", "x3", "x4", "beta"), seed=11
    )
    with FaultServer() as server:
        responses, _ = run(make_model(server), [ask("alpha beta gamma", settings=settings)])
        body = server.record.bodies["alpha beta gamma"][0]
        other = make_model(
            server, token_limit_field="max_completion_tokens", extra_body={"top_k": 3, "temperature": None}
        )
        run(other, [ask("second")])
        other_body = server.record.bodies["second"][0]
    assert body["model"] == "fault-model"
    assert (
        body["max_tokens"] == 7 and body["temperature"] == 0.3 and body["top_p"] == 0.9 and body["seed"] == 11
    )
    assert body["stop"] == ["x1", "x2", "x3", "x4"]  # servers take at most 4...
    assert responses[0].text == "echo: alpha "  # ...the fifth is applied to the text
    assert body["messages"] == [{"role": "user", "content": "alpha beta gamma"}]
    assert other_body["max_completion_tokens"] == 64 and "max_tokens" not in other_body
    assert other_body["top_k"] == 3 and "temperature" not in other_body


def test_images_arrive_as_base64_data_urls_of_the_original_bytes(tmp_path: Path) -> None:
    png = png_bytes((20, 10), (255, 0, 0))
    jpeg_path = tmp_path / "photo.jpg"
    Image.new("RGB", (16, 16), (0, 0, 255)).save(jpeg_path, format="JPEG")
    drawn = GeneratedImage("test/green-v1", lambda: Image.new("RGB", (8, 6), (0, 255, 0)))
    with FaultServer() as server:
        model = make_model(server, image_detail="low")
        responses, _ = run(
            model,
            [
                ask("two images", ImagePart(BytesImage(png)), ImagePart(FileImage(jpeg_path))),
                ask("drawn", ImagePart(drawn)),
            ],
        )
        received = server.record.images
        parts = server.record.bodies["two images"][0]["messages"][0]["content"]
        assert server.record.bad_images == []
    assert responses[0].ok and responses[1].ok
    assert [(image.mime, image.data) for image in received["two images"]] == [
        ("image/png", png),
        ("image/jpeg", jpeg_path.read_bytes()),
    ]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"]
    assert parts[0]["image_url"]["detail"] == "low"
    (green,) = received["drawn"]
    assert green.mime == "image/png"
    decoded = Image.open(io.BytesIO(green.data))
    assert decoded.size == (8, 6) and decoded.convert("RGB").getpixel((3, 3)) == (0, 255, 0)


def test_max_pixels_and_format_and_drop_images() -> None:
    big = BytesImage(png_bytes((200, 100), (10, 200, 30)))
    with FaultServer() as server:
        run(make_model(server, max_pixels=5000, image_format="jpeg"), [ask("small", ImagePart(big))])
        run(make_model(server, drop_images=True), [ask("blind", ImagePart(big))])
        (small,) = server.record.images["small"]
        blind_body = server.record.bodies["blind"][0]
    assert small.mime == "image/jpeg"
    width, height = Image.open(io.BytesIO(small.data)).size
    assert width * height <= 5000 and width * height > 4000
    assert abs(width / height - 2.0) < 0.05
    assert blind_body["messages"] == [{"role": "user", "content": "blind"}]


class RemoteImage(ImageRef):
    """An image known only by its URL."""

    url = "https://images.example.org/cat.png"

    @property
    def digest(self) -> str:
        return "url:" + self.url

    def encoded(self) -> bytes:
        raise AssertionError("an image known by URL is not downloaded by the client")


def test_request_bodies_are_compact_utf8_json_with_or_without_orjson(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "héllo ☃"}], "temperature": 0.5}
    codecs = [json_codec()]
    monkeypatch.setitem(sys.modules, "orjson", None)  # as if it were not installed
    codecs.append(json_codec())
    for dump, load in codecs:
        data = dump(body)
        assert json.loads(data.decode("utf-8")) == body and load(data) == body
        assert "héllo ☃".encode() in data and b", " not in data
        with pytest.raises((TypeError, ValueError)):
            dump({"not json": {1, 2}})


def test_a_body_that_cannot_be_json_is_an_error_and_the_rest_go_on() -> None:
    with FaultServer() as server:
        model = make_model(server, extra_body={"weights": {0.1, 0.2}})  # a set, from Python callers
        responses, _ = run(model, [ask("set")])
        fine, _ = run(make_model(server), [ask("fine")])
        assert "set" not in server.record.counts
    assert responses[0].error is not None and "cannot be written as JSON" in responses[0].error
    assert fine[0].text == "echo: fine"


def test_an_image_known_by_url_is_passed_through() -> None:
    with FaultServer() as server:
        responses, _ = run(make_model(server), [ask("remote", ImagePart(RemoteImage()))])
        parts = server.record.bodies["remote"][0]["messages"][0]["content"]
    assert responses[0].ok
    assert parts[0] == {"type": "image_url", "image_url": {"url": RemoteImage.url}}


def test_a_video_request_gets_an_error_and_the_rest_go_on(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not really a video")
    with FaultServer() as server:
        responses, _ = run(make_model(server), [ask("video", VideoPart(VideoRef(video))), ask("text")])
        assert "video" not in server.record.counts
    assert responses[0].error is not None and "video" in responses[0].error
    assert responses[1].text == "echo: text"


# ----- log-likelihood -----


def loglikelihood(question: str, continuation: str) -> Request:
    return Request("loglikelihood", (Message.user(question),), continuation=continuation)


def test_loglikelihood_sums_the_completion_tokens_from_prompt_logprobs() -> None:
    with FaultServer(logprobs_mode="vllm") as server:
        requests = [loglikelihood("capital of France?", "Paris is"), loglikelihood("colour?", "blue sky")]
        responses, _ = run(make_model(server), requests)
        body = server.record.bodies["capital of France?"][0]
    for index, continuation in enumerate(["Paris is", "blue sky"]):
        expected = sum(fake_logprob(token)[0] for token in fake_tokens(" " + continuation))
        assert responses[index].logprob == pytest.approx(expected)
        # The scored tokens (what SEED-Bench-2's per-token mean divides by), not the generated one.
        assert (responses[index].usage or {})["completion_tokens"] == len(fake_tokens(" " + continuation))
    assert responses[0].is_greedy is False  # "Paris" is not the fake model's top choice
    assert responses[1].is_greedy is True
    assert body["messages"][-1] == {"role": "assistant", "content": "Paris is"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert body["prompt_logprobs"] == 1


@pytest.mark.parametrize(
    ("mode", "reason"), [("reject", "HTTP 422"), ("ignore", "no prompt log-probabilities")]
)
def test_loglikelihood_on_an_endpoint_without_it_is_a_clear_error(mode: str, reason: str) -> None:
    requests = [loglikelihood(f"question {i}", "yes") for i in range(10)] + [ask("still generating")]
    with FaultServer(logprobs_mode=mode) as server:
        responses, emitted = run(make_model(server), requests)
        asked = sum(count for prompt, count in server.record.counts.items() if prompt.startswith("question"))
    assert sorted(emitted) == list(range(11))
    assert asked == 1  # one probe, not one doomed request per sample
    for index in range(10):
        assert responses[index].logprob is None
        error = responses[index].error or ""
        assert error.startswith("log-likelihood is not supported by this endpoint") and reason in error
    assert responses[10].text == "echo: still generating"


# ----- threads, event loops, Ctrl-C -----


def test_emit_runs_on_the_calling_thread_even_inside_a_running_event_loop() -> None:
    with FaultServer(latency=0.01) as server:
        model = make_model(server)
        threads: set[int] = set()

        def collect(responses: dict[int, Response]) -> Any:
            def emit(index: int, response: Response) -> None:
                threads.add(threading.get_ident())
                responses[index] = response

            return emit

        plain: dict[int, Response] = {}
        model.process([ask(f"p{i}") for i in range(10)], collect(plain))
        assert threads == {threading.get_ident()}

        async def notebook_cell() -> dict[int, Response]:
            nested: dict[int, Response] = {}
            model.process([ask(f"n{i}") for i in range(10)], collect(nested))
            return nested

        nested = asyncio.run(notebook_cell())
    assert threads == {threading.get_ident()}
    assert [nested[i].text for i in range(10)] == [f"echo: n{i}" for i in range(10)]
    assert [plain[i].text for i in range(10)] == [f"echo: p{i}" for i in range(10)]


CTRL_C_SCRIPT = textwrap.dedent(
    """
    import sys
    from mmlens.core.messages import Message
    from mmlens.core.requests import Request
    from mmlens.models.base import ModelSpec, build_model

    args = {"base_url": sys.argv[1], "concurrency": 4}
    model = build_model(ModelSpec(backend="openai", name="m", args=args))
    requests = [Request("generate", (Message.user(f"q{i}"),)) for i in range(200)]

    def emit(index, response):
        print("EMIT", index, response.text, flush=True)

    try:
        model.process(requests, emit)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
        sys.exit(130)
    print("FINISHED", flush=True)
    """
)


def test_ctrl_c_stops_cleanly_keeping_what_was_emitted(tmp_path: Path) -> None:
    script = tmp_path / "ctrl_c.py"
    script.write_text(CTRL_C_SCRIPT)
    with FaultServer(latency=0.2) as server:
        process = subprocess.Popen(
            [sys.executable, str(script), server.base_url],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        )
        assert process.stdout is not None
        lines = []
        while len(lines) < 6:
            line = process.stdout.readline()
            assert line, "the script ended before answering anything"
            lines.append(line.strip())
        process.send_signal(signal.SIGINT)
        interrupted_at = time.monotonic()
        rest, _ = process.communicate(timeout=10)
        stopped_after = time.monotonic() - interrupted_at
        time.sleep(0.3)
        total_received = server.record.total
    lines += [line for line in rest.splitlines() if line]
    assert process.returncode == 130 and lines[-1] == "INTERRUPTED"
    assert stopped_after < 3
    emitted = [line.split() for line in lines if line.startswith("EMIT")]
    indices = [int(parts[1]) for parts in emitted]
    assert len(indices) == len(set(indices)) >= 6
    assert all(parts[2:] == ["echo:", f"q{parts[1]}"] for parts in emitted)
    assert total_received < 200  # the rest was never sent


# ----- options -----


def test_model_args_from_the_command_line() -> None:
    spec = parse_model_spec(
        "openai:gpt-4o-mini", "base_url=http://127.0.0.1:9/v1/,concurrency=32,max_pixels=none"
    )
    model = build_model(spec)
    assert isinstance(model, OpenAIModel)
    assert model.args.base_url == "http://127.0.0.1:9/v1" and model.args.concurrency == 32
    assert model.args.max_pixels is None
    extra = build_model(parse_model_spec("openai:m", 'extra_body={"top_k": 2}'))
    assert isinstance(extra, OpenAIModel) and extra.args.extra_body == {"top_k": 2}
    with pytest.raises(ConfigError, match="name the served model"):
        build_model(parse_model_spec("openai"))
    with pytest.raises(ConfigError, match="base_url"):
        build_model(parse_model_spec("openai:m", "base_url=localhost:8000"))
    with pytest.raises(ConfigError, match="unexpected_option"):
        build_model(parse_model_spec("openai:m", "unexpected_option=1"))


def test_fingerprint_has_what_changes_answers_only() -> None:
    def key(**args: Any) -> str:
        return build_model(ModelSpec(backend="openai", name="m", args=args)).fingerprint_key()

    base = key()
    assert key(concurrency=3, timeout=5, max_retries=0, api_key_env="OTHER") == base
    assert key(max_pixels=1000) != base
    assert key(drop_images=True) != base
    assert key(base_url="http://127.0.0.1:8000/v1") != base
    assert key(extra_body={"top_k": 1}) != base
    assert build_model(ModelSpec(backend="openai", name="other")).fingerprint_key() != base


# ----- reading replies -----


def test_reply_text_takes_content_parts_and_refusals_and_reports_errors() -> None:
    assert (
        reply_text({"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"text": "b"}]}}]})
        == "ab"
    )
    assert (
        reply_text({"choices": [{"message": {"content": None, "refusal": "I can't help"}}]}) == "I can't help"
    )
    with pytest.raises(MalformedReply, match="rate limited upstream"):
        reply_text({"error": {"message": "rate limited upstream"}})
    with pytest.raises(MalformedReply, match="finish_reason='length'"):
        reply_text({"choices": [{"message": {"content": None}, "finish_reason": "length"}]})


def test_continuation_is_found_among_the_last_prompt_tokens_or_reported() -> None:
    def entry(token: str, logprob: float, rank: int) -> dict[str, Any]:
        return {"5": {"logprob": logprob, "rank": rank, "decoded_token": token}}

    reply = {
        "prompt_logprobs": [None, entry("<user>", -9.0, 3), entry(" Yes", -0.5, 1), entry(",", -0.25, 1)]
    }
    assert continuation_logprob(reply, " Yes, ") == (-0.75, True, 2)  # a template may trim the message
    with pytest.raises(ContinuationNotFound):
        continuation_logprob(reply, "No,")
    with pytest.raises(LogprobsUnavailable):
        continuation_logprob({"choices": [{"message": {"content": "x"}}]}, "x")
