"""Ray: wall time of a tiny-hf run with 1 vs 2 Ray workers, and the driver's overhead per request.

A tiny random Qwen2 (tests/fixtures/tiny_models.py, built offline) answers ``--requests`` short
generation requests (4 new tokens) through ``RayPoolModel`` on a local Ray with ``--cpus`` CPUs,
one CPU (one torch thread) per worker; the same requests in this process (torch on one thread, no
Ray) are the baseline. Each is warmed up first by one pass over the same requests (actors started,
model loaded, every batch shape seen), so the times are answering only; each row is the median of
``--repeats`` passes. The driver's overhead is its CPU time per request while the workers answer
(sending chunks, receiving and emitting answers). The load average is printed before and after: on
a machine whose cores other processes use, the workers share what is left and the speed-up shows
it: "core share" is the workers' CPU time over their wall time (100%: each had a whole core), and
"worker CPU ms/req" the work itself, which should not grow with the number of workers. Expect the
2-worker time to be about half of the 1-worker one on a machine with 2 free cores.

    python benchmarks/bench_ray.py [--requests 2000] [--workers 1,2] [--chunk 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from tests.fixtures.tiny_models import build_tiny_model  # noqa: E402

from mmlens.core.messages import Message  # noqa: E402
from mmlens.core.requests import GenerationSettings, Request, Response  # noqa: E402
from mmlens.models.base import Model, ModelSpec, build_model  # noqa: E402
from mmlens.models.ray_pool import RayOptions, RayPoolModel  # noqa: E402


def make_requests(count: int) -> list[Request]:
    return [
        Request(
            "generate",
            (Message.user(f"question {i}: is {i % 97} a prime?"),),
            GenerationSettings(max_new_tokens=4),
        )
        for i in range(count)
    ]


def timed(model: Model, requests: list[Request]) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds of one ``process`` call (every answer checked)."""
    answered = 0

    def emit(index: int, response: Response) -> None:
        nonlocal answered
        answered += response.ok

    started, cpu = time.perf_counter(), time.process_time()
    model.process(requests, emit)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if answered != len(requests):
        print(f"  warning: {len(requests) - answered} requests failed")
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per row (the median printed)")
    arguments = parser.parse_args()
    levels = [int(level) for level in arguments.workers.split(",")]

    import ray
    import torch

    folder = Path(tempfile.mkdtemp(prefix="mmlens-bench-ray-")) / "qwen2"
    build_tiny_model("qwen2", folder)
    spec = ModelSpec(
        backend="hf", name=str(folder), args={"dtype": "float32", "batch_size": arguments.batch_size}
    )
    requests = make_requests(arguments.requests)

    torch.set_num_threads(1)
    local = build_model(spec)
    timed(local, requests)  # warm: loaded and run on every shape
    baseline = statistics.median(timed(local, requests)[0] for _ in range(arguments.repeats))
    local.close()

    ray.init(
        address="local",
        num_cpus=arguments.cpus,
        include_dashboard=False,
        object_store_memory=128 * 1024 * 1024,
        log_to_driver=False,
        logging_level="WARNING",
    )
    print(
        f"{arguments.requests} generate requests (4 new tokens) on a tiny Qwen2, batch "
        f"{arguments.batch_size}, chunks of {arguments.chunk}; Ray with {arguments.cpus} CPUs, 1 per "
        f"worker; {os.cpu_count()} CPUs here, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'workers':>8} {'seconds':>8} {'req/s':>8} {'speed-up':>8} {'driver CPU us/req':>17} "
        f"{'worker CPU ms/req':>17} {'core share':>10}  answers per worker"
    )
    print(
        f"{'no Ray':>8} {baseline:>8.2f} {arguments.requests / baseline:>8.1f} {'':>8} {'':>17}  "
        "(this process, 1 torch thread)"
    )
    first = None
    for workers in levels:
        pool = RayPoolModel(spec, RayOptions(workers=workers, chunk_size=arguments.chunk))
        try:
            timed(pool, requests)  # warm: actors up, the model loaded and run on every shape in each
            actors = [worker.actor for worker in pool.workers]
            cpu_before = sum(ray.get([actor.cpu_seconds.remote() for actor in actors]))
            runs = [timed(pool, requests) for _ in range(arguments.repeats)]
            cpu_after = sum(ray.get([actor.cpu_seconds.remote() for actor in actors]))
            worker_cpu = (cpu_after - cpu_before) / len(runs)
            seconds, cpu = sorted(runs)[arguments.repeats // 2]
            split = list(pool.last_stats.workers.values())
        finally:
            pool.close()
        first = first if first is not None else seconds * workers
        print(
            f"{workers:>8} {seconds:>8.2f} {arguments.requests / seconds:>8.1f} {first / seconds:>8.2f} "
            f"{cpu / arguments.requests * 1e6:>17.0f} {worker_cpu / arguments.requests * 1e3:>17.2f} "
            f"{worker_cpu / (statistics.mean(run[0] for run in runs) * workers):>10.0%}  {split}"
        )
    ray.shutdown()
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
