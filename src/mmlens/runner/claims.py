"""Claims: runners sharing one store never compute the same request twice.

Before sending requests, a runner claims their keys in the store (``claims`` table: owner, lease
expiry), a batch at a time: a key nobody holds, or whose lease has expired (its runner died), is
taken; a key another runner holds is left to it. The runner computes what it holds, commits the
responses, then drops its claims; while it works, a thread renews its leases every third of the
lease. When everything left is held by others, it polls the store for their responses, and takes
over any key whose lease runs out. A key answered meanwhile is seen answered (the claim is made
before the responses are looked at, store/database.py ``Store.claim``), never computed again.

A runner on this machine whose process is gone (``kill -9``, a crash: the pid, start time and boot
in its owner name tell, as ``mmlens show`` tells a killed run) loses its claims at once instead.
A failed request is not stored: its claim is dropped and whoever needs it next tries it again.
Leases are compared on the database's clock (the server's, for PostgreSQL), never the runners'.

Settings (environment, for a cluster's runners and for tests):
- ``MMLENS_CLAIM_LEASE``: seconds a claim holds without renewal (default 20): how long a killed
  runner's requests wait before another runner (or its own rerun) takes them over.
- ``MMLENS_CLAIM_BATCH``: keys claimed at a time (default 256): smaller spreads the work of
  runners started together more evenly, larger costs fewer store round trips.
- ``MMLENS_CLAIM_POLL``: seconds between looks at the store while waiting for others (default 0.2).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mmlens.core.errors import ConfigError
from mmlens.core.requests import Request, Response
from mmlens.core.results import ProcessProvenance
from mmlens.runner.provenance import process_is_gone, this_process
from mmlens.store.backend import StoreError
from mmlens.store.database import Store

Process = Callable[[Sequence[Request], Callable[[int, Response], None]], None]


@dataclass(frozen=True)
class ClaimSettings:
    lease: float = 20.0
    batch: int = 256
    poll: float = 0.2

    @classmethod
    def from_environment(cls) -> ClaimSettings:
        def number(name: str, default: float, kind: type[float] | type[int]) -> float:
            text = os.environ.get(name)
            if not text:
                return default
            try:
                value = kind(text)
            except ValueError:
                raise ConfigError(f"{name}={text!r}: not a number") from None
            if value <= 0:
                raise ConfigError(f"{name}={text!r}: must be more than 0")
            return value

        return cls(
            lease=number("MMLENS_CLAIM_LEASE", cls.lease, float),
            batch=int(number("MMLENS_CLAIM_BATCH", cls.batch, int)),
            poll=number("MMLENS_CLAIM_POLL", cls.poll, float),
        )


def new_owner() -> str:
    """This runner's name in the claims table: its process (host, pid, start time, boot) as JSON,
    and a random part (two ``execute`` calls of one process are two owners)."""
    process = this_process().model_dump()
    return json.dumps({**process, "claim": uuid.uuid4().hex[:12]}, sort_keys=True)


def owner_is_gone(owner: str) -> bool:
    """Whether ``owner``'s process has ended, as far as this machine can tell (another machine's
    runner, or an owner name of another form: False, its lease decides)."""
    try:
        named = json.loads(owner)
        process = ProcessProvenance(**{field: named.get(field) for field in ProcessProvenance.model_fields})
    except (ValueError, TypeError, AttributeError):
        return False
    return process.host is not None and (process_is_gone(process) or _zombie(process))


def _zombie(process: ProcessProvenance) -> bool:
    """A killed process its parent has not reaped yet still answers to its pid, and is dead."""
    if process.pid is None or process.host != socket.gethostname():
        return False
    try:
        stat = Path(f"/proc/{process.pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].startswith("Z")


class LeaseKeeper:
    """Renews ``owner``'s leases every third of the lease until closed; closing drops its claims."""

    def __init__(self, store: Store, owner: str, lease: float) -> None:
        self.store, self.owner, self.lease = store, owner, lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="mmlens-claims", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.lease / 3):
            with contextlib.suppress(StoreError):  # the next round tries again; the run reports errors
                self.store.renew_claims(self.owner, self.lease)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(StoreError):
            self.store.release_claims(self.owner)


def process_claimed(
    store: Store,
    keys: Sequence[str],
    requests: Sequence[Request],
    process: Process,
    emit: Callable[[int, Response], None],
    taken: Callable[[str, Response], None],
    settings: ClaimSettings | None = None,
) -> set[str]:
    """Answer ``requests`` (``keys[i]`` is ``requests[i]``'s key) with the runners sharing
    ``store``: what this runner claims goes through ``process`` and ``emit`` (by index in
    ``keys``), what another runner answers is handed to ``taken``. Returns the keys taken."""
    settings = settings or ClaimSettings.from_environment()
    owner = new_owner()
    index = {key: position for position, key in enumerate(keys)}
    pending = dict.fromkeys(keys)  # not answered yet, by anyone (ordered)
    from_others: set[str] = set()

    def hand_over(found: dict[str, Response]) -> None:
        for key, response in found.items():
            if key in pending:
                del pending[key]
                from_others.add(key)
                taken(key, response)

    def compute(mine: list[str]) -> None:
        def emit_mine(position: int, response: Response) -> None:
            emit(index[mine[position]], response)

        process([requests[index[key]] for key in mine], emit_mine)
        for key in mine:
            pending.pop(key, None)

    keeper = LeaseKeeper(store, owner, settings.lease)
    held: set[str] = set()  # seen held by another runner in this pass over ``pending``
    verdicts: dict[str, bool] = {}  # other owners seen in this pass: is its process gone?
    try:
        while pending:
            # the first keys not known to be another's (a scan of pending's head, not all of it)
            window = list(itertools.islice((key for key in pending if key not in held), settings.batch))
            if window:  # the next keys not known to be another's: claim what is free of them
                others = store.claimed_by_others(window, owner)
                for other in set(others.values()) - set(verdicts):
                    verdicts[other] = owner_is_gone(other)
                dead = {other for other in others.values() if verdicts[other]}
                if dead:  # a runner killed on this machine: its claims are free now
                    store.drop_claims_of(dead)
                    continue
                held |= others.keys()
                free = [key for key in window if key not in others]
                mine, answered = store.claim(free, owner, settings.lease) if free else ([], set())
                if answered:
                    found = store.get_responses(answered)
                    hand_over(found)
                    unreadable = [key for key in answered if key not in found and key in pending]
                    if unreadable:  # stored, but its text is missing: asked again, as without claims
                        compute(unreadable)
                if mine:
                    compute(mine)
                    store.release_claims(owner, mine)  # after their responses are committed
                continue
            # everything left is another runner's: wait for its answers (or for its lease to end)
            found = store.get_responses(pending)
            hand_over(found)
            held.clear()
            verdicts.clear()
            if not found:
                time.sleep(settings.poll)
        store.drop_claims(from_others)  # a dead runner's, on what it answered before it died
    finally:
        keeper.close()
    return from_others
