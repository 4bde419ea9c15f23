"""`mmlens view`: a real server on 127.0.0.1, stopped by Ctrl-C (SIGINT) like a user would."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.report.conftest import Runs

MAIN = "import sys; from mmlens.cli import main; sys.exit(main(sys.argv[1:]))"


def test_view_serves_the_report_until_ctrl_c(runs: Runs) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", MAIN, "--store", str(runs.store), "view", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        deadline = time.monotonic() + 60
        url = None
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"(http://127\.0\.0\.1:\d+/\S+)", line)
            url = match.group(1) if match else None
        stderr = process.stderr.read() if process.stderr is not None and process.poll() is not None else ""
        assert url is not None, "".join(lines) + stderr
        with urllib.request.urlopen(url, timeout=10) as response:
            html = response.read().decode("utf-8")
        assert response.status == 200 and 'id="mmlens-data"' in html
        embedded = re.search(r'id="mmlens-data">(.*?)</script>', html, re.S)
        assert embedded is not None
        data = json.loads(embedded.group(1))
        assert {run["id"] for run in data["runs"]} == {r.run_id for r in runs.results.values()}
        with pytest.raises(urllib.error.HTTPError):  # only the report is served
            urllib.request.urlopen(url.rsplit("/", 1)[0] + "/store.sqlite", timeout=10)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
        assert process.returncode == 0, err
        assert "stopped" in out
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_view_reports_a_port_in_use(runs: Runs) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-c", MAIN, "--store", str(runs.store), "view", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr
