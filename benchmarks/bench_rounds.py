"""Runner overhead of rounds: one-round ``generate`` against a 3-round ``multi_turn`` dialogue.

    python benchmarks/bench_rounds.py [--samples 2000] [--repeats 3]

Both tasks read the same N generated samples (images hashed by key, never decoded; the scenario and
the task-file shape are bench_runner.py's) and are answered by the zero-latency
``constant`` backend, so every second measured is the harness's own: planning, hashing each round's
whole conversation, store look-ups and writes, driving the rounds, scoring, results files. The
dialogue asks each sample two follow-ups, so it sends 3 requests per sample in 3 rounds, each longer
than the last. Goal: the 3-round run costs at most 3x the one-round run, first run and cached rerun.
Each figure is the best of ``--repeats`` runs in fresh stores, in wall-clock seconds and in this
process's CPU seconds (steadier on a machine that others share).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_runner  # noqa: E402, F401 - registers the bench_generated scenario

from mmlens import api  # noqa: E402

INFERENCERS = {
    "generate (1 round)": "{type: generate, max_new_tokens: 8}",
    "multi_turn (3 rounds)": (
        "{type: multi_turn, max_new_tokens: 8, follow_ups: ['Are you sure?', 'Answer again in one word.']}"
    ),
}


def write_task(folder: Path, name: str, samples: int, inferencer: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nscenario: {{type: bench_generated, size: {samples}}}\ninferencer: {inferencer}\n"
        "metric: {type: accuracy, extractor: choice_or_yes_no}\n"
    )
    return path


@dataclass
class Timing:
    wall: float
    cpu: float


@dataclass
class Measured:
    first: Timing
    cached: Timing
    rounds: int


def timed_run(name: str, options: dict[str, object]) -> tuple[Timing, api.RunResult]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = api.evaluate(name, "constant", **options)  # type: ignore[arg-type]
    return Timing(time.perf_counter() - wall, time.process_time() - cpu), result


def measure(folder: Path, name: str, task: Path, repeats: int) -> Measured:
    """Best first run and best fully cached rerun over ``repeats`` fresh stores (the two must agree)."""
    firsts, cacheds, rounds = [], [], 0
    for attempt in range(repeats):
        options: dict[str, object] = {
            "include": [task],
            "store": folder / f"{name}-{attempt}.sqlite",
            "output_dir": folder / "runs",
            "thumbnails": False,
        }
        first, result = timed_run(name, options)
        cached, rerun = timed_run(name, options)
        assert rerun.stats is not None and rerun.stats.computed == 0
        assert rerun.results["metrics"] == result.results["metrics"]
        firsts.append(first)
        cacheds.append(cached)
        rounds = result.results["provenance"]["requests"]["rounds"]
    best = lambda timings: Timing(min(t.wall for t in timings), min(t.cpu for t in timings))  # noqa: E731
    return Measured(best(firsts), best(cacheds), rounds)


def per_sample(timing: Timing, n: int) -> str:
    return f"{timing.wall / n * 1000:.3f} ms/sample wall ({timing.cpu / n * 1000:.3f} CPU)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n = args.samples
    measured: list[Measured] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # An untimed warm-up of both tasks first: lazy imports and first-store costs are paid by
        # neither measurement.
        for index, (_, inferencer) in enumerate(INFERENCERS.items()):
            warm = f"bench_rounds_warm_{index}"
            timed_run(
                warm,
                {
                    "include": [write_task(folder, warm, 50, inferencer)],
                    "store": folder / f"{warm}.sqlite",
                    "output_dir": None,
                    "thumbnails": False,
                },
            )
        print(f"runner overhead per sample, zero-latency model, {n} samples (best of {args.repeats}):")
        for index, (label, inferencer) in enumerate(INFERENCERS.items()):
            name = f"bench_rounds_{index}"
            result = measure(folder, name, write_task(folder, name, n, inferencer), args.repeats)
            measured.append(result)
            print(f"  {label}, {result.rounds} round(s):")
            print(f"    first run     {per_sample(result.first, n)}")
            print(f"    cached rerun  {per_sample(result.cached, n)}")
    one, three = measured
    print("  ratio 3 rounds / 1 round (goal <= 3x):")
    for label, a, b in (("first run", one.first, three.first), ("cached rerun", one.cached, three.cached)):
        print(f"    {label:<13} {b.wall / a.wall:.2f}x wall, {b.cpu / a.cpu:.2f}x CPU")


if __name__ == "__main__":
    main()
