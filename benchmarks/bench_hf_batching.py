"""Generation throughput of the hf backend: batch size 1 against larger batches, on a tiny model.

    python benchmarks/bench_hf_batching.py [--arch qwen2_vl] [--requests 64] [--batch-sizes 1,8,16]

Builds a tiny random model of a real architecture (offline, see tests/fixtures/tiny_models.py),
then answers the same N image+text generation requests (different image sizes and prompts,
greedy, at most ``--new-tokens``) with one backend per batch size, and prints requests/s (best
of ``--repeats`` runs) side by side with the speed-up over batch size 1. Loading is not timed; a
one-request warm-up run comes first. With a tiny model the numbers measure the per-call overhead
that batching removes (processor, generate loop, Python), which is what dominates on CPU.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.tiny_models import build_tiny_model  # noqa: E402

from mmlens.core.media import PILImageRef  # noqa: E402
from mmlens.core.messages import ImagePart, Message  # noqa: E402
from mmlens.core.requests import GenerationSettings, Request, Response  # noqa: E402
from mmlens.models.base import ModelSpec, build_model  # noqa: E402

QUESTIONS = [
    "Is there a cat in the image? Please answer yes or no.",
    "What color is the ball?",
    "Count the apples in the picture.",
    "Describe this photo in a few words.",
]


def make_requests(count: int, new_tokens: int) -> list[Request]:
    rng = np.random.default_rng(0)
    requests = []
    for index in range(count):
        width, height = (int(v) for v in rng.integers(24, 96, size=2))
        pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        image = PILImageRef(Image.fromarray(pixels))
        question = f"{QUESTIONS[index % len(QUESTIONS)]} (item {index})"
        settings = GenerationSettings(max_new_tokens=new_tokens)
        requests.append(Request("generate", (Message.user(ImagePart(image), question),), settings))
    return requests


def throughput(
    folder: Path, requests: list[Request], batch_size: int, dtype: str, repeats: int
) -> tuple[float, int]:
    """Best requests/s over ``repeats`` runs (the best run is the one least disturbed by other load)."""
    model = build_model(
        ModelSpec(backend="hf", name=str(folder), args={"batch_size": batch_size, "dtype": dtype})
    )
    model.process(requests[:1], lambda index, response: None)  # load + warm up
    best = 0.0
    errors = 0
    for _ in range(repeats):
        answers: dict[int, Response] = {}
        started = time.perf_counter()
        model.process(requests, answers.__setitem__)
        best = max(best, len(requests) / (time.perf_counter() - started))
        errors = sum(1 for response in answers.values() if not response.ok)
    model.close()
    return best, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="qwen2_vl")
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--batch-sizes", default="1,8,16")
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        folder = build_tiny_model(options.arch, Path(tmp) / options.arch)
        requests = make_requests(options.requests, options.new_tokens)
        sizes = [int(size) for size in options.batch_sizes.split(",")]
        print(
            f"hf backend, tiny {options.arch}, {options.requests} image+text requests, "
            f"{options.new_tokens} new tokens (greedy), {options.dtype}, "
            f"torch threads {torch.get_num_threads()}, best of {options.repeats}"
        )
        print(f"{'batch size':>10} {'requests/s':>11} {'vs batch 1':>11} {'errors':>7}")
        baseline = None
        for size in sizes:
            rate, errors = throughput(folder, requests, size, options.dtype, options.repeats)
            baseline = baseline or rate
            print(f"{size:>10} {rate:>11.1f} {rate / baseline:>10.2f}x {errors:>7}")


if __name__ == "__main__":
    main()
