"""Throughput of the openai backend against a local server that answers every request after 100 ms.

The server (tests/fixtures/fault_server.py) runs in its own process, so it does not share the
client's interpreter lock. With a fixed 100 ms latency the ideal throughput at concurrency c is
c / 0.1 s; the goal is at least 90% of it up to c = 64. The client's CPU time per request is printed
too: on a busy machine the wall-clock ratio says as much about the other processes as about the client.

    python benchmarks/bench_openai_concurrency.py [--levels 1,8,32,64,128] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mmlens.core.messages import Message  # noqa: E402
from mmlens.core.requests import GenerationSettings, Request, Response  # noqa: E402
from mmlens.models.base import ModelSpec, build_model  # noqa: E402


@contextlib.contextmanager
def local_server(latency: float) -> Iterator[str]:
    """Start tests/fixtures/fault_server.py in a subprocess; yield its base URL; always stop it."""
    server = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "fixtures" / "fault_server.py"), "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"fault server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}/v1"
    finally:
        server.terminate()
        server.wait(10)


def measure(base_url: str, concurrency: int, count: int) -> tuple[float, float, int]:
    """(wall seconds, client CPU seconds, answered) for ``count`` requests at ``concurrency``."""
    model = build_model(
        ModelSpec(backend="openai", name="bench", args={"base_url": base_url, "concurrency": concurrency})
    )
    requests = [
        Request("generate", (Message.user(f"question {i}"),), GenerationSettings(max_new_tokens=8))
        for i in range(count)
    ]
    answered = 0

    def emit(index: int, response: Response) -> None:
        nonlocal answered
        answered += response.ok

    started, cpu_started = time.perf_counter(), time.process_time()
    model.process(requests, emit)
    return time.perf_counter() - started, time.process_time() - cpu_started, answered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--levels", default="1,8,32,64,128")
    parser.add_argument("--latency", type=float, default=0.1)
    arguments = parser.parse_args()
    levels = [int(level) for level in arguments.levels.split(",")]

    with local_server(arguments.latency) as base_url:
        measure(base_url, 4, 8)  # warm up: imports, first connections
        print(
            f"server latency {arguments.latency * 1000:.0f} ms; requests per level = max(50, 8 x concurrency)"
        )
        print(
            f"{'concurrency':>11} {'requests':>8} {'seconds':>8} {'req/s':>8} {'ideal':>8} {'ratio':>6} "
            f"{'client CPU ms/req':>17}"
        )
        for concurrency in levels:
            count = max(50, 8 * concurrency)
            seconds, cpu_seconds, answered = measure(base_url, concurrency, count)
            if answered != count:
                print(f"  warning: {count - answered} of {count} requests failed")
            throughput = count / seconds
            ideal = concurrency / arguments.latency
            print(
                f"{concurrency:>11} {count:>8} {seconds:>8.2f} {throughput:>8.1f} {ideal:>8.1f} "
                f"{throughput / ideal:>6.1%} {cpu_seconds / count * 1000:>17.2f}"
            )


if __name__ == "__main__":
    main()
