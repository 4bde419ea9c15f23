"""Requests/s of the openai backend against a fast local server, with a thread hop for every body
that carries an image (as before) beside the hop only for bodies that need an image encoded.

The server (tests/fixtures/fault_server.py, zero latency) runs in its own process. The requests are
those of an image benchmark asking several questions about each image (POPE, MME, a likelihood
ranking's options): ``--questions`` per image, 64x64 PNG images held as bytes (a parquet cell),
in data-set order; a text-only set is measured too (it never hopped). Each setting runs ``process``
over fresh requests, in alternation, ``--repeats`` times; the median and range are printed.

    python benchmarks/bench_openai_body_hop.py [--requests 4000] [--questions 4] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_openai_concurrency import LocalServer, local_server  # noqa: E402

from mmlens.core.media import BytesImage  # noqa: E402
from mmlens.core.messages import ImagePart, Message  # noqa: E402
from mmlens.core.requests import GenerationSettings, Request, Response  # noqa: E402
from mmlens.models import openai as openai_backend  # noqa: E402
from mmlens.models.base import ModelSpec, build_model  # noqa: E402

SIDE = 64
NEW_PAYLOAD_OF = openai_backend._Run.payload_of


async def hop_for_every_image(self: openai_backend._Run, request: Request) -> bytes:
    """The body building before: off the loop whenever the request carries an image."""
    has_images = any(message.images for message in request.messages)
    if not has_images or self.args.drop_images:
        return self.body_bytes(request)
    return await asyncio.to_thread(self.body_bytes, request)


def png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(SIDE, SIDE, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def image_requests(count: int, questions: int, tag: str) -> list[Request]:
    requests = []
    for i in range(0, count, questions):
        image = BytesImage(png(i), label=f"{tag}-{i}")
        for q in range(questions):
            text = f"{tag} image {i} question {q}: is there a cat?"
            message = Message.user(ImagePart(image), text)
            requests.append(Request("generate", (message,), GenerationSettings(max_new_tokens=8)))
    return requests[:count]


def text_requests(count: int, tag: str) -> list[Request]:
    return [
        Request("generate", (Message.user(f"{tag} question {i}"),), GenerationSettings(max_new_tokens=8))
        for i in range(count)
    ]


def measure(
    server: LocalServer, requests: list[Request], concurrency: int, old: bool
) -> tuple[float, float, float]:
    """(requests/s, CPU microseconds per request of the client, every thread of this process, and
    of the server process)."""
    openai_backend._Run.payload_of = hop_for_every_image if old else NEW_PAYLOAD_OF  # type: ignore[method-assign]
    model = build_model(
        ModelSpec(
            backend="openai", name="bench", args={"base_url": server.base_url, "concurrency": concurrency}
        )
    )
    failed = 0

    def emit(index: int, response: Response) -> None:
        nonlocal failed
        failed += not response.ok

    try:
        server_started = server.cpu_seconds()
        started, cpu_started = time.perf_counter(), time.process_time()
        model.process(requests, emit)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        server_seconds = server.cpu_seconds() - server_started
    finally:
        model.close()
        openai_backend._Run.payload_of = NEW_PAYLOAD_OF  # type: ignore[method-assign]
    if failed:
        print(f"  warning: {failed} of {len(requests)} requests failed")
    return len(requests) / seconds, cpu_seconds / len(requests) * 1e6, server_seconds / len(requests) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--questions", type=int, default=4, help="questions per image")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    count, questions, concurrency = arguments.requests, arguments.questions, arguments.concurrency

    sets: dict[str, Callable[[str], list[Request]]] = {
        f"images ({questions} questions each)": lambda tag: image_requests(count, questions, tag),
        "text only": lambda tag: text_requests(count, tag),
    }
    with local_server(0.0) as server:
        measure(server, text_requests(200, "warm"), concurrency, old=False)  # imports, connections
        print(
            f"{count} requests per run, concurrency {concurrency}, zero-latency local server; "
            f"{arguments.repeats} repeats in alternation (median, and the range)"
        )
        print(
            f"{'requests':<26} {'body building':<34} {'req/s':>8} {'range':>11}"
            f" {'client CPU us/req':>18} {'server CPU us/req':>18}"
        )
        for name, build in sets.items():
            rates: dict[bool, list[float]] = {True: [], False: []}
            cpu: dict[bool, list[float]] = {True: [], False: []}
            server_cpu: dict[bool, list[float]] = {True: [], False: []}
            for repeat in range(arguments.repeats):
                for old in (True, False):
                    requests = build(f"{'old' if old else 'new'}{repeat}")
                    rate, cpu_us, server_us = measure(server, requests, concurrency, old)
                    server_cpu[old].append(server_us)
                    rates[old].append(rate)
                    cpu[old].append(cpu_us)
            for old in (True, False):
                label = "hop for every image body (before)" if old else "hop only to encode (after)"
                values = sorted(rates[old])
                spread = f"{values[0]:.0f}-{values[-1]:.0f}"
                print(
                    f"{name:<26} {label:<34} {statistics.median(values):>8.0f} {spread:>11}"
                    f" {statistics.median(cpu[old]):>18.0f} {statistics.median(server_cpu[old]):>18.0f}"
                )


if __name__ == "__main__":
    main()
