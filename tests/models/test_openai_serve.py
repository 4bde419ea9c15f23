"""The openai backend against a real ``transformers serve`` of a tiny Llava model on 127.0.0.1."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from mmlens.core.media import BytesImage
from mmlens.core.messages import ImagePart, Message
from mmlens.core.requests import GenerationSettings, Request, Response
from mmlens.models.base import ModelSpec, build_model
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytestmark = pytest.mark.timeout(180)

STARTUP_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_ready(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"transformers serve exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    pytest.fail(f"transformers serve was not ready within {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def served_llava(
    tiny_model_factory: TinyModelFactory,  # noqa: F811 - the session fixture imported above
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str]]:
    """(base_url, model name) of a running ``transformers serve`` pinned to a tiny Llava folder."""
    model_dir = tiny_model_factory("llava")
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(model_dir)]
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        wait_until_ready(server, f"http://127.0.0.1:{port}/health", log)
        yield f"http://127.0.0.1:{port}/v1", str(model_dir)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def red_square() -> BytesImage:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 40), (220, 20, 20)).save(buffer, format="PNG")
    return BytesImage(buffer.getvalue())


def process(base_url: str, name: str, requests: list[Request], **args: object) -> dict[int, Response]:
    model = build_model(
        ModelSpec(backend="openai", name=name, args={"base_url": base_url, "concurrency": 4, **args})
    )
    responses: dict[int, Response] = {}

    def emit(index: int, response: Response) -> None:
        assert index not in responses
        responses[index] = response

    model.process(requests, emit)
    return responses


def test_generation_with_an_image_end_to_end(served_llava: tuple[str, str]) -> None:
    base_url, name = served_llava
    settings = GenerationSettings(max_new_tokens=6)
    question = Request(
        "generate", (Message.user(ImagePart(red_square()), "Is there a cat in the image?"),), settings
    )
    responses = process(base_url, name, [question, question])
    blind = process(base_url, name, [question], drop_images=True)

    for response in [*responses.values(), blind[0]]:
        assert response.error is None, response.error
        assert isinstance(response.text, str)
        assert response.usage is not None and response.usage["completion_tokens"] >= 1
    assert responses[0].text == responses[1].text  # greedy decoding of one model is deterministic
    assert responses[0].usage is not None and blind[0].usage is not None
    # the image reached the model: its image tokens are part of the prompt
    assert responses[0].usage["prompt_tokens"] > blind[0].usage["prompt_tokens"]


def test_loglikelihood_is_reported_as_unsupported(served_llava: tuple[str, str]) -> None:
    base_url, name = served_llava
    requests = [
        Request(
            "loglikelihood", (Message.user(ImagePart(red_square()), "Is there a cat?"),), continuation=answer
        )
        for answer in ("yes", "no", "maybe")
    ]
    responses = process(base_url, name, requests)
    assert sorted(responses) == [0, 1, 2]
    for response in responses.values():
        assert response.logprob is None
        assert response.error is not None
        assert response.error.startswith("log-likelihood is not supported by this endpoint")


def test_a_wrong_model_name_is_a_clear_error(served_llava: tuple[str, str]) -> None:
    base_url, _ = served_llava
    responses = process(base_url, "no-such-model", [Request("generate", (Message.user("hello"),))])
    assert responses[0].text is None
    assert responses[0].error is not None and "HTTP 4" in responses[0].error
    assert "gave up" not in responses[0].error  # a client error is not retried
