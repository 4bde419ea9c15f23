"""Ray: model replicas as Ray actors across a cluster, behind the one ``Model`` protocol.

``mmlens run TASK --model hf:MODEL --ray [ADDRESS] [--ray-workers N]``

The driver (this process) plans, de-duplicates, claims and stores exactly as in a single-process
run; only ``process`` differs: the requests are cut into chunks, and each chunk is sent to one
``ModelWorker`` actor, which builds the real backend (``hf``, ``openai``, ...) from the model spec
and answers it. Each worker keeps ``PIPELINE`` chunks queued so it never waits for the driver; a
worker that finishes one gets the next, so fast workers take more.

- One worker per GPU of the cluster (each actor asks Ray for one GPU, and its backend sees only that
  one), or, on a cluster without GPUs, one per CPU; ``--ray-workers N`` sets the number (and
  ``gpus_per_worker`` / ``cpus_per_worker`` the size) of the workers.
- Answers do not depend on which worker gave them: the wrapper's label and fingerprint are the
  backend's own (a Ray run reuses a single-process run's stored answers and vice versa), and each
  worker's backend must have the driver's fingerprint (same weights, same library versions); a
  worker on a node that differs is refused, naming it.
- A worker that dies (its process killed, its node lost) loses nothing: the chunks it held are sent
  to the others, and the run goes on with one warning line. When every worker is gone the run
  stops with ``ModelUnavailable``, as for an unreachable endpoint.
- ``ADDRESS``: ``auto`` (the cluster this machine belongs to), ``HOST:PORT`` of a head node, or
  ``ray://HOST:10001`` (Ray Client). Without one, ``RAY_ADDRESS`` if set, else a local Ray instance
  is started for the run (and stopped with it).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mmlens.core.errors import ConfigError, ModelUnavailable
from mmlens.core.requests import Request, RequestKind, Response
from mmlens.models.base import Emit, Model, ModelArgs, ModelSpec, build_model

logger = logging.getLogger(__name__)

# Chunks queued per worker: one being answered, one waiting, so a worker never waits for the driver.
PIPELINE = 2
# Requests per chunk, unless set: enough for a backend's batch, small enough to spread a run.
DEFAULT_CHUNK = 16
# A local Ray started for a run: no dashboard, a small object store, no usage statistics.
LOCAL_OBJECT_STORE_BYTES = 128 * 1024 * 1024


class RayOptions(ModelArgs):
    address: str | None = None
    workers: int | None = None  # default: one per GPU in the cluster, else one per CPU
    gpus_per_worker: float | None = None  # default: 1 on a cluster with GPUs, else 0
    cpus_per_worker: float = 1.0
    chunk_size: int = DEFAULT_CHUNK


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray: pip install 'mmlens[ray]' (or pip install ray)") from None
    return ray


class ModelWorker:
    """A Ray actor holding one replica of the model (built from its spec where the actor runs)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.model = build_model(ModelSpec.model_validate(spec))

    def identity(self) -> tuple[str, str, int]:
        """(fingerprint key, node, process id)."""
        import socket

        return self.model.fingerprint_key(), socket.gethostname(), os.getpid()

    def process(self, requests: list[Request]) -> list[tuple[int, Response]]:
        answers: list[tuple[int, Response]] = []
        self.model.process(requests, lambda index, response: answers.append((index, response)))
        return answers

    def cpu_seconds(self) -> float:
        """This actor's CPU time so far (benchmarks: how much of a core it got)."""
        import time

        return time.process_time()

    def close(self) -> None:
        self.model.close()


@dataclass
class _Worker:
    actor: Any
    name: str = ""
    queued: int = 0
    answered: int = 0
    lost: str | None = None


@dataclass
class RayRunStats:
    """The last ``process`` call: requests answered per worker, chunks sent, chunks redone."""

    chunks: int = 0
    redone: int = 0
    workers: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)


class RayPoolModel(Model):
    """``spec``'s backend, answered by Ray actors (see the module doc)."""

    Args = RayOptions

    def __init__(self, spec: ModelSpec, options: RayOptions | None = None) -> None:
        self.inner = build_model(spec)  # cheap: backends load lazily; gives the label and fingerprint
        super().__init__(self.inner.name, options or RayOptions())
        self.options: RayOptions = self.args  # type: ignore[assignment]
        self.spec = spec
        self.backend = self.inner.backend  # type: ignore[misc]
        self.supported_kinds: frozenset[RequestKind] = self.inner.supported_kinds  # type: ignore[misc]
        self.workers: list[_Worker] = []
        self.last_stats = RayRunStats()
        self.worker_answers: dict[str, int] = {}  # since the last ``serving`` call
        self._started_ray = False

    backend: ClassVar[str] = "ray"

    @property
    def label(self) -> str:
        return self.inner.label

    def fingerprint(self) -> dict[str, Any]:
        return self.inner.fingerprint()

    def serving(self) -> dict[str, int]:
        answers, self.worker_answers = self.worker_answers, {}
        return answers

    # -- workers -------------------------------------------------------------------------------

    def start(self) -> list[_Worker]:
        """Connect to (or start) Ray and start the workers, once; the live workers."""
        ray = import_ray()

        if not ray.is_initialized():
            address = self.options.address or os.environ.get("RAY_ADDRESS") or None
            settings: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
            if address is None:  # a local instance for this run only
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                settings.update(include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE_BYTES)
                self._started_ray = True
            try:
                ray.init(address=address or "local", **settings)  # local: never another run's Ray
            except (ConnectionError, ValueError, RuntimeError) as error:
                raise ModelUnavailable(
                    f"--ray {address}: cannot connect to the Ray cluster: {error}"
                ) from None
        if not self.workers:
            self.workers = self._start_workers(ray)
        return [worker for worker in self.workers if worker.lost is None]

    def _start_workers(self, ray: Any) -> list[_Worker]:
        resources = ray.cluster_resources()
        gpus = self.options.gpus_per_worker
        if gpus is None:
            gpus = 1.0 if resources.get("GPU", 0) >= 1 else 0.0
        count = self.options.workers
        if count is None:
            count = int(resources.get("GPU", 0) // gpus) if gpus else int(resources.get("CPU", 1))
        if count < 1:
            raise ConfigError(f"--ray: the cluster has no room for a worker ({resources})")
        remote = ray.remote(ModelWorker).options(num_cpus=self.options.cpus_per_worker, num_gpus=gpus)
        spec = self.spec.model_dump(mode="json")
        actors = [remote.remote(spec) for _ in range(count)]
        expected = self.inner.fingerprint_key()
        workers = []
        for actor, (key, node, pid) in zip(
            actors, ray.get([a.identity.remote() for a in actors]), strict=True
        ):
            name = f"{node}:{pid}"
            if key != expected:
                for other in actors:
                    ray.kill(other)
                raise ConfigError(
                    f"--ray: the worker on {node} would answer as another model than this one (its "
                    f"fingerprint differs: other weights or library versions): {key} vs {expected}"
                )
            workers.append(_Worker(actor, name))
        logger.info(
            "%s: %d Ray workers (%g GPU, %g CPU each)", self.label, count, gpus, self.options.cpus_per_worker
        )
        return workers

    def close(self) -> None:
        import ray

        for worker in self.workers:
            if worker.lost is None:
                ray.kill(worker.actor)
        self.workers = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False

    # -- answering -----------------------------------------------------------------------------

    def process(self, requests: Sequence[Request], emit: Emit) -> None:
        if not requests:
            return
        ray = import_ray()
        from ray.exceptions import RayActorError, RayTaskError

        live = self.start()
        size = self.options.chunk_size
        chunks: deque[list[int]] = deque(
            list(range(start, min(start + size, len(requests)))) for start in range(0, len(requests), size)
        )
        stats = RayRunStats()
        sent: dict[Any, tuple[_Worker, list[int]]] = {}

        def fill(worker: _Worker) -> None:
            while chunks and worker.queued < PIPELINE and worker.lost is None:
                indices = chunks.popleft()
                reference = worker.actor.process.remote([requests[i] for i in indices])
                sent[reference] = (worker, indices)
                worker.queued += 1
                stats.chunks += 1

        for worker in live:
            fill(worker)
        try:
            while sent:
                (ready,), _ = ray.wait(list(sent), num_returns=1)
                worker, indices = sent.pop(ready)
                worker.queued -= 1
                try:
                    answers = ray.get(ready)
                except RayActorError as error:
                    chunks.appendleft(indices)  # redone by a worker still alive
                    stats.redone += 1
                    self._lose(worker, error, stats)
                    for other in self.workers:
                        fill(other)
                    continue
                except RayTaskError as error:  # the backend raised: as it would have in this process
                    raise error.as_instanceof_cause() from None
                for local, response in answers:
                    emit(indices[local], response)
                worker.answered += len(answers)
                stats.workers[worker.name] = stats.workers.get(worker.name, 0) + len(answers)
                self.worker_answers[worker.name] = self.worker_answers.get(worker.name, 0) + len(answers)
                fill(worker)
        except BaseException:
            for reference in sent:
                with contextlib.suppress(Exception):  # best effort: the run is stopping anyway
                    ray.cancel(reference)
            raise
        finally:
            self.last_stats = stats

    def _lose(self, worker: _Worker, error: Exception, stats: RayRunStats) -> None:
        if worker.lost is not None:
            return
        worker.lost = type(error).__name__
        stats.lost.append(worker.name)
        alive = [other for other in self.workers if other.lost is None]
        logger.warning(
            "Ray worker %s is gone (%s); its requests go to the %d left", worker.name, worker.lost, len(alive)
        )
        if not alive:
            raise ModelUnavailable(
                f"{self.label}: every Ray worker is gone (the last: {worker.name}, {error})"
            )
