"""Retry timing and adaptive concurrency for HTTP model backends.

Kept free of any HTTP library so that it can be tested on its own: ``parse_retry_after`` reads the
server's ``Retry-After`` header, ``backoff_delay`` is exponential backoff with jitter and
``AdaptiveConcurrency`` is an AIMD limit on requests in flight (halve on overload, then grow back by
about one slot per window of successful requests), in the spirit of TCP congestion control.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": half of base·2^(attempt-1) fixed, half random (capped).

    The fixed half guarantees the wait actually grows; the random half spreads out clients that failed
    together, so they do not retry in lock step.
    """
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    draw = (rng or random).random()
    return ceiling / 2 + draw * ceiling / 2


class AdaptiveConcurrency:
    """An asyncio limit on requests in flight that shrinks while the server pushes back.

    ``acquire`` returns a ticket (the current congestion epoch). An overload signal from a request
    started in the current epoch halves the limit and opens a new epoch, so a burst of 429s answering
    one window of requests halves it once, not once per reply. Each success adds 1/limit (one slot per
    window of successes), up to ``maximum``. ``pause`` holds back every new request until a time the
    server asked for (Retry-After). Single event loop only; no locks needed.
    """

    def __init__(self, maximum: int, minimum: int = 1) -> None:
        if maximum < 1:
            raise ValueError("maximum concurrency must be at least 1")
        self.maximum = maximum
        self.minimum = max(1, min(minimum, maximum))
        self.limit = float(maximum)
        self.in_flight = 0
        self.max_in_flight = 0
        self.lowest_limit = maximum
        self.decreases = 0
        self._epoch = 0
        self._paused_until = 0.0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def current(self) -> int:
        return max(self.minimum, int(self.limit))

    async def acquire(self) -> int:
        while True:
            delay = self._paused_until - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            if self.in_flight < self.current:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                return self._epoch
            await wait_in_line(self._waiters, self._wake)

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def on_success(self) -> None:
        before = self.current
        self.limit = min(float(self.maximum), self.limit + 1.0 / self.limit)
        if self.current > before:
            self._wake()

    def on_overload(self, ticket: int) -> None:
        if ticket != self._epoch:
            return  # this window was already answered by a decrease
        self._epoch += 1
        self.decreases += 1
        self.limit = max(float(self.minimum), self.limit / 2)
        self.lowest_limit = min(self.lowest_limit, self.current)

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def _wake(self) -> None:
        free = self.current - self.in_flight
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1


async def wait_in_line(waiters: deque[asyncio.Future[None]], wake: Callable[[], None]) -> None:
    """Waits in ``waiters`` until ``wake`` resolves this waiter (it pops waiters from the left). A
    waiter woken but cancelled before it ran hands its slot on, so no slot is lost to a cancel."""
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waiters.append(waiter)
    try:
        await waiter
    except asyncio.CancelledError:
        if waiter.done() and not waiter.cancelled():
            wake()
        elif waiter in waiters:
            waiters.remove(waiter)
        raise
