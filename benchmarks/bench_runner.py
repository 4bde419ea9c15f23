"""Runner speed: overhead per sample with a zero-latency model, and a fully cached rerun vs the first run.

    python benchmarks/bench_runner.py [--samples 2000]

1. Overhead: a task of N samples with generated images (hashed by key, never decoded) answered
   by the zero-latency `constant` backend. Everything the harness does is timed: loading,
   planning, hashing, store look-ups and writes, scoring, aggregation with CIs, results files.
   Thumbnails are off (they decode images) — the goal excludes image decoding.
2. Cached rerun: `shapes` (N samples) with the built-in `reference` model, first run against an
   identical rerun that finds every response in the store; then the same with a real (tiny,
   randomly initialised) Llava through the `hf` backend, when torch and transformers are installed.
   A cached rerun costs the same whatever the model, so its speed-up is the model's cost per
   sample over the harness's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tiny-model builders live in tests/

from mmlens import api  # noqa: E402
from mmlens.core.media import GeneratedImage
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample


def _never_drawn() -> Image.Image:
    raise AssertionError("the overhead benchmark must not decode images")


@scenarios.register("bench_generated")
class GeneratedQuestions(Scenario):
    id_scheme: ClassVar[str] = "g<index>"
    size: int = 2000

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        for index in range(self.size):
            question = f"Is there a shape number {index} in the image? Please answer yes or no."
            yield Sample(
                id=f"g{index}",
                messages=[
                    Message(
                        "user",
                        (ImagePart(GeneratedImage(f"bench:{index}", _never_drawn)), TextPart(question)),
                    )
                ],
                target="yes" if index % 2 else "no",
                category=("bench", f"family{index % 5}"),
            )


def write_task(folder: Path, name: str, scenario: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nscenario: {scenario}\ninferencer: {{type: generate, max_new_tokens: 8}}\n"
        "metric: {type: accuracy, extractor: choice_or_yes_no}\n"
    )
    return path


def first_and_cached_run(
    task: str, model: str, store: Path, **options: Any
) -> tuple[float, float, api.RunResult]:
    """Seconds of a first run and of the identical, fully cached rerun (which must agree)."""
    timings = []
    results = []
    for _ in range(2):
        started = time.perf_counter()
        results.append(api.evaluate(task, model, store=store, **options))
        timings.append(time.perf_counter() - started)
    assert results[0].results["metrics"] == results[1].results["metrics"]
    return timings[0], timings[1], results[0]


def print_speedup(title: str, first: float, cached: float) -> None:
    print(f"\n{title}:")
    speedup = first / cached
    print(
        f"  first run {first:.3f} s, fully cached rerun {cached:.3f} s, speed-up {speedup:.1f}x (goal >= 50x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    n = args.samples
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        overhead_task = write_task(folder, "bench_overhead", f"{{type: bench_generated, size: {n}}}")
        shapes_task = write_task(folder, "bench_shapes", f"{{type: shapes, size: {n}, seed: 0}}")
        runs = folder / "runs"

        first, cached, _ = first_and_cached_run(
            "bench_overhead",
            "constant",
            folder / "o.sqlite",
            include=[overhead_task],
            output_dir=runs,
            thumbnails=False,
        )
        print(f"runner overhead, zero-latency model, {n} samples (first run, nothing cached):")
        print(f"  total {first:.3f} s = {first / n * 1000:.3f} ms per sample (goal <= 2 ms)")
        print(f"  fully cached rerun: {cached:.3f} s = {cached / n * 1000:.3f} ms per sample")

        first, cached, result = first_and_cached_run(
            "bench_shapes", "reference", folder / "s.sqlite", include=[shapes_task], output_dir=runs
        )
        accuracy = result.results["metrics"]["acc"]["value"]
        print_speedup(f"shapes ({n} samples) with the reference model (acc {accuracy:.3f})", first, cached)
        try:
            from tests.fixtures.tiny_models import build_tiny_model
        except ImportError as error:
            print(f"\nhf backend skipped ({error})")
            return
        llava = str(build_tiny_model("llava", folder / "llava"))
        first, cached, _ = first_and_cached_run(
            "bench_shapes",
            f"hf:{llava}",
            folder / "h.sqlite",
            model_args="batch_size=16",
            include=[shapes_task],
            output_dir=runs,
        )
        print_speedup(
            f"shapes ({n} samples) with a tiny Llava (hidden size 32, 2 layers) on the hf backend",
            first,
            cached,
        )


if __name__ == "__main__":
    main()
