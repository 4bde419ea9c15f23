"""Claims overhead per request (µs), SQLite and PostgreSQL: ``execute`` (the run's own path: claim,
backend, emit, store, release) over fresh requests answered by the zero-latency ``constant``
backend, with claims as a run makes them, beside the same with claims switched off (the backend's
``process`` called directly, as before claims). The difference per request is what claiming costs
a run whose model answers instantly; against any real model it hides behind the model's latency.

PostgreSQL is a real server started for the benchmark (tests/fixtures/postgres.py: Debian's
``postgresql`` package, fsync off as in the tests); SQLite is a file in WAL mode.

    python benchmarks/bench_claims.py [--requests 5000] [--repeats 3] [--batch 256]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from mmlens.core.messages import Message  # noqa: E402
from mmlens.core.requests import GenerationSettings, Request  # noqa: E402
from mmlens.models.base import ModelSpec, build_model  # noqa: E402
from mmlens.runner import claims, execute  # noqa: E402
from mmlens.store.sqlite import Store  # noqa: E402


def without_claims(store: Any, keys: Any, requests: Any, process: Any, emit: Any, taken: Any) -> set[str]:
    process(requests, emit)
    return set()


def measure(location: Callable[[], Path | str], count: int, tag: str, claimed: bool) -> tuple[float, float]:
    """Seconds ``execute`` takes over ``count`` fresh requests: wall time, and this process's CPU
    time (steadier on a busy machine; the PostgreSQL server's own work is not in it)."""
    model = build_model(ModelSpec(backend="constant", name="bench"))
    requests = {
        f"{tag}-{i}": Request("generate", (Message.user(f"{tag} {i}"),), GenerationSettings(max_new_tokens=4))
        for i in range(count)
    }
    execute.process_claimed = claims.process_claimed if claimed else without_claims  # type: ignore[assignment]
    try:
        with Store(location()) as store:
            cpu = time.process_time()
            _, stats = execute.execute(requests, model, store, cached_responses={})
            cpu = time.process_time() - cpu
            assert store.count_responses() >= count and stats.computed == count
    finally:
        execute.process_claimed = claims.process_claimed
    return stats.seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256, help="MMLENS_CLAIM_BATCH")
    arguments = parser.parse_args()
    os.environ["MMLENS_CLAIM_BATCH"] = str(arguments.batch)
    from tests.fixtures.postgres import PostgresServer

    server = PostgresServer().start()
    folder = tempfile.mkdtemp(prefix="mmlens-bench-claims-")
    counter = iter(range(10**6))
    backends: dict[str, Callable[[], Path | str]] = {
        "sqlite": lambda: Path(folder) / "s.sqlite",
        "postgresql": server.new_database,
    }
    batch, repeats = arguments.batch, arguments.repeats
    print(f"{arguments.requests:,} requests, claim batch {batch}, {repeats} repeats (median)")
    try:
        for name, location in backends.items():
            plain, claimed = [], []
            for _ in range(arguments.repeats):
                plain.append(measure(location, arguments.requests, f"p{next(counter)}", claimed=False))
                claimed.append(measure(location, arguments.requests, f"c{next(counter)}", claimed=True))
            without, with_claims = (statistics.median(wall for wall, _ in runs) for runs in (plain, claimed))
            cpu_without, cpu_with = (statistics.median(cpu for _, cpu in runs) for runs in (plain, claimed))
            per_request = (with_claims - without) / arguments.requests * 1e6
            cpu_per_request = (cpu_with - cpu_without) / arguments.requests * 1e6
            print(
                f"{name:>10}: without claims {arguments.requests / without:>9,.0f} req/s, "
                f"with claims {arguments.requests / with_claims:>9,.0f} req/s; claims overhead "
                f"{per_request:,.1f} µs per request (wall), {cpu_per_request:,.1f} µs (this process's CPU)"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
