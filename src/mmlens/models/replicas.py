"""Replicas: one model served at several endpoints, each request sent to whichever has room.

``--base-url URL1 --base-url URL2`` (or ``--model-args base_urls=[URL1,URL2]``) on the ``openai``
backend, or ``served:...`` with ``replicas: N``, which hands the pool its servers' URLs. Kept free of
any HTTP library (like ``http_retry``): the backend sends, the pool says where.

- Every replica has its own ``AdaptiveConcurrency`` of ``concurrency`` slots (per-replica
  concurrency: N replicas take N x concurrency requests in flight) and its own AIMD state, so one
  overloaded server is backed off without slowing the others.
- ``acquire`` gives the attempt to the healthy replica with the most room (fewest requests in flight
  for its limit), waiting when all are full or paused (Retry-After). An attempt is sent elsewhere at
  once, without using up one of the request's attempts, when a replica cannot be connected to or
  refuses the key while another is healthy (``avoid``): requests queued for a dead replica and its
  in-flight ones that fail over the dropped connection go to the others.
- A replica with ``take_out_after`` such failures in a row (no success between them) while another
  is healthy is taken out for the rest of the run, with a one-line warning. The last healthy one is
  judged as a single endpoint is (the backend raises ``ModelUnavailable``, ending the run as an
  unreachable endpoint does).
- Which replica answered never enters a request's key: the backend's fingerprint leaves the URLs of a
  replica set out, and ``answered`` (per replica, credentials masked) is reported in the backend's
  stats, not in any response.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mmlens.core.secrets import mask_url
from mmlens.models.http_retry import AdaptiveConcurrency, wait_in_line

logger = logging.getLogger(__name__)


class Replica:
    """One endpoint of the pool and what the run has learnt about it."""

    def __init__(self, base_url: str, concurrency: int, proxy: str | None = None) -> None:
        self.base_url = base_url
        self.limiter = AdaptiveConcurrency(concurrency)
        self.proxy = proxy
        self.answered = 0  # successful attempts
        self.attempts = 0
        self.unavailable_in_a_row = 0
        self.out: str | None = None  # why it was taken out, once it is

    @property
    def healthy(self) -> bool:
        return self.out is None

    @property
    def label(self) -> str:
        return mask_url(self.base_url)

    def room(self) -> float:
        """Free share of its limit (1: idle); <= 0 when full or paused."""
        limiter = self.limiter
        if limiter._paused_until > time.monotonic():  # noqa: SLF001 - the pool schedules its limiters
            return 0.0
        return 1.0 - limiter.in_flight / limiter.current


@dataclass(frozen=True)
class Lease:
    """One attempt's slot on one replica; ``ticket`` is the replica limiter's congestion epoch."""

    replica: Replica
    ticket: int


class ReplicaPool:
    """Slots on several endpoints of one model (see the module doc). One event loop; no locks needed.

    ``ReplicaPool(["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"], concurrency=32)``.
    """

    def __init__(
        self,
        base_urls: Sequence[str],
        concurrency: int,
        take_out_after: int = 3,
        proxies: Sequence[str | None] | None = None,
    ) -> None:
        if not base_urls:
            raise ValueError("a replica pool needs at least one base URL")
        proxies = list(proxies) if proxies is not None else [None] * len(base_urls)
        self.replicas = [
            Replica(url, concurrency, proxy) for url, proxy in zip(base_urls, proxies, strict=True)
        ]
        self.take_out_after = take_out_after
        self.in_flight = 0
        self.max_in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def concurrency(self) -> int:
        """Slots over all replicas (each replica's maximum)."""
        return sum(replica.limiter.maximum for replica in self.replicas)

    @property
    def healthy(self) -> list[Replica]:
        return [replica for replica in self.replicas if replica.healthy]

    @property
    def lowest_limit(self) -> int:
        return min(replica.limiter.lowest_limit for replica in self.replicas)

    def others_healthy(self, replicas: Iterable[Replica]) -> bool:
        """Whether a healthy replica outside ``replicas`` is left."""
        excluded = set(map(id, replicas))
        return any(id(replica) not in excluded for replica in self.healthy)

    def answered(self) -> dict[str, int]:
        """Successful attempts per replica (its URL, credentials masked), in the order given."""
        counts: dict[str, int] = {}
        for replica in self.replicas:
            counts[replica.label] = counts.get(replica.label, 0) + replica.answered
        return counts

    async def acquire(self, avoid: Iterable[Replica] = ()) -> Lease:
        """A slot on the healthy replica with the most room, outside ``avoid`` while one is healthy."""
        avoided = set(map(id, avoid))
        while True:
            candidates = self.healthy
            if not candidates:
                raise RuntimeError("every replica was taken out")  # the backend raises before this
            preferred = [replica for replica in candidates if id(replica) not in avoided] or candidates
            best = max(preferred, key=Replica.room)
            if best.room() > 0:
                limiter = best.limiter
                limiter.in_flight += 1
                limiter.max_in_flight = max(limiter.max_in_flight, limiter.in_flight)
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                best.attempts += 1
                return Lease(best, limiter._epoch)  # noqa: SLF001
            paused = [replica.limiter._paused_until for replica in preferred]  # noqa: SLF001
            if all(until > time.monotonic() for until in paused):
                await asyncio.sleep(max(0.0, min(paused) - time.monotonic()))
                continue
            await wait_in_line(self._waiters, self._wake)

    def release(self, lease: Lease) -> None:
        lease.replica.limiter.in_flight -= 1
        self.in_flight -= 1
        self._wake()

    def succeeded(self, lease: Lease) -> None:
        replica = lease.replica
        replica.answered += 1
        replica.unavailable_in_a_row = 0
        before = replica.limiter.current
        replica.limiter.on_success()
        if replica.limiter.current > before:
            self._wake()

    def overloaded(self, lease: Lease) -> None:
        lease.replica.limiter.on_overload(lease.ticket)

    def pause(self, lease: Lease, seconds: float) -> None:
        """Hold back the replica that asked (Retry-After); the others go on."""
        lease.replica.limiter.pause(seconds)

    def take_out(self, replica: Replica, reason: str) -> None:
        if replica.out is not None:
            return
        replica.out = reason
        left = len(self.healthy)
        logger.warning(
            "replica %s taken out (%s); %d of %d replicas left",
            replica.label,
            reason,
            left,
            len(self.replicas),
        )
        self._wake()

    def _wake(self) -> None:
        free = sum(max(0, replica.limiter.current - replica.limiter.in_flight) for replica in self.healthy)
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1
