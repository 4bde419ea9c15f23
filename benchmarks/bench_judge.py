"""Judge throughput: a judged run whose 1,000 judge calls go through the ``openai`` backend to a local
server that answers every request after 100 ms, at concurrency 64; then the same run again, which must
make 0 judge calls (every verdict comes from the store).

The model under test is ``constant`` (zero latency), so the run's time is the judge's. Ideal time =
calls / concurrency x latency (1,000 / 64 x 0.1 s = 1.56 s); the ratio printed is ideal / measured
(the run's whole wall time: loading the task, keying, the store's commits and scoring included).

    python benchmarks/bench_judge.py [--calls 1000] [--concurrency 64] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from benchmarks.bench_openai_concurrency import local_server  # noqa: E402
from tests.fixtures.judged_task import write_judged_task  # noqa: E402

from mmlens import api  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.1)
    arguments = parser.parse_args()
    rows = [
        {"id": f"q{i}", "question": f"What is {i} + 1?", "answer": str(i + 1), "category": "sum"}
        for i in range(arguments.calls)
    ]
    with tempfile.TemporaryDirectory() as folder, local_server(arguments.latency) as server:
        root = Path(folder)
        task = write_judged_task(root / "task", rows=rows, images=False)
        options = {
            "model_args": "text=42",
            "include": [task],
            "store": root / "store.sqlite",
            "output_dir": root / "runs",
            "roles": {"judge": "openai:bench"},
            "role_args": {"judge": f"base_url={server.base_url},concurrency={arguments.concurrency}"},
        }
        timings = []
        for attempt in ("first run", "rerun"):
            started = time.perf_counter()
            result = api.evaluate("judged_toy", "constant", **options)  # type: ignore[arg-type]
            seconds = time.perf_counter() - started
            calls = result.results["judging"]["judges"]["judge"]["calls"]
            timings.append((attempt, seconds, calls))
        ideal = arguments.calls / arguments.concurrency * arguments.latency
        print(
            f"{arguments.calls} judge calls, concurrency {arguments.concurrency}, server latency "
            f"{arguments.latency * 1000:.0f} ms; ideal {ideal:.2f} s"
        )
        for attempt, seconds, calls in timings:
            ratio = f"ratio to ideal {ideal / seconds:.1%}" if attempt == "first run" else ""
            print(
                f"{attempt:>9}: {seconds:6.2f} s  judge calls computed {calls['computed']}, "
                f"cached {calls['cached']}, errors {calls['errors']}  {ratio}"
            )
        if timings[1][2]["computed"] != 0:
            raise SystemExit("the rerun made judge calls: judge requests are not cached")


if __name__ == "__main__":
    main()
