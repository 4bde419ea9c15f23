"""The openai backend hops to a thread only to encode an image: text-only bodies, and bodies whose
images were encoded already (the questions about one image, a ranking's options), are built on the
event loop (a thread hop per request capped a fast local server); an image is encoded once however
many requests in flight show it; a body with long image URLs is still written in a thread."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from mmlens.core.media import ImageRef
from mmlens.core.messages import ImagePart, Message
from mmlens.core.requests import GenerationSettings, Request, Response
from mmlens.models import openai as openai_backend
from mmlens.models import openai_payload
from mmlens.models.base import ModelSpec, build_model
from tests.fixtures.fault_server import FaultServer
from tests.fixtures.images import random_image

pytestmark = pytest.mark.timeout(60)


def _where() -> str:
    try:
        asyncio.get_running_loop()
        return "loop"
    except RuntimeError:  # a worker thread runs no loop
        return "thread"


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """In order: ``body <prompt> loop|thread`` per body built, ``encode <size> loop|thread`` per
    image encoded."""
    events: list[str] = []
    body_bytes, encode_image = openai_backend._Run.body_bytes, openai_payload.encode_image

    def counting_body_bytes(self: openai_backend._Run, request: Request, *rest: Any) -> bytes:
        events.append(f"body {request.messages[0].text} {_where()}")
        return body_bytes(self, request, *rest)

    def counting_encode_image(image: ImageRef, *rest: Any) -> tuple[str, bytes]:
        events.append(f"encode {image.pil().width} {_where()}")
        return encode_image(image, *rest)

    monkeypatch.setattr(openai_backend._Run, "body_bytes", counting_body_bytes)
    monkeypatch.setattr(openai_payload, "encode_image", counting_encode_image)
    yield events


def _ask(requests: list[Request], concurrency: int) -> list[Response]:
    answers: dict[int, Response] = {}
    with FaultServer() as server:
        args = {"base_url": server.base_url, "concurrency": concurrency}
        model = build_model(ModelSpec(backend="openai", name="m", args=args))
        try:
            model.process(requests, lambda index, response: answers.__setitem__(index, response))
        finally:
            model.close()
    return [answers[i] for i in range(len(requests))]


def _question(text: str, image: ImageRef | None) -> Request:
    parts = (ImagePart(image), text) if image is not None else (text,)
    return Request("generate", (Message.user(*parts),), GenerationSettings(max_new_tokens=4))


def test_only_image_encoding_and_long_bodies_hop_to_a_thread(seen: list[str]) -> None:
    small, large = random_image(1, 16, 16), random_image(2, 400, 400)  # large: a ~640 KB data URL
    requests = [
        _question("t1", None),
        *(_question(f"s{i}", small) for i in range(3)),  # three questions about one image
        *(_question(f"l{i}", large) for i in range(2)),
    ]
    answers = _ask(requests, concurrency=1)
    assert all(answer.ok for answer in answers), answers
    assert seen == [
        "body t1 loop",
        "encode 16 thread",  # encoded once, off the loop...
        "body s0 loop",  # ...the bodies built on it
        "body s1 loop",
        "body s2 loop",
        "encode 400 thread",
        "body l0 thread",  # too long a body to write on the loop
        "body l1 thread",
    ]


def test_an_image_is_encoded_once_for_all_the_requests_in_flight_that_show_it(seen: list[str]) -> None:
    images = [random_image(seed, 32, 32) for seed in range(5)]
    requests = [_question(f"q{i}-{k}", image) for i, image in enumerate(images) for k in range(8)]
    answers = _ask(requests, concurrency=64)  # all eight questions about an image start together
    assert all(answer.ok for answer in answers), answers
    assert sorted(event for event in seen if event.startswith("encode")) == ["encode 32 thread"] * 5
    assert {event.rsplit(" ", 1)[1] for event in seen if event.startswith("body")} == {"loop"}
