"""What a user sees on a terminal: `mmlens --version`, and the progress bar of `mmlens run` (run in a
real pseudo-terminal, so the bar shows as it does for a user)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

import mmlens
from mmlens.cli import main

MAIN = "import sys; from mmlens.cli import main; sys.exit(main(sys.argv[1:]))"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"mmlens {mmlens.__version__}\n"
    result = subprocess.run([sys.executable, "-m", "mmlens", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout == f"mmlens {mmlens.__version__}\n"


def on_a_terminal(argv: list[str], cwd: Path) -> str:
    """Run the command line with stdin, stdout and stderr on a 120-column pseudo-terminal."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-c", MAIN, *argv], stdin=follower, stdout=follower, stderr=follower, cwd=cwd
    )
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert process.wait(timeout=120) == 0, output.decode(errors="replace")
    return output.decode("utf-8", errors="replace")


def test_the_progress_bar_names_the_task_counts_samples_and_says_what_is_resumed(tmp_path: Path) -> None:
    common = ["--store", str(tmp_path / "store.sqlite"), "run", "shapes_small", "--output-dir", "runs"]
    first = on_a_terminal([*common, "--limit", "10"], tmp_path)
    bars = re.findall(r"shapes_small:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+) \[[^\]]*sample", first)
    assert bars and bars[-1] == ("10", "10")  # samples, not requests
    assert "resuming" not in first

    second = on_a_terminal([*common, "--limit", "25"], tmp_path)
    assert "resuming shapes_small: 10 of 25 samples already saved" in second
    bars = re.findall(r"shapes_small:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+) \[", second)
    assert bars[0] == ("10", "25") and bars[-1] == ("25", "25")

    third = on_a_terminal([*common, "--limit", "25"], tmp_path)  # everything saved: no bar at all
    assert "resuming shapes_small: 25 of 25 samples already saved" in third
    assert not re.search(r"shapes_small:\s+\d+%", third)

    quiet = on_a_terminal([*common, "--limit", "30", "--no-progress"], tmp_path)
    assert "resuming" not in quiet and not re.search(r"\d+%\|", quiet)


def test_a_multi_round_task_shows_each_round(tmp_path: Path) -> None:
    common = ["--store", str(tmp_path / "store.sqlite"), "run", "shapes_small", "--output-dir", "runs"]
    out = on_a_terminal([*common, "--limit", "6", "--transform", "strategy:chain_of_thought"], tmp_path)
    assert re.search(r"shapes_small:\s+100%\|[^|]*\|\s*6/6", out)
    assert re.search(r"shapes_small · round 2:\s+100%\|[^|]*\|\s*6/6", out)


def test_samples_that_share_a_request_count_once_each(tmp_path: Path) -> None:
    (tmp_path / "twice.jsonl").write_text(
        "".join(f'{{"id": "q{i}", "question": "Same question?", "answer": "yes"}}\n' for i in range(6))
    )
    (tmp_path / "twice.yaml").write_text(
        "name: twice\ndescription: Six samples, one question.\nscenario: {type: jsonl, path: twice.jsonl}\n"
        "metric: {type: accuracy, extractor: yes_no}\n"
    )
    argv = ["--store", str(tmp_path / "store.sqlite"), "run", "twice", "--include", str(tmp_path)]
    out = on_a_terminal([*argv, "--model", "constant", "--output-dir", "runs"], tmp_path)
    assert re.search(r"twice:\s+100%\|[^|]*\|\s*6/6 \[", out)  # six samples, though one request
    assert "1 unique" in out
