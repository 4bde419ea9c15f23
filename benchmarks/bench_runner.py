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
from typing import ClassVar

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


def timed(function: object) -> tuple[float, api.RunResult]:
    started = time.perf_counter()
    result = function()  # type: ignore[operator]
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    n = args.samples
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        overhead_task = write_task(folder, "bench_overhead", f"{{type: bench_generated, size: {n}}}")
        shapes_task = write_task(folder, "bench_shapes", f"{{type: shapes, size: {n}, seed: 0}}")

        def overhead_run() -> api.RunResult:
            return api.evaluate(
                "bench_overhead",
                "constant",
                include=[overhead_task],
                store=folder / "o.sqlite",
                output_dir=folder / "runs",
                thumbnails=False,
            )

        first, _ = timed(overhead_run)
        cached, _ = timed(overhead_run)
        print(f"runner overhead, zero-latency model, {n} samples (first run, nothing cached):")
        print(f"  total {first:.3f} s = {first / n * 1000:.3f} ms per sample (goal <= 2 ms)")
        print(f"  fully cached rerun: {cached:.3f} s = {cached / n * 1000:.3f} ms per sample")

        def shapes_run() -> api.RunResult:
            return api.evaluate(
                "bench_shapes",
                "reference",
                include=[shapes_task],
                store=folder / "s.sqlite",
                output_dir=folder / "runs",
            )

        first, result = timed(shapes_run)
        cached, again = timed(shapes_run)
        assert again.results["metrics"] == result.results["metrics"]
        accuracy = result.results["metrics"]["acc"]["value"]
        print(f"\nshapes ({n} samples) with the reference model (acc {accuracy:.3f}):")
        print(
            f"  first run {first:.3f} s, fully cached rerun {cached:.3f} s, speed-up {first / cached:.1f}x "
            "(goal >= 50x)"
        )
        try:
            from tests.fixtures.tiny_models import build_tiny_model
        except ImportError as error:
            print(f"\nhf backend skipped ({error})")
            return
        llava = str(build_tiny_model("llava", folder / "llava"))

        def hf_run() -> api.RunResult:
            return api.evaluate(
                "bench_shapes",
                f"hf:{llava}",
                model_args="batch_size=16",
                include=[shapes_task],
                store=folder / "h.sqlite",
                output_dir=folder / "runs",
            )

        first, _ = timed(hf_run)
        cached, _ = timed(hf_run)
        print(f"\nshapes ({n} samples) with a tiny Llava (hidden size 32, 2 layers) on the hf backend:")
        print(
            f"  first run {first:.3f} s, fully cached rerun {cached:.3f} s, speed-up {first / cached:.1f}x "
            "(goal >= 50x)"
        )


if __name__ == "__main__":
    main()
