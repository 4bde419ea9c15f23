"""``mmlens run --suite standard`` with the zero-latency ``constant`` model (and the constant judge for
MathVista and HallusionBench): planning, the first run and the cached rerun over every task of the
suite, on the tiny local copies of tests/fixtures/suite_data.py (3-7 questions per task, images
included), so the numbers are the suite's per-task overhead, not model time.

    .venv/bin/python benchmarks/bench_suite.py [--suite standard] [--repeat 3]

Prints seconds: resolving the suite and loading its tasks (what the command does before a model is
loaded), building every task's first-round requests (mmlens plan, data read), the first run in an
empty store, and the cached rerun (every request answered from the store) in process and as the
``mmlens`` command (interpreter start and imports included); the median of --repeat reruns.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.suite_data import runnable_copy, standard_suite_data  # noqa: E402

from mmlens import api  # noqa: E402
from mmlens.cli import main as mmlens_main  # noqa: E402
from mmlens.core.suites import expand_task_settings, load_suites  # noqa: E402
from mmlens.core.task import TaskCatalog  # noqa: E402


def quiet_main(args: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return mmlens_main(args)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--suite", default="standard")
    parser.add_argument("--repeat", type=int, default=3, help="cached reruns (the median is printed)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        data = standard_suite_data(folder / "data")
        tasks_of_suite = load_suites()[args.suite].tasks
        if "mmbench_dev_en" in tasks_of_suite:
            data["mmbench_dev_en"] = str(runnable_copy(folder / "data", "mmbench_dev_en", "mmbench"))
        data = {task: path for task, path in data.items() if task in tasks_of_suite}
        config = folder / "suite.yaml"
        config.write_text(yaml.safe_dump({"model": "constant", "roles": {"judge": "constant"}, "data": data}))
        started = time.perf_counter()
        catalog = TaskCatalog()
        settings = expand_task_settings([f"suite:{args.suite}"], catalog, load_suites())
        for task, entry in settings.items():
            catalog.load(task, entry.profile if entry else None)
        resolved = time.perf_counter() - started
        started = time.perf_counter()
        requests = 0
        for task, entry in settings.items():
            result = api.plan(task, data=data[task], profile=entry.profile if entry else None)
            requests += sum(len(planned) for _, planned in result.samples)
        planned = time.perf_counter() - started
        store = folder / "store.sqlite"
        command = [
            "--store",
            str(store),
            "run",
            "--suite",
            args.suite,
            "--config",
            str(config),
            "--no-progress",
        ]
        started = time.perf_counter()
        assert quiet_main([*command, "--output-dir", str(folder / "first")]) == 0
        first = time.perf_counter() - started
        cached = []
        for index in range(args.repeat):
            started = time.perf_counter()
            assert quiet_main([*command, "--output-dir", str(folder / f"again{index}")]) == 0
            cached.append(time.perf_counter() - started)
        cli = []
        for index in range(args.repeat):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "mmlens", *command, "--output-dir", str(folder / f"cli{index}")],
                check=True,
                capture_output=True,
            )
            cli.append(time.perf_counter() - started)
    print(f"suite {args.suite}: {len(settings)} tasks, {requests} first-round requests (tiny local copies)")
    print(f"resolve suite + load tasks      {resolved:.3f} s")
    print(f"plan (first-round requests)     {planned:.3f} s")
    print(f"first run (constant model)      {first:.3f} s")
    print(f"cached rerun, in process        {statistics.median(cached):.3f} s (median of {args.repeat})")
    print(f"cached rerun, mmlens command    {statistics.median(cli):.3f} s (median of {args.repeat})")


if __name__ == "__main__":
    main()
