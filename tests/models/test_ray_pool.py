"""Ray (issue 14, item 5): model replicas as Ray actors on a real local Ray cluster (``ray start
--head`` with 2 CPUs, reached by its address as a remote cluster would be), 2 workers, a tiny hf model:
the answers are a single process's, and a worker killed mid-run loses nothing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mmlens.core.messages import Message
from mmlens.core.requests import GenerationSettings, Request, Response
from mmlens.models.base import ModelSpec, build_model
from tests.fixtures.numbers_bench import build_numbers_task
from tests.fixtures.tiny_models import tiny_model_factory, tiny_text_lm_dir  # noqa: F401 - fixtures

ray = pytest.importorskip("ray")
pytest.importorskip("transformers")

from mmlens.models.ray_pool import RayOptions, RayPoolModel  # noqa: E402

pytestmark = pytest.mark.timeout(180)

# Token authentication (Ray's default since 2.5x) is off for this cluster on 127.0.0.1 only.
LIGHT_RAY = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
    "RAY_AUTH_MODE": "disabled",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Ray head node with 2 CPUs, no dashboard and a small object store, stopped with the module."""
    port = free_port()
    saved = {name: os.environ.get(name) for name in LIGHT_RAY}
    os.environ.update(LIGHT_RAY)  # this process is the driver
    ray_cli = Path(sys.executable).with_name("ray")
    folder = tmp_path_factory.mktemp("ray")
    log = folder / "head.log"
    command = [str(ray_cli), "start", "--head", "--block", "--node-ip-address", "127.0.0.1"]
    command += ["--port", str(port), "--num-cpus", "2", "--num-gpus", "0", "--include-dashboard", "false"]
    command += ["--object-store-memory", str(100 * 1024 * 1024), "--disable-usage-stats"]
    command += ["--temp-dir", str(folder / "t")]  # its session files there, not in the machine's /tmp/ray
    with log.open("w") as out:
        head = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **LIGHT_RAY},
            start_new_session=True,
        )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while "Ray runtime started" not in log.read_text():
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start failed:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        os.killpg(head.pid, signal.SIGTERM)  # the head and the processes it started, all ours
        try:
            head.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(10)


def requests() -> list[Request]:
    items = []
    for i in range(24):
        messages = (Message.user(f"question number {i}: is {i * 7 % 11} odd?"),)
        items.append(Request("generate", messages, GenerationSettings(max_new_tokens=4)))
        items.append(Request("loglikelihood", messages, continuation=" yes" if i % 2 else " no"))
    return items


def answers(model: object, items: list[Request], on_emit: object = None) -> list[Response]:
    got: dict[int, Response] = {}

    def emit(index: int, response: Response) -> None:
        assert index not in got, f"request {index} answered twice"
        got[index] = response
        if callable(on_emit):
            on_emit(len(got))

    model.process(items, emit)  # type: ignore[attr-defined]
    assert sorted(got) == list(range(len(items)))
    return [got[i] for i in range(len(items))]


def assert_same(first: list[Response], second: list[Response]) -> None:
    for a, b in zip(first, second, strict=True):
        assert a.error is None and b.error is None, (a.error, b.error)
        assert a.text == b.text
        assert a.usage == b.usage
        assert a.is_greedy == b.is_greedy
        if a.logprob is not None or b.logprob is not None:
            assert a.logprob is not None and b.logprob is not None
            assert abs(a.logprob - b.logprob) < 1e-4  # batched differently: float32 rounding only


@pytest.fixture(scope="module")
def spec(tiny_text_lm_dir: Path) -> ModelSpec:  # noqa: F811
    return ModelSpec(backend="hf", name=str(tiny_text_lm_dir), args={"dtype": "float32", "batch_size": 4})


@pytest.fixture(scope="module")
def single_process(spec: ModelSpec) -> list[Response]:
    return answers(build_model(spec), requests())


def test_two_workers_answer_as_one_process_does(
    ray_address: str, spec: ModelSpec, single_process: list[Response]
) -> None:
    pool = RayPoolModel(spec, RayOptions(address=ray_address, workers=2, chunk_size=4))
    try:
        assert pool.label == build_model(spec).label
        assert pool.fingerprint_key() == build_model(spec).fingerprint_key()  # same keys in the store
        assert_same(single_process, answers(pool, requests()))
        stats = pool.last_stats
        assert len(stats.workers) == 2 and all(count >= 8 for count in stats.workers.values()), stats
        assert sum(stats.workers.values()) == len(single_process) and stats.redone == 0
    finally:
        pool.close()


def test_a_worker_killed_mid_run_loses_nothing(
    ray_address: str, spec: ModelSpec, single_process: list[Response]
) -> None:
    pool = RayPoolModel(spec, RayOptions(address=ray_address, workers=2, chunk_size=4))
    try:
        pool.start()
        victim = pool.workers[1]
        pid = int(victim.name.rsplit(":", 1)[1])

        def kill_on_first_answer(answered: int) -> None:
            if answered == 1:  # the victim still holds queued chunks (2 of the 12)
                os.kill(pid, signal.SIGKILL)

        assert_same(single_process, answers(pool, requests(), kill_on_first_answer))
        stats = pool.last_stats
        assert stats.lost == [victim.name] and stats.redone >= 1, stats
        assert sum(stats.workers.values()) == len(single_process), stats
        # a later call goes on with the one left
        assert_same(single_process[:8], answers(pool, requests()[:8]))
    finally:
        pool.close()


def test_mmlens_run_with_ray_gives_the_numbers_of_a_plain_run(
    ray_address: str,
    tiny_text_lm_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    task = build_numbers_task(tmp_path / "bench", count=24, duplicates=0)
    model = ["--model", f"hf:{tiny_text_lm_dir}", "--model-args", "dtype=float32,drop_images=true"]

    def run(name: str, *extra: str) -> dict[str, object]:
        command = [
            sys.executable,
            "-m",
            "mmlens",
            "--store",
            str(tmp_path / f"{name}.sqlite"),
            "run",
            "numbers",
        ]
        command += ["--include", str(task), *model, "--output-dir", str(tmp_path / name), "--json", *extra]
        done = subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, **LIGHT_RAY}, timeout=150, check=False
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    plain = run("plain")
    with_ray = run("ray", "--ray", ray_address, "--ray-workers", "2")
    assert with_ray["metrics"] == plain["metrics"]
    ray_model = dict(with_ray["provenance"]["model"])  # type: ignore[index]
    answered_by = ray_model.pop("answered_by")  # which worker answered: recorded, never in the fingerprint
    assert sum(answered_by.values()) == 24 and "answered_by" not in plain["provenance"]["model"]  # type: ignore[index]
    assert ray_model == plain["provenance"]["model"]  # type: ignore[index]
    assert with_ray["provenance"]["requests"]["computed"] == 24  # type: ignore[index]
    samples = {p.name: p for p in (tmp_path / "plain").rglob("samples.jsonl")}
    ray_samples = {p.name: p for p in (tmp_path / "ray").rglob("samples.jsonl")}
    predictions = [
        [json.loads(line).get("prediction") for line in path.read_text().splitlines()]
        for path in (*samples.values(), *ray_samples.values())
    ]
    assert len(predictions) == 2 and predictions[0] == predictions[1]
