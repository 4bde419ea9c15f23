"""corrupt_image overhead: 1,000 images at severity 3, and a second run answered from the cache.

1. ``shapes`` (1,000 generated 64x64 images) on the reference model, plain and with
   ``corrupt_image:<kind>@3``: the transform's cost per image is the difference of the two runs'
   wall times / 1,000 (the reference model decodes every image); then the same corrupted run again,
   which must be fully cached (cached == unique, computed == 0) and draw no image.
2. Per kind: milliseconds per corruption at severity 3 on 224x224 photos-like images (random
   pixels), ``--per-kind N`` images each (the first call of glass_blur includes numba's compile).

    .venv/bin/python benchmarks/bench_corruptions.py [--kind gaussian_noise] [--per-kind 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mmlens import api
from mmlens.transforms import image_corruptions as ic


def timed_run(
    task: str, transforms: list[str | dict[str, Any]], store: Path, limit: int
) -> tuple[float, Any]:
    start = time.perf_counter()
    run = api.evaluate(task, "reference", transforms=transforms, store=store, output_dir=None, limit=limit)
    return time.perf_counter() - start, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="gaussian_noise")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--per-kind", type=int, default=20)
    args = parser.parse_args()

    drawn = 0
    real_pil = ic.CorruptedImage.pil

    def counting(self: ic.CorruptedImage) -> Image.Image:
        nonlocal drawn
        drawn += 1
        return real_pil(self)

    ic.CorruptedImage.pil = counting  # type: ignore[method-assign]
    spec = f"corrupt_image:{args.kind}@3"
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "s.sqlite"
        timed_run("shapes", [spec], Path(folder) / "warm.sqlite", 20)  # imports, model load, numba
        drawn = 0
        plain_s, _ = timed_run("shapes", [], store, args.images)
        first_s, first = timed_run("shapes", [spec], store, args.images)
        first_draws, drawn = drawn, 0
        second_s, second = timed_run("shapes", [spec], store, args.images)
    for name, seconds, run, draws in (
        ("first", first_s, first, first_draws),
        ("second", second_s, second, drawn),
    ):
        stats = run.stats
        print(
            f"{spec} on shapes, {args.images} images, {name} run: {seconds:.2f} s; "
            f"unique {stats.unique_requests}, cached {stats.cached}, computed {stats.computed}; "
            f"corrupted-image decodes: {draws}"
        )
    overhead = (first_s - plain_s) / args.images * 1000
    print(f"plain run {plain_s:.2f} s; corruption overhead {overhead:.2f} ms/image (64x64)")
    fully_cached = second.stats.computed == 0 and second.stats.cached == second.stats.unique_requests
    print(f"second run fully cached: {fully_cached and drawn == 0}")

    rng = np.random.RandomState(0)
    photos = [Image.fromarray((rng.rand(224, 224, 3) * 255).astype(np.uint8)) for _ in range(args.per_kind)]
    print(f"\nper kind, severity 3, 224x224, {args.per_kind} images each (ms/image):")
    for kind in ic.KINDS:
        if kind == "glass_blur":
            ic.apply_step(photos[0], {"kind": kind, "severity": 3, "seed": 0})  # numba compile, not counted
        start = time.perf_counter()
        for number, image in enumerate(photos):
            ic.apply_step(image, {"kind": kind, "severity": 3, "seed": number})
        print(f"  {kind:18s} {(time.perf_counter() - start) / len(photos) * 1000:8.1f}")
    start = time.perf_counter()
    for number, image in enumerate(photos):
        for step in ic.chain_steps(0, str(number), 0, ic.CHAIN, None):
            image = ic.apply_step(image, step)
    print(f"  {'chef (chain)':18s} {(time.perf_counter() - start) / len(photos) * 1000:8.1f}")


if __name__ == "__main__":
    main()
