"""Requests/s of the openai backend + store against a fast local server: one commit per response
(``commit_interval=0``) beside commits batched within ``DEFAULT_COMMIT_INTERVAL``: by the timer
thread only (before) and with a due batch committed by the put that finds it so (after).

The server (tests/fixtures/fault_server.py, zero latency) runs in its own process. Each setting runs
``execute`` (the run's own path: backend, emit, store) over fresh requests into a fresh store, in
alternation, ``--repeats`` times; the median and range are printed, with the commits made.

    python benchmarks/bench_store_commits.py [--requests 4000] [--concurrency 64] [--repeats 3]

Measured 2026-12-04 (2-core AMD EPYC; the server shares the 2 cores), medians of 3:

    commit per response                  2,756 req/s  358 us client CPU/request
    batched, timer thread only (before)  3,381 req/s  298 us
    batched, due batch in caller (after) 3,087 req/s  324 us   (ranges overlap: 3,033-4,049)

Batching cuts commits from ~4,000 to ~200. The client's own CPU (~300 us a request: aiohttp, the
event loop, the store) would allow ~3,100-3,400 req/s on a core of its own.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_openai_concurrency import LocalServer, local_server  # noqa: E402

from mmlens.core.messages import Message  # noqa: E402
from mmlens.core.requests import GenerationSettings, Request  # noqa: E402
from mmlens.models.base import ModelSpec, build_model  # noqa: E402
from mmlens.runner.execute import execute  # noqa: E402
from mmlens.store.sqlite import DEFAULT_COMMIT_INTERVAL, Store  # noqa: E402


class TimerOnlyStore(Store):
    """Batched commits as before: every batch committed by the timer thread."""

    inline_commits = False


def measure(
    server: LocalServer, interval: float, count: int, concurrency: int, tag: str, inline: bool = True
) -> tuple[float, int, float]:
    """(requests/s, commits, this process's CPU seconds per request: mmlens's own cost, all threads)."""
    model = build_model(
        ModelSpec(
            backend="openai", name="bench", args={"base_url": server.base_url, "concurrency": concurrency}
        )
    )
    requests = {
        f"{tag}-{i}": Request(
            "generate", (Message.user(f"{tag} question {i}"),), GenerationSettings(max_new_tokens=8)
        )
        for i in range(count)
    }
    with (
        tempfile.TemporaryDirectory() as folder,
        (Store if inline else TimerOnlyStore)(Path(folder) / "s.sqlite", interval) as store,
    ):
        commits: list[str] = []
        store._db.set_trace_callback(
            lambda statement: commits.append(statement) if statement == "COMMIT" else None
        )
        cpu = time.process_time()
        _, stats = execute(requests, model, store, cached_responses={})
        cpu = time.process_time() - cpu
        if stats.errors:
            print(f"  warning: {stats.errors} of {count} requests failed")
        assert store.count_responses() == count - stats.errors
    model.close()
    return count / stats.seconds, len(commits), cpu / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    batched = f"batched ({DEFAULT_COMMIT_INTERVAL * 1000:.0f} ms)"
    settings = {
        "commit per response": (0.0, True),
        f"{batched}, timer thread only (before)": (DEFAULT_COMMIT_INTERVAL, False),
        f"{batched}, due batch in the caller (after)": (DEFAULT_COMMIT_INTERVAL, True),
    }
    results: dict[str, list[tuple[float, int, float]]] = {name: [] for name in settings}
    with local_server(0.0) as server:
        measure(server, 0.0, 200, arguments.concurrency, "warm")
        for repeat in range(arguments.repeats):
            for name, (interval, inline) in settings.items():
                results[name].append(
                    measure(
                        server, interval, arguments.requests, arguments.concurrency, f"{repeat}{name}", inline
                    )
                )
    print(
        f"{arguments.requests} requests at concurrency {arguments.concurrency}, zero-latency local server; "
        f"{arguments.repeats} repeats (median, range)"
    )
    print(
        "(client CPU: mmlens's own CPU per request, every thread of this process; the server is another "
        "process on the same cores, so req/s is bounded by both; 1 / client CPU is what mmlens alone "
        "allows on one core)"
    )
    print(f"{'setting':>48} {'req/s':>8} {'range':>15} {'commits':>8} {'client CPU':>11} {'1/CPU':>8}")
    for name, runs in results.items():
        rates = sorted(rate for rate, _, _ in runs)
        commits = statistics.median(c for _, c, _ in runs)
        cpu = statistics.median(c for _, _, c in runs)
        print(
            f"{name:>48} {statistics.median(rates):>8.0f} {rates[0]:>7.0f}-{rates[-1]:<7.0f} {commits:>8.0f} "
            f"{cpu * 1e6:>8.0f} us {1 / cpu:>8.0f}"
        )


if __name__ == "__main__":
    main()
