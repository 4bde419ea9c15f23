"""``mmlens dimensions`` wall time: every default dimension on ``shapes`` (1,000 questions) with the
reference model, first in an empty store, then again (every run answered from the store), and the
same with a tiny randomly initialised LLaVA (``--tiny-hf``, built offline; 100 questions), which
can answer the corrupted and verbalized text the reference model refuses.

    .venv/bin/python benchmarks/bench_dimensions.py [--limit N] [--tiny-hf]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

from mmlens.analyses.dimensions import DimensionsReport, run_dimensions


def timed(
    task: str, model: str, model_args: str | None, limit: int | None, store: Path
) -> tuple[float, DimensionsReport]:
    started = time.perf_counter()
    report = run_dimensions(task, model, model_args=model_args, limit=limit, store=store, output_dir=None)
    return time.perf_counter() - started, report


def summary(report: DimensionsReport) -> str:
    scored = [s for s in report.scores if not math.isnan(s.value)]
    missing = [f"{s.dimension}: {s.note[:100]}" for s in report.scores if s.name == "-"]
    return f"{len(report.runs)} runs, {len(scored)} scores" + "".join(f"\n    n/a {m}" for m in missing)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=None, help="questions of shapes (default all 1,000)")
    parser.add_argument("--tiny-hf", action="store_true", help="also a tiny LLaVA on 100 questions")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "store.sqlite"
        first, report = timed("shapes", "reference", None, args.limit, store)
        again, _ = timed("shapes", "reference", None, args.limit, store)
        shown = f"reference, shapes ({args.limit or 1000} questions)"
        print(f"{shown}: first {first:.1f} s, cached rerun {again:.1f} s ({summary(report)})")
        if args.tiny_hf:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' tiny-model builders
            from tests.fixtures.tiny_models import build_tiny_model

            model_dir = build_tiny_model("llava", Path(folder) / "llava")
            first, report = timed("shapes", f"hf:{model_dir}", "dtype=float32", 100, store)
            again, _ = timed("shapes", f"hf:{model_dir}", "dtype=float32", 100, store)
            print(f"tiny llava, shapes (100 questions): first {first:.1f} s, cached rerun {again:.1f} s "
                  f"({summary(report)})")  # fmt: skip


if __name__ == "__main__":
    main()
