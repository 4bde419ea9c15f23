"""Memory of the openai backend over 2,000 requests that each carry a distinct image.

Images are ``GeneratedImage``s (drawn only when the backend encodes them), so the input list itself
stays small and any growth would come from the backend holding on to payloads. RSS and tracemalloc
(current and peak) are sampled after 500, 1,000, 1,500 and 2,000 responses: flat means the memory
does not grow with the number of samples.

    python benchmarks/bench_openai_memory.py [--count 2000] [--size 128] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_openai_concurrency import local_server  # noqa: E402

from mmlens.core.media import GeneratedImage  # noqa: E402
from mmlens.core.messages import ImagePart, Message  # noqa: E402
from mmlens.core.requests import Request, Response  # noqa: E402
from mmlens.models.base import ModelSpec, build_model  # noqa: E402


def rss_mib() -> float:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def noise_image(seed: int, size: int) -> GeneratedImage:
    def draw():  # type: ignore[no-untyped-def]
        from PIL import Image

        rng = __import__("random").Random(seed)
        return Image.frombytes("RGB", (size, size), rng.randbytes(size * size * 3))

    return GeneratedImage(f"bench/noise-{size}-{seed}", draw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", type=int, default=128, help="image side in pixels (random noise PNG)")
    parser.add_argument("--concurrency", type=int, default=32)
    arguments = parser.parse_args()
    checkpoints = {arguments.count * k // 4 for k in (1, 2, 3, 4)}
    sample_png = noise_image(0, arguments.size).encoded()

    requests = [
        Request(
            "generate", (Message.user(ImagePart(noise_image(i, arguments.size)), f"what is in image {i}?"),)
        )
        for i in range(arguments.count)
    ]
    with local_server(0.02) as server:
        model = build_model(
            ModelSpec(
                backend="openai",
                name="bench",
                args={"base_url": server.base_url, "concurrency": arguments.concurrency},
            )
        )
        model.process(requests[:8], lambda index, response: None)  # warm up imports and pools
        rows: list[tuple[int, float, float, float, float]] = []
        done = 0
        failed = 0
        tracemalloc.start()
        started = time.perf_counter()
        baseline = (rss_mib(), tracemalloc.get_traced_memory()[0] / 2**20)

        def emit(index: int, response: Response) -> None:
            nonlocal done, failed
            done += 1
            failed += not response.ok
            if done in checkpoints:
                current, peak = tracemalloc.get_traced_memory()
                rows.append((done, time.perf_counter() - started, rss_mib(), current / 2**20, peak / 2**20))

        model.process(requests, emit)
        tracemalloc.stop()

    print(
        f"{arguments.count} requests, one distinct {arguments.size}x{arguments.size} PNG each "
        f"({len(sample_png) / 1024:.0f} KiB, {arguments.count * len(sample_png) / 2**20:.0f} MiB in all), "
        f"concurrency {arguments.concurrency}, {failed} failed"
    )
    print(f"before: RSS {baseline[0]:.1f} MiB, traced {baseline[1]:.1f} MiB")
    print(f"{'responses':>9} {'seconds':>8} {'RSS MiB':>8} {'traced MiB':>10} {'traced peak MiB':>15}")
    for done_at, seconds, rss, current, peak in rows:
        print(f"{done_at:>9} {seconds:>8.1f} {rss:>8.1f} {current:>10.1f} {peak:>15.1f}")


if __name__ == "__main__":
    main()
