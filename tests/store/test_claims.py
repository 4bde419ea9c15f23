"""Claims: several ``mmlens run`` processes started together on one store (a SQLite file, a real
PostgreSQL server) compute every request exactly once, counted at a real HTTP server, and finish
with the same numbers; a runner killed with SIGKILL leaves claims that another takes over once
their lease has run out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mmlens.core.requests import Response
from mmlens.runner.claims import new_owner, owner_is_gone
from mmlens.store.sqlite import Store
from tests.fixtures.fault_server import FaultServer
from tests.fixtures.numbers_bench import build_numbers_task

COUNT = 30


def _task(folder: Path, slow_start: float = 0.0) -> Path:
    """The numbers task with one prompt per row (the server counts requests per prompt); the first
    three rows answered ``slow_start`` seconds late (whoever claims them first is busy that long)."""
    task = build_numbers_task(folder, count=COUNT, duplicates=0)
    data = folder / "numbers.jsonl"
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    for i, row in enumerate(rows):
        row["question"] += f" (row {i})"
        if slow_start and i < 3:
            row["question"] += f" #fault=slow:{slow_start}"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return task


def _runner(store: Path | str, task: Path, base_url: str, out: Path, **env: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "mmlens", "--store", str(store), "run", "numbers", "--include", str(task),
            "--model", "openai:fault-model", "--base-url", base_url, "--model-args", "concurrency=2",
            "--output-dir", str(out), "--no-progress"]  # fmt: skip
    environment = {**os.environ, "MMLENS_CLAIM_POLL": "0.05", **env}
    return subprocess.Popen(argv, env=environment, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(process: subprocess.Popen[str]) -> None:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err + out


def _results(out: Path) -> dict[str, object]:
    (path,) = out.glob("**/results.json")
    results: dict[str, object] = json.loads(path.read_text())
    return results


def test_runners_started_together_compute_each_request_once_and_agree(
    tmp_path: Path, store_at: Path | str
) -> None:
    # the first runner up is held 8 s by its first batch: the others, however late they start on a
    # busy machine, find work to claim
    task = _task(tmp_path / "bench", slow_start=8)
    with FaultServer(latency=0.3) as server:
        outs = [tmp_path / f"runs{i}" for i in range(3)]
        runners = [_runner(store_at, task, server.base_url, out, MMLENS_CLAIM_BATCH="3") for out in outs]
        for runner in runners:
            _finish(runner)
        counts = dict(server.record.counts)
    assert len(counts) == COUNT and set(counts.values()) == {1}, counts  # each computed exactly once
    results = [_results(out) for out in outs]
    requests = [r["provenance"]["requests"] for r in results]  # type: ignore[index]
    assert sum(r["computed"] for r in requests) == COUNT, requests
    assert sum(1 for r in requests if r["computed"] > 0) >= 2, requests  # they did run together
    assert all(r["errors"] == 0 for r in requests), requests
    numbers = [{k: v for k, v in r.items() if k in ("metrics", "breakdown", "samples")} for r in results]
    assert numbers[0] and numbers[0] == numbers[1] == numbers[2]


def _interrupted_then_resumed(
    tmp_path: Path, store_at: Path | str, lease: float, stop: signal.Signals
) -> tuple[float, dict[str, int], dict[str, list[float]]]:
    """A runner gets going, is sent ``stop``, and another runner finishes the run on the same
    store: when the first was stopped, the server's count of each prompt and its arrival times."""
    task = _task(tmp_path / "bench")
    settings = {"MMLENS_CLAIM_LEASE": str(lease), "MMLENS_CLAIM_BATCH": "4"}
    with FaultServer(latency=0.3) as server:
        first = _runner(store_at, task, server.base_url, tmp_path / "a", **settings)
        try:
            deadline = time.monotonic() + 60
            while not (server.record.total >= 3 and server.record.in_flight >= 1):
                assert time.monotonic() < deadline and first.poll() is None, (
                    "the first runner never got going"
                )
                time.sleep(0.01)
            first.send_signal(stop)
            stopped = time.monotonic()
            if stop == signal.SIGKILL:
                first.wait()  # reaped, as by the shell that started it
            time.sleep(0.2)  # what it had sent is on the server; its claims stay in the store
            with Store(store_at, read_only=True) as store:
                claimed = {key for (key,) in store._execute("SELECT key FROM claims").fetchall()}
            assert claimed, "the first runner held no claims"
            second = _runner(store_at, task, server.base_url, tmp_path / "b", **settings)
            _finish(second)
        finally:
            first.kill()
            first.communicate()
        counts = dict(server.record.counts)
        arrivals = {text: list(times) for text, times in server.record.arrivals.items()}
    assert len(counts) == COUNT and max(counts.values()) <= 2, counts
    requests = _results(tmp_path / "b")["provenance"]["requests"]  # type: ignore[index]
    assert requests["errors"] == 0 and requests["unique"] == COUNT, requests
    with Store(store_at, read_only=True) as store:
        assert store._execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0  # none left behind
    return stopped, counts, arrivals


def test_a_stalled_runners_claims_are_taken_over_once_its_lease_runs_out(
    tmp_path: Path, store_at: Path | str
) -> None:
    """A runner that stops renewing (SIGSTOP: hung, or on a machine cut off; from here a runner
    killed on another machine looks the same) keeps its claims until their lease ends."""
    lease = 6.0
    stopped, counts, arrivals = _interrupted_then_resumed(tmp_path, store_at, lease, signal.SIGSTOP)
    again = [text for text, count in counts.items() if count == 2]
    assert again, "nothing the stalled runner had in flight was asked again"
    # its last renewal was at most lease/3 before it stopped: nothing it held was taken over before
    # its lease ran out
    assert all(arrivals[text][1] >= stopped + lease * 2 / 3 - 0.5 for text in again), (stopped, arrivals)


def test_a_killed_runners_claims_are_taken_over_at_once_on_its_machine(
    tmp_path: Path, store_at: Path | str
) -> None:
    """kill -9: the owner's process is gone (pid, start time, boot), so its claims are void at once,
    long before their lease (60 s here) would end."""
    lease = 60.0
    stopped, counts, arrivals = _interrupted_then_resumed(tmp_path, store_at, lease, signal.SIGKILL)
    again = [text for text, count in counts.items() if count == 2]
    assert again, "nothing the killed runner had in flight was asked again"
    assert all(arrivals[text][1] < stopped + lease / 2 for text in again), (stopped, arrivals)


def test_an_owner_is_gone_only_when_this_machine_can_tell(tmp_path: Path) -> None:
    script = "from mmlens.runner.claims import new_owner; print(new_owner())"
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    dead = child.communicate()[0].strip()
    assert owner_is_gone(dead)
    assert not owner_is_gone(new_owner())  # this process
    elsewhere = json.loads(dead) | {"host": "another-machine"}
    assert not owner_is_gone(json.dumps(elsewhere))
    assert not owner_is_gone("not json") and not owner_is_gone('["a list"]')


def test_a_claim_skips_what_another_runner_answered_and_released(store_at: Path | str) -> None:
    """The race the claim order closes: B looked up its keys before A stored and released one; B's
    claim then sees it answered instead of computing it again."""
    with Store(store_at, commit_interval=0) as a, Store(store_at, commit_interval=0) as b:
        mine, answered = a.claim(["k1", "k2"], "A", lease=30)
        assert (mine, answered) == (["k1", "k2"], set())
        assert b.claim(["k1", "k2", "k3"], "B", lease=30) == (["k3"], set())  # A holds k1, k2
        assert b.claimed_by_others(["k1", "k2", "k3"], "B") == {"k1": "A", "k2": "A"}
        a.put_response("k1", "m", "generate", Response(text="yes"))
        a.release_claims("A", ["k1"])
        assert b.claim(["k1", "k2"], "B", lease=30) == ([], {"k1"})
        a.renew_claims("A", lease=-1)  # A's lease on k2 ran out (as if A had died)
        assert b.claim(["k2"], "B", lease=30) == (["k2"], set())
        assert a.claimed_by_others(["k2"], "A") == {"k2": "B"}
        a.drop_claims_of(["B"])  # B known dead
        assert a.claimed_by_others(["k2"], "A") == {}


def test_a_killed_process_not_yet_reaped_is_gone() -> None:
    lines = ["import time", "from mmlens.runner.claims import new_owner", "print(new_owner(), flush=True)"]
    script = "\n".join([*lines, "time.sleep(60)"])
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    owner = child.stdout.readline().strip()
    assert not owner_is_gone(owner)  # alive
    child.kill()
    time.sleep(0.3)  # a zombie now: its pid still answers
    assert owner_is_gone(owner)
    child.wait()
    assert owner_is_gone(owner)
