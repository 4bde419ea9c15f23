"""Replicas: one run over 1, 2 and 4 local endpoints that each answer after 100 ms, 32 in flight each.

Each endpoint is tests/fixtures/fault_server.py in its own process (as real servers would be). The
same ``count`` requests go through one ``process`` call of the openai backend with
``base_urls=[...]``; with a fixed latency one replica's ideal throughput is concurrency / latency,
so N replicas should take 1/N of the time. The goal is a speed-up of at least 0.9 x N up to 4.
Printed side by side: seconds, requests/s, speed-up over one replica, speed-up / N, how the answers
split over the replicas and the client's CPU per request (on a machine with fewer cores than
servers + client, CPU is what limits the larger pools).

    python benchmarks/bench_replicas.py [--replicas 1,2,4] [--requests 5000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

from bench_openai_concurrency import REPO, local_server

sys.path.insert(0, str(REPO / "src"))

from mmlens.core.messages import Message  # noqa: E402
from mmlens.core.requests import GenerationSettings, Request, Response  # noqa: E402
from mmlens.models.base import ModelSpec, build_model  # noqa: E402
from mmlens.models.openai import OpenAIModel  # noqa: E402


def run_once(base_urls: list[str], concurrency: int, count: int) -> tuple[float, float, int, list[int]]:
    """Seconds, client CPU seconds, answered, answers per replica."""
    model = build_model(
        ModelSpec(backend="openai", name="bench", args={"base_urls": base_urls, "concurrency": concurrency})
    )
    assert isinstance(model, OpenAIModel)
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
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return seconds, cpu, answered, list(model.last_stats.replicas.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--replicas", default="1,2,4")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.1)
    arguments = parser.parse_args()
    levels = [int(level) for level in arguments.replicas.split(",")]

    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(local_server(arguments.latency)) for _ in range(max(levels))]
        urls = [server.base_url for server in servers]
        run_once(urls, 4, 16)  # warm up: imports, first connections
        print(
            f"{arguments.requests} requests, {arguments.latency * 1000:.0f} ms per answer, concurrency "
            f"{arguments.concurrency} per replica; {os.cpu_count()} CPUs"
        )
        print(
            f"{'replicas':>8} {'seconds':>8} {'req/s':>8} {'ideal/s':>8} {'speed-up':>8} {'/ N':>6} "
            f"{'client CPU ms/req':>17}  answers per replica"
        )
        baseline = None
        for replicas in levels:
            seconds, cpu, answered, split = run_once(
                urls[:replicas], arguments.concurrency, arguments.requests
            )
            if answered != arguments.requests:
                print(f"  warning: {arguments.requests - answered} requests failed")
            if baseline is None:  # the first level (1 replica) is the baseline
                baseline = seconds * replicas
            speedup = baseline / seconds
            ideal = replicas * arguments.concurrency / arguments.latency
            print(
                f"{replicas:>8} {seconds:>8.2f} {arguments.requests / seconds:>8.0f} {ideal:>8.0f} "
                f"{speedup:>8.2f} {speedup / replicas:>6.2f} {cpu / arguments.requests * 1000:>17.3f}  "
                f"{split}"
            )


if __name__ == "__main__":
    main()
