"""The ``served`` backend: start an inference server, evaluate through ``openai``, stop it.

``--model served:vllm:MODEL`` (vLLM's OpenAI-compatible server), ``served:sglang:MODEL``, or
``served:MODEL --model-args command="my-server --model {model} --port {port}"`` (any server that
speaks the OpenAI API, from a command template with ``{python}``, ``{model}``, ``{host}``,
``{port}``).

The server runs as a subprocess in a session of its own, with its output in a log file. Before
the first request the backend waits until ``/health`` or ``/v1/models`` answers (``startup_timeout``
seconds; a server that exits or does not come up is an error with its log's tail). Requests then
go through the ``openai`` backend (retries, concurrency, log-likelihood through ``prompt_logprobs``).
The server is stopped by ``close`` (the runner calls it on success, errors and Ctrl-C), at exit,
and on SIGTERM; on Linux it also gets SIGTERM if this process dies (PR_SET_PDEATHSIG), so no
server outlives its run. ``replicas=N`` starts N servers on N ports and spreads the requests over
them (the openai backend's replica pool, ``base_urls``).

Fingerprint: the server kind, the weights' identity, the flags that change answers (dtype,
max_model_len, seed, ``server_args``, the command template) and the openai media settings; never
the port, the python path or the number of replicas.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveInt, field_validator

from mmlens.core.errors import ConfigError, ModelUnavailable
from mmlens.core.requests import Request, RequestKind
from mmlens.models.base import Emit, Model, ModelArgs, models
from mmlens.models.hf_identity import weights_identity

REPO_VLLM_PYTHON = Path(__file__).resolve().parents[3] / ".venv-vllm" / "bin" / "python"

# The servers' own launch commands; {server_args} are the user's extra flags.
COMMANDS = {
    "vllm": "{python} -m vllm.entrypoints.openai.api_server --host {host} --port {port} --model {model}"
    " --served-model-name {served_name} --dtype {dtype} --seed {seed}",
    "sglang": "{python} -m sglang.launch_server --host {host} --port {port} --model-path {model}"
    " --served-model-name {served_name} --dtype {dtype} --random-seed {seed}",
}
# vLLM on a CPU reserves 92% of RAM for its KV cache without this; usage reports stay off.
SERVER_ENV = {
    "vllm": {"VLLM_CPU_KVCACHE_SPACE": "4", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"},
    "sglang": {"DO_NOT_TRACK": "1"},
}
OPENAI_PASSTHROUGH = ("concurrency", "timeout", "max_retries", "image_format", "max_pixels", "drop_images")
LOG_TAIL_CHARS = 3000


class ServedArgs(ModelArgs):
    command: str | None = Field(None, description="command template of a generic server")
    python: str | None = Field(None, description="the python that runs vllm/sglang (default: .venv-vllm's)")
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, description="0: a free port")
    replicas: PositiveInt = 1
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    max_model_len: PositiveInt | None = None
    seed: int = 0
    server_args: list[str] = Field([], description="more server flags (they change answers: fingerprinted)")
    startup_timeout: float = Field(600.0, gt=0)
    # openai backend options
    concurrency: int = Field(16, ge=1)
    timeout: float = Field(300.0, gt=0)
    max_retries: int = Field(3, ge=0)
    image_format: Literal["original", "png", "jpeg"] = "original"
    max_pixels: int | None = None
    drop_images: bool = False

    @field_validator("server_args", mode="before")
    @classmethod
    def _split_server_args(cls, value: Any) -> Any:
        return shlex.split(value) if isinstance(value, str) else value


class ServerProcess:
    """One server subprocess: started in its own session, stopped with its whole process group."""

    def __init__(self, argv: list[str], env: dict[str, str], base_url: str, label: str) -> None:
        self.argv = argv
        self.base_url = base_url
        self.label = label
        log = tempfile.NamedTemporaryFile(prefix="mmlens-server-", suffix=".log", delete=False)  # noqa: SIM115
        self.log_path = Path(log.name)
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**env, **os.environ},
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
        )
        log.close()
        _LIVE.add(self)

    def log_tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-LOG_TAIL_CHARS:]

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        root = self.base_url.removesuffix("/v1")
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise ModelUnavailable(
                    f"{self.label}: the server exited with status {code} before it was ready "
                    f"(command: {shlex.join(self.argv)}); its log ends:\n{self.log_tail()}"
                )
            for url in (root + "/health", self.base_url + "/models"):
                try:
                    with urllib.request.urlopen(url, timeout=2) as reply:  # noqa: S310 - local URL
                        if reply.status == 200:
                            return
                except OSError:
                    continue
            time.sleep(0.5)
        self.stop()
        raise ModelUnavailable(
            f"{self.label}: the server did not answer {root}/health within {timeout:.0f} s "
            f"(startup_timeout); its log ends:\n{self.log_tail()}"
        )

    def stop(self, grace: float = 20.0) -> None:
        _LIVE.discard(self)
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(grace)
        with contextlib.suppress(ProcessLookupError):  # the engine's children too, whatever is left
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


_LIVE: set[ServerProcess] = set()


def stop_all_servers() -> None:
    for server in list(_LIVE):
        server.stop()


def _die_with_parent() -> None:
    import ctypes

    PR_SET_PDEATHSIG = 1  # noqa: N806
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _on_sigterm(signum: int, frame: Any) -> None:
    stop_all_servers()
    raise SystemExit(128 + signum)


atexit.register(stop_all_servers)


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@models.register("served")
class ServedModel(Model):
    """An inference server started for the run, evaluated through the openai backend."""

    backend = "served"
    Args = ServedArgs
    supported_kinds: ClassVar[frozenset[RequestKind]] = frozenset(
        {"generate", "loglikelihood", "embed", "reward"}
    )

    def __init__(self, name: str, args: ModelArgs) -> None:
        assert isinstance(args, ServedArgs)
        kind, _, model = name.partition(":")
        if kind in COMMANDS and model:
            self.server, self.model_path = kind, model
        elif args.command:
            self.server, self.model_path = "command", name
        else:
            raise ConfigError(
                f"model served:{name}: use served:vllm:MODEL, served:sglang:MODEL, or served:MODEL with "
                "--model-args command='SERVER ... {model} ... {port}' (a generic OpenAI-compatible server)"
            )
        if self.server == "command" and "{port}" not in (args.command or ""):
            raise ConfigError(f"model served:{name}: the command template must contain {{port}}")
        super().__init__(name, args)
        self.servers: list[ServerProcess] = []
        self._client: Model | None = None
        self._identity: dict[str, Any] | None = None

    @property
    def served_args(self) -> ServedArgs:
        assert isinstance(self.args, ServedArgs)
        return self.args

    @property
    def served_name(self) -> str:
        return Path(self.model_path).name or self.model_path

    def fingerprint(self) -> dict[str, Any]:
        args = self.served_args
        if self._identity is None:
            self._identity = weights_identity(self.model_path, None)
        return {
            "backend": self.backend,
            "server": self.server,
            "weights": self._identity,
            "flags": {
                "dtype": args.dtype,
                "max_model_len": args.max_model_len,
                "seed": args.seed,
                "server_args": list(args.server_args),
                **({"command": args.command} if self.server == "command" else {}),
            },
            "media": {
                "image_format": args.image_format,
                "max_pixels": args.max_pixels,
                "drop_images": args.drop_images,
            },
        }

    def python(self) -> str:
        args = self.served_args
        if args.python:
            return args.python
        if self.server == "vllm" and REPO_VLLM_PYTHON.is_file():
            return str(REPO_VLLM_PYTHON)
        return sys.executable

    def command(self, port: int) -> list[str]:
        args = self.served_args
        template = args.command if self.server == "command" else COMMANDS[self.server]
        assert template is not None
        values = {
            "python": shlex.quote(self.python()),
            "model": shlex.quote(self.model_path),
            "served_name": shlex.quote(self.served_name),
            "host": args.host,
            "port": str(port),
            "dtype": args.dtype,
            "seed": str(args.seed),
        }
        argv = shlex.split(template.format(**values))
        if self.server == "vllm":
            argv += ["--enforce-eager"] if "--enforce-eager" not in args.server_args else []
        if args.max_model_len is not None and self.server != "command":
            flag = "--max-model-len" if self.server == "vllm" else "--context-length"
            argv += [flag, str(args.max_model_len)]
        return argv + list(args.server_args)

    def start(self) -> list[str]:
        """Start the servers one after another (they share the machine while loading); their URLs."""
        if self.servers:
            return [server.base_url for server in self.servers]
        args = self.served_args
        # Only where SIGTERM still has its default meaning: mmlens's command line already turns it
        # into Ctrl-C, which reaches close().
        if threading_main() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
        # Defaults only: what the environment sets wins.
        env = {key: value for key, value in SERVER_ENV.get(self.server, {}).items() if key not in os.environ}
        for replica in range(args.replicas):
            port = args.port + replica if args.port else free_port(args.host)
            url = f"http://{args.host}:{port}/v1"
            server = ServerProcess(self.command(port), env, url, f"{self.label} (replica {replica + 1})")
            self.servers.append(server)
            try:
                server.wait_healthy(args.startup_timeout)
            except BaseException:
                self.close()
                raise
        return [server.base_url for server in self.servers]

    def client(self) -> Model:
        if self._client is None:
            from mmlens.models.openai import OpenAIArgs, OpenAIModel

            urls = self.start()
            options = {key: getattr(self.served_args, key) for key in OPENAI_PASSTHROUGH}
            where = {"base_url": urls[0]} if len(urls) == 1 else {"base_urls": urls}
            self._client = OpenAIModel(
                self.served_name, OpenAIArgs(api_key_env="MMLENS_NO_KEY", **where, **options)
            )
        return self._client

    def process(self, requests: Sequence[Request], emit: Emit) -> None:
        if requests:
            self.client().process(requests, emit)

    def close(self) -> None:
        self._client = None
        servers, self.servers = self.servers, []
        for server in servers:
            server.stop()


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
