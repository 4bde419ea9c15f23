"""kill -9 in the middle of a dialogue, with a real ``mmlens run`` process and a real HTTP server: the
rerun sends only the turns the store lacks and ends with the numbers of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.dialogue_server import DialogueServer
from tests.fixtures.store_probe import stored_responses

DIALOGUES = 6  # toy_dialogue_5: six dialogues of five turns, every prompt different
pytestmark = pytest.mark.timeout(240)


def run_command(bench: Path, server: DialogueServer, store: Path, output_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mmlens",
        "--store",
        str(store),
        "run",
        "toy_dialogue_5",
        "--include",
        str(bench),
        "--model",
        "openai:toy",
        "--base-url",
        server.base_url,
        "--output-dir",
        str(output_dir),
        "--no-progress",
    ]


def finish(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def run_files(output_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    (run_dir,) = [path for path in output_dir.iterdir() if path.is_dir()]
    results = json.loads((run_dir / "results.json").read_text())
    lines = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    return results, lines


def answers_of(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keep = ("id", "prompt", "response", "answer", "extraction", "correct", "details", "scores")
    return [
        {
            **{key: line.get(key) for key in keep},
            "exchanges": [{k: v for k, v in e.items() if k != "cached"} for e in line["exchanges"]],
        }
        for line in lines
    ]


def test_kill_9_in_turn_3_resumes_from_turn_3(bench: Path, tmp_path: Path) -> None:
    env = {**os.environ, "MMLENS_HOME": str(tmp_path / "home"), "NO_PROXY": "127.0.0.1"}
    store, runs = tmp_path / "interrupted.sqlite", tmp_path / "runs"
    with DialogueServer(block_turn=3) as server:
        command = run_command(bench, server, store, runs)
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            deadline = time.monotonic() + 90
            while stored_responses(store) < 2 * DIALOGUES and time.monotonic() < deadline:
                assert process.poll() is None, process.communicate()[1]
                time.sleep(0.05)
            assert stored_responses(store) == 2 * DIALOGUES, "turns 1 and 2 were not all stored in time"
            assert process.poll() is None, "the run ended although turn 3 is blocked"
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL
        before = Counter(server.turns())
        assert before[1] == before[2] == DIALOGUES and set(before) <= {1, 2, 3}
        assert stored_responses(store) == 2 * DIALOGUES  # no turn-3 answer got through

        server.release()  # the blocked turn-3 requests answer a dead client
        server.clear()
        finish(command, env)  # the same command, now against a server that blocks nothing
        assert Counter(server.turns()) == {3: DIALOGUES, 4: DIALOGUES, 5: DIALOGUES}
        assert stored_responses(store) == 5 * DIALOGUES

        server.clear()
        finish(run_command(bench, server, tmp_path / "clean.sqlite", tmp_path / "clean-runs"), env)
        assert Counter(server.turns()) == {turn: DIALOGUES for turn in range(1, 6)}

    resumed, resumed_lines = run_files(runs)
    clean, clean_lines = run_files(tmp_path / "clean-runs")
    assert resumed["metrics"] == clean["metrics"] and resumed["breakdown"] == clean["breakdown"]
    assert resumed["metrics"]["acc"]["value"] == pytest.approx(0.5)  # the even dialogues' targets
    assert answers_of(resumed_lines) == answers_of(clean_lines)
    assert resumed["provenance"]["requests"]["rounds"] == 5
    for line in resumed_lines:  # turns 1-2 came from the store, turns 3-5 from the model
        assert [e["cached"] for e in line["exchanges"]] == [True, True, False, False, False]
        assert line["details"]["turns"] == [
            "[1] " + line["prompt"][0]["content"][0]["text"],
            "[2] Another one.",
            "[3] Pick again.",
            "[4] Once more.",
            "[5] Last one.",
        ]
