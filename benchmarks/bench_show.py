"""Runs/s of ``mmlens show`` (the run list: status, task, model, variant, headline of every run)
over a 100,000-run store, SQLite and PostgreSQL.

One real run (``shapes_small`` on the reference backend, 2 samples) is made, then its row copied
inside the database to ``--runs`` rows (ids made distinct, 50 model names, the same provenance and
results documents, about 3.5 kB a row). ``show`` is timed as a command (a fresh process, start-up
included) and in-process (``main(["show"])``, output discarded), ``--repeats`` times; the median is
printed. PostgreSQL is a real server started for the benchmark (tests/fixtures/postgres.py).

    python benchmarks/bench_show.py [--runs 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from mmlens.cli import main as cli_main  # noqa: E402
from mmlens.store.sqlite import Store  # noqa: E402

COPY_SQLITE = """
WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM n WHERE g < ?)
INSERT INTO runs (run_id, task, model, status, output_dir, provenance, results, created, updated)
SELECT r.run_id || '_' || g, r.task, r.model || (g % 50), r.status, r.output_dir, r.provenance, r.results,
       r.created + g, r.updated + g
FROM runs r, n
"""

COPY_POSTGRES = """
INSERT INTO runs (run_id, task, model, status, output_dir, provenance, results, created, updated)
SELECT r.run_id || '_' || g, r.task, r.model || mod(g, 50), r.status, r.output_dir, r.provenance, r.results,
       r.created + g, r.updated + g
FROM runs r, generate_series(1, %s) AS g
"""


def build(location: Path | str, runs: int, folder: Path) -> None:
    cli_main(["--store", str(location), "run", "shapes_small", "--limit", "2", "--output-dir",
              str(folder / "runs"), "--no-progress"])  # fmt: skip
    with Store(location) as store:
        assert len(store.find_runs()) == 1
        statement = COPY_SQLITE if isinstance(location, Path) else COPY_POSTGRES
        with store._transaction():
            store._db.execute(statement, (runs - 1,))
        assert len(store.find_runs()) == runs


def time_command(location: Path | str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mmlens", "--store", str(location), "show"], capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    return elapsed


def time_in_process(location: Path | str) -> float:
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert cli_main(["--store", str(location), "show"]) == 0
    elapsed = time.perf_counter() - started
    assert out.getvalue().count("\n") > 1
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    from tests.fixtures.postgres import PostgresServer

    folder = Path(tempfile.mkdtemp(prefix="mmlens-bench-show-"))
    os.environ["MMLENS_HOME"] = str(folder / "home")
    server = PostgresServer().start()
    print(f"mmlens show over {arguments.runs:,} runs, {arguments.repeats} repeats (median)")
    try:
        for name, location in (("sqlite", folder / "s.sqlite"), ("postgresql", server.new_database())):
            started = time.perf_counter()
            build(location, arguments.runs, folder / name)
            built = time.perf_counter() - started
            command = statistics.median(time_command(location) for _ in range(arguments.repeats))
            in_process = statistics.median(time_in_process(location) for _ in range(arguments.repeats))
            print(
                f"{name:>10}: command {command:6.2f} s = {arguments.runs / command:>8,.0f} runs/s; "
                f"in-process {in_process:6.2f} s = {arguments.runs / in_process:>8,.0f} runs/s "
                f"(store built in {built:.1f} s)"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
