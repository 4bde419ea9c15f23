"""Interruptions of a real ``python -m mmlens run`` process at chosen moments: Ctrl-C and SIGTERM
while requests are answered, while the run is scored, and kill -9 while the run folder is written.
Each leaves a true status in the store, says how to resume (or, killed, shows as killed), and the
same command then finishes the run with nothing answered sent again.

The moments are chosen by a hook plugin (written into the test's folder) that the run loads with
its backend: at the chosen point it creates a marker file and waits, so that the test can signal the
process exactly there."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mmlens.store.sqlite import Store
from tests.conftest import PLUGINS
from tests.fixtures.fault_server import FaultServer
from tests.fixtures.numbers_bench import build_numbers_task
from tests.fixtures.store_probe import stored_responses

ORACLE = str(PLUGINS / "pixel_oracle.py")

HOOK = '''
"""Test hook: pause the run (once each) at the points named in MMLENS_TEST_PAUSE_AT, creating the
marker file MMLENS_TEST_MARKER-<point> first."""
import os
import pathlib
import time

import mmlens.runner.evaluate as evaluate
from mmlens.store.sqlite import Store

POINTS = set(filter(None, os.environ.get("MMLENS_TEST_PAUSE_AT", "").split(",")))
MARKER = os.environ.get("MMLENS_TEST_MARKER", "")
paused = set()


def pause(point):
    if point in POINTS and point not in paused:
        paused.add(point)
        pathlib.Path(f"{MARKER}-{point}").write_text(str(os.getpid()))
        time.sleep(60)


def before(owner, name, point, when=lambda *args, **kwargs: True):
    original = getattr(owner, name)

    def paused_first(*args, **kwargs):
        if when(*args, **kwargs):
            pause(point)
        return original(*args, **kwargs)

    setattr(owner, name, paused_first)


before(evaluate, "load_samples", "loading")
before(evaluate, "score_outcome", "scoring")
before(Store, "set_status", "status")
# just before samples.jsonl.tmp becomes samples.jsonl
before(pathlib.Path, "replace", "folder", lambda self, target: pathlib.Path(target).name == "samples.jsonl")
before(os, "replace", "folder", lambda source, target, **kw: pathlib.Path(target).name == "samples.jsonl")
'''

COUNT = 60


class Run:
    """One benchmark, store and output folder; ``start`` launches the same command each time."""

    def __init__(self, tmp_path: Path, model: list[str] | None = None) -> None:
        self.task = build_numbers_task(tmp_path / "bench", count=COUNT, duplicates=0)
        self.store = tmp_path / "s.sqlite"
        self.runs = tmp_path / "runs"
        self.marker = tmp_path / "paused"
        hook = tmp_path / "pause_hook.py"
        hook.write_text(HOOK)
        self.env = {
            **os.environ,
            "MMLENS_PLUGINS": f"{ORACLE},{hook}",
            "MMLENS_HOME": str(tmp_path / "home"),
            "MMLENS_TEST_MARKER": str(self.marker),
        }
        model = model or ["--model", "pixel_oracle", "--model-args", "batch_size=2,delay=0.05"]
        self.args = [
            *["--store", str(self.store), "run", "numbers", "--include", str(self.task), *model],
            *["--output-dir", str(self.runs)],
        ]
        self.resume = f"rerun `mmlens {shlex.join(self.args)}` to resume"

    def start(self, *pause_at: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "mmlens", *self.args],
            env={**self.env, "MMLENS_TEST_PAUSE_AT": ",".join(pause_at)},
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def paused_at(self, point: str) -> Callable[[], bool]:
        return Path(f"{self.marker}-{point}").exists

    def wait_for(self, process: subprocess.Popen[str], ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 20
        while not ready() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        assert process.poll() is None, f"the run ended before the signal: {process.communicate()}"
        assert ready(), "the run never reached the chosen moment"

    def statuses(self) -> list[str]:
        from mmlens.cli.show import run_status

        with Store(self.store) as store:
            return [run_status(run) for run in store.find_runs("numbers")]

    def finish(self) -> dict[str, Any]:
        """The same command, to the end: it resumes and leaves a complete folder and a done run."""
        process = self.start()
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert self.statuses() == ["done"]
        (folder,) = self.runs.iterdir()
        assert sorted(p.name for p in folder.iterdir()) == ["results.json", "samples.jsonl"]
        results: dict[str, Any] = json.loads((folder / "results.json").read_text())
        assert results["counts"]["scored"] == COUNT and results["counts"]["errors"] == 0
        assert len((folder / "samples.jsonl").read_text().splitlines()) == COUNT
        return results


def _interrupt_message(process: subprocess.Popen[str], code: int) -> str:
    _, err = process.communicate(timeout=20)
    assert process.returncode == code, err
    assert "Traceback" not in err, err
    return err.strip().splitlines()[-1]


SIGNALS = [pytest.param(signal.SIGINT, 130, id="ctrl-c"), pytest.param(signal.SIGTERM, 143, id="sigterm")]


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
@pytest.mark.parametrize("moment", ["requests", "scoring"])
def test_an_interrupted_run_says_how_to_resume_and_is_marked_interrupted(
    tmp_path: Path, signum: int, code: int, moment: str
) -> None:
    run = Run(tmp_path)
    process = run.start(moment)
    if moment == "scoring":
        run.wait_for(process, run.paused_at("scoring"))
    else:
        run.wait_for(process, lambda: stored_responses(run.store) >= 10)
    process.send_signal(signum)
    message = _interrupt_message(process, code)
    assert message.startswith("interrupted: ") and message.endswith(run.resume)
    assert run.statuses() == ["interrupted"]
    saved = stored_responses(run.store)
    assert 10 <= saved < COUNT if moment == "requests" else saved == COUNT
    results = run.finish()
    assert results["provenance"]["requests"]["cached"] == saved
    assert results["metrics"]["acc"]["value"] == 1.0  # every sample answered from its own image


def test_a_second_ctrl_c_while_the_status_is_recorded_still_records_it(tmp_path: Path) -> None:
    """Users press Ctrl-C twice; the second one came while the store was written."""
    run = Run(tmp_path)
    process = run.start("scoring", "status")
    run.wait_for(process, run.paused_at("scoring"))
    process.send_signal(signal.SIGINT)
    run.wait_for(process, run.paused_at("status"))
    process.send_signal(signal.SIGINT)
    message = _interrupt_message(process, 130)
    assert message.startswith("interrupted: ") and message.endswith(run.resume)
    assert run.statuses() == ["interrupted"]
    run.finish()


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_an_interruption_before_the_run_began_says_how_to_resume(
    tmp_path: Path, signum: int, code: int
) -> None:
    run = Run(tmp_path)
    process = run.start("loading")
    run.wait_for(process, run.paused_at("loading"))
    process.send_signal(signum)
    message = _interrupt_message(process, code)
    assert message.startswith("interrupted before the run began") and message.endswith(run.resume)
    assert run.statuses() == []
    run.finish()


def test_sigterm_stops_an_http_run_like_ctrl_c(tmp_path: Path) -> None:
    """The openai backend's requests (asyncio) against a slow real server on 127.0.0.1."""
    with FaultServer(latency=0.1) as server:
        base_url = server.base_url
        run = Run(tmp_path, ["--model", "openai:m", "--model-args", f"base_url={base_url},concurrency=2"])
        process = run.start()
        run.wait_for(process, lambda: stored_responses(run.store) >= 6)
        process.send_signal(signal.SIGTERM)
        message = _interrupt_message(process, 143)
        assert message.startswith("interrupted: ") and message.endswith(run.resume)
        assert run.statuses() == ["interrupted"]
        saved = stored_responses(run.store)
        results = run.finish()
        assert results["provenance"]["requests"]["cached"] == saved
        assert server.record.total < COUNT + 4  # what was answered was not asked again


def test_a_kill_while_the_run_folder_is_written_leaves_the_run_not_done(tmp_path: Path) -> None:
    run = Run(tmp_path)
    process = run.start("folder")
    run.wait_for(process, run.paused_at("folder"))
    (folder,) = run.runs.iterdir()
    assert (folder / "samples.jsonl.tmp").exists()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert run.statuses() == ["killed"]  # the store does not say done while the folder is half written
    assert not (folder / "results.json").exists()
    assert run.finish()["provenance"]["requests"]["cached"] == COUNT


def test_a_killed_run_whose_pid_was_reused_shows_as_killed(tmp_path: Path) -> None:
    """The pid of a killed run now belongs to another live process (here: a sleeping child)."""
    run = Run(tmp_path)
    process = run.start()
    run.wait_for(process, lambda: stored_responses(run.store) >= 4)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert run.statuses() == ["killed"]
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with sqlite3.connect(run.store) as db:
            (raw,) = db.execute("SELECT provenance FROM runs").fetchone()
            provenance = json.loads(raw)
            assert provenance["process"]["host"] == socket.gethostname()
            provenance["process"]["pid"] = other.pid  # as if the system had given it the old pid
            db.execute("UPDATE runs SET provenance=?", (json.dumps(provenance),))
        assert run.statuses() == ["killed"]
    finally:
        other.kill()
        other.wait()
