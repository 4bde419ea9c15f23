"""The served backend: a real vLLM server (from .venv-vllm) started, used through openai, stopped.

Also a generic ``served:`` command template on a small stand-in server (a real HTTP server that
starts a child process of its own) for start-up failures and for stopping on close, on SIGTERM
and when the mmlens process is killed: no server process outlives its run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mmlens.core.errors import ModelUnavailable
from mmlens.models.base import ModelSpec, build_model
from mmlens.models.served import ServedModel
from tests.fixtures.tiny_vllm_models import (
    VLLM_ENV,
    answer_all,
    assert_same_answers,
    build_vllm_qwen2,
    comparison_requests,
    require_vllm_venv,
)

pytest.importorskip("transformers")

# A stand-in server: answers /health once it is up, and starts a child (as vLLM starts its engine).
FAKE_SERVER = textwrap.dedent(
    """
    import http.server, subprocess, sys
    port, pid_file = int(sys.argv[1]), sys.argv[2]
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    open(pid_file, "w").write(f"{child.pid}\\n")
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404); self.end_headers()
        def log_message(self, *args):
            pass
    http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
    """
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone too
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def wait_gone(pids: list[int], seconds: float = 30.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.2)
    return [pid for pid in pids if alive(pid)]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_vllm_qwen2(tmp_path_factory.mktemp("served-model") / "qwen2")


@pytest.fixture(scope="module")
def vllm_server(tiny_folder: Path) -> Iterator[ServedModel]:
    require_vllm_venv()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in VLLM_ENV.items():
            patch.setenv(key, value)
        model = build_model(
            ModelSpec(
                backend="served",
                name=f"vllm:{tiny_folder}",
                args={"dtype": "float32", "max_model_len": "512", "startup_timeout": "500"},
            )
        )
        assert isinstance(model, ServedModel)
        try:
            model.start()
            yield model
        finally:
            model.close()


def test_vllm_server_answers_like_hf_with_prompt_logprobs(
    tiny_folder: Path, vllm_server: ServedModel
) -> None:
    requests = comparison_requests()
    got = answer_all(vllm_server, requests)
    hf = build_model(ModelSpec(backend="hf", name=str(tiny_folder), args={"dtype": "float32"}))
    assert_same_answers(got, answer_all(hf, requests), "vllm server (openai backend) vs hf")


def test_fingerprint_has_the_answer_changing_flags_not_the_port(vllm_server: ServedModel) -> None:
    fingerprint = vllm_server.fingerprint()
    assert fingerprint["server"] == "vllm"
    assert fingerprint["flags"]["dtype"] == "float32" and fingerprint["flags"]["max_model_len"] == 512
    port = vllm_server.servers[0].base_url.rsplit(":", 1)[1]
    assert port.split("/")[0] not in str(fingerprint)
    other = build_model(
        ModelSpec(backend="served", name=vllm_server.name, args={"dtype": "float32", "max_model_len": "256"})
    )
    assert other.fingerprint_key() != vllm_server.fingerprint_key()


def test_close_stops_the_vllm_server_and_its_engine(tiny_folder: Path, vllm_server: ServedModel) -> None:
    # runs last in the module: the server's process group, engine core included, is gone after close
    server = vllm_server.servers[0]
    group = server.process.pid
    members = [int(p) for p in os.listdir("/proc") if p.isdigit() and _group_of(int(p)) == group]
    assert len(members) >= 2  # the API server and vLLM's engine core
    vllm_server.close()
    assert wait_gone(members) == []


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def fake_model(tmp_path: Path, **args: str) -> ServedModel:
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)
    pid_file = tmp_path / "child.pid"
    command = f"{sys.executable} {script} {{port}} {pid_file}"
    model = build_model(ModelSpec(backend="served", name="stand-in", args={"command": command, **args}))
    assert isinstance(model, ServedModel)
    return model


def test_generic_command_starts_and_close_stops_server_and_child(tmp_path: Path) -> None:
    model = fake_model(tmp_path, replicas="2")
    urls = model.start()
    assert len(urls) == 2 and len(set(urls)) == 2
    pids = [server.process.pid for server in model.servers]
    child = int((tmp_path / "child.pid").read_text())
    model.close()
    assert wait_gone([*pids, child]) == []


def test_a_server_that_exits_at_start_up_is_an_error_with_its_log(tmp_path: Path) -> None:
    command = f"{sys.executable} -c \"import sys; print('no such model: {{model}}'); sys.exit(3)\" {{port}}"
    model = build_model(ModelSpec(backend="served", name="missing", args={"command": command}))
    with pytest.raises(ModelUnavailable, match=r"(?s)exited with status 3.*no such model: missing"):
        model.start()


def test_a_server_that_never_gets_healthy_times_out_and_is_stopped(tmp_path: Path) -> None:
    command = f"{sys.executable} -c \"import time; print('loading'); time.sleep(60)\" {{port}}"
    model = build_model(
        ModelSpec(backend="served", name="slow", args={"command": command, "startup_timeout": "2"})
    )
    assert isinstance(model, ServedModel)
    with pytest.raises(ModelUnavailable, match=r"(?s)within 2 s.*loading"):
        model.start()
    assert model.servers == []


@pytest.mark.parametrize("how", ["sigterm", "sigkill", "ctrl-c"])
def test_no_orphan_server_when_the_run_is_stopped(tmp_path: Path, how: str) -> None:
    """The process that started the server is stopped (SIGTERM, SIGKILL, Ctrl-C): the server goes too."""
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)
    pid_file = tmp_path / "child.pid"
    runner = tmp_path / "runner.py"
    runner.write_text(
        textwrap.dedent(
            f"""
            import sys, time
            from mmlens.models.base import ModelSpec, build_model
            model = build_model(ModelSpec(backend="served", name="stand-in",
                args={{"command": {sys.executable!r} + " {script} {{port}} {pid_file}"}}))
            model.start()
            print(model.servers[0].process.pid, flush=True)
            try:
                time.sleep(600)
            finally:
                model.close()
            """
        )
    )
    process = subprocess.Popen([sys.executable, str(runner)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    server = int(process.stdout.readline())
    child = int(pid_file.read_text())
    process.send_signal({"sigterm": signal.SIGTERM, "sigkill": signal.SIGKILL, "ctrl-c": signal.SIGINT}[how])
    process.wait(30)
    assert wait_gone([server]) == []
    if how != "sigkill":  # SIGKILL: the server gets SIGTERM from the kernel, its own child is its business
        assert wait_gone([child]) == []
