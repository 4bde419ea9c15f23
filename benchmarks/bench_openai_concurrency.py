"""Throughput of the openai backend against a local server that answers every request after 100 ms.

The server (tests/fixtures/fault_server.py) runs in its own process, as a real server would, so it
shares neither the client's event loop nor its interpreter lock. With a fixed 100 ms latency the ideal
throughput at concurrency c is c / 0.1 s; the goal is at least 90% of it up to c = 64. Each level is
measured ``--repeats`` times (median and range printed). The CPU time per request of the client and of
the server are printed too: on a busy machine the wall-clock ratio says as much about the other
processes as about the client, and a server near a full core would be the bottleneck itself.

    python benchmarks/bench_openai_concurrency.py [--levels 1,8,32,64,128] [--latency 0.1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mmlens.core.messages import Message  # noqa: E402
from mmlens.core.requests import GenerationSettings, Request, Response  # noqa: E402
from mmlens.models.base import ModelSpec, build_model  # noqa: E402


@dataclass
class LocalServer:
    base_url: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux; NaN elsewhere)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def local_server(latency: float) -> Iterator[LocalServer]:
    """Start tests/fixtures/fault_server.py in a subprocess; yield it; always stop it."""
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
        yield LocalServer(f"http://127.0.0.1:{int(line.split()[1])}/v1", server.pid)
    finally:
        server.terminate()
        server.wait(10)


@dataclass
class Measurement:
    seconds: float
    client_cpu_seconds: float
    server_cpu_seconds: float
    answered: int


def measure(server: LocalServer, concurrency: int, count: int) -> Measurement:
    """``count`` requests at ``concurrency`` through one ``process`` call, as a run would make them."""
    model = build_model(
        ModelSpec(
            backend="openai", name="bench", args={"base_url": server.base_url, "concurrency": concurrency}
        )
    )
    requests = [
        Request("generate", (Message.user(f"question {i}"),), GenerationSettings(max_new_tokens=8))
        for i in range(count)
    ]
    answered = 0

    def emit(index: int, response: Response) -> None:
        nonlocal answered
        answered += response.ok

    server_cpu_started = server.cpu_seconds()
    started, cpu_started = time.perf_counter(), time.process_time()
    model.process(requests, emit)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    return Measurement(seconds, cpu_seconds, server.cpu_seconds() - server_cpu_started, answered)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--levels", default="1,8,32,64,128")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    levels = [int(level) for level in arguments.levels.split(",")]

    with local_server(arguments.latency) as server:
        measure(server, 4, 8)  # warm up: imports, first connections
        print(
            f"server latency {arguments.latency * 1000:.0f} ms; requests per level = max(50, 8 x concurrency)"
            f"; {arguments.repeats} repeats (median, and the range); {os.cpu_count()} CPUs"
        )
        print(
            f"{'concurrency':>11} {'requests':>8} {'ideal/s':>8} {'req/s':>8} {'ratio':>6} {'range':>13} "
            f"{'client CPU ms/req':>17} {'server CPU ms/req':>17}"
        )
        for concurrency in levels:
            count = max(50, 8 * concurrency)
            runs = [measure(server, concurrency, count) for _ in range(arguments.repeats)]
            failed = sum(count - run.answered for run in runs)
            if failed:
                print(f"  warning: {failed} of {count * len(runs)} requests failed")
            ideal = concurrency / arguments.latency
            ratios = sorted(count / run.seconds / ideal for run in runs)
            ratio = statistics.median(ratios)
            client_ms = statistics.median(run.client_cpu_seconds for run in runs) / count * 1000
            server_ms = statistics.median(run.server_cpu_seconds for run in runs) / count * 1000
            spread = f"{ratios[0]:.1%}-{ratios[-1]:.1%}"
            print(
                f"{concurrency:>11} {count:>8} {ideal:>8.0f} {ratio * ideal:>8.1f} {ratio:>6.1%}"
                f" {spread:>13} {client_ms:>17.2f} {server_ms:>17.2f}"
            )


if __name__ == "__main__":
    main()
