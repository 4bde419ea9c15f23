"""Execution: send the requests the store does not have yet, save each response as it arrives."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mmlens.core.errors import MmlensError, ModelUnavailable
from mmlens.core.requests import MODEL_ROLE, Request, Response, cap_reply
from mmlens.models.base import Model
from mmlens.runner.claims import process_claimed
from mmlens.runner.progress import SampleProgress
from mmlens.store.sqlite import Store


class RunInterrupted(MmlensError):
    """Ctrl-C: what was answered is saved; the same command resumes."""


# A model whose first this many computed responses of a round all failed (none succeeded) stops the
# run (ModelUnavailable, the first error as the example) instead of failing every request in turn.
FAIL_FAST_RESPONSES = 20


@dataclass
class ExecutionStats:
    """What a model answered: for one ``execute`` call, or summed over a run's rounds (per role)."""

    unique_requests: int = 0
    cached: int = 0
    computed: int = 0
    errors: int = 0
    seconds: float = 0.0
    # token counts summed over the responses used (cached or computed), as the backend reported them
    usage: dict[str, int] = field(default_factory=dict)

    def add(self, other: ExecutionStats) -> None:
        self.unique_requests += other.unique_requests
        self.cached += other.cached
        self.computed += other.computed
        self.errors += other.errors
        self.seconds += other.seconds
        for name, count in other.usage.items():
            self.usage[name] = self.usage.get(name, 0) + count

    def to_dict(self) -> dict[str, Any]:
        """The form provenance's ``requests.by_role`` records (``usage`` only when there is any)."""
        counts: dict[str, Any] = {
            "unique": self.unique_requests,
            "cached": self.cached,
            "computed": self.computed,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
        }
        if self.usage:
            counts["usage"] = dict(self.usage)
        return counts


def usage_of(responses: Iterable[Response]) -> dict[str, int]:
    """Token counts summed over the answered responses (only whole-number counts)."""
    total: dict[str, int] = {}
    for response in responses:
        if response.ok and response.usage:
            for name, count in response.usage.items():
                if isinstance(count, int) and not isinstance(count, bool):
                    total[name] = total.get(name, 0) + count
    return total


def execute(
    unique: dict[str, Request],
    model: Model,
    store: Store,
    *,
    cached_responses: dict[str, Response],
    on_response: Callable[[str, bool], None] | None = None,
    resume_hint: str = "rerun the same command",
) -> tuple[dict[str, Response], ExecutionStats]:
    """Answer ``unique``: responses the store already has (``cached_responses``) are reused; the rest
    go to the model and are stored as they arrive (``on_response(key, ok)`` is told of each)."""
    started = time.perf_counter()
    responses = {key: cached_responses[key] for key in unique if key in cached_responses}
    cached = len(responses)
    missing_keys = [key for key in unique if key not in responses]
    missing_requests = [unique[key] for key in missing_keys]
    model_key = model.fingerprint_key()
    errors = 0
    answered = False
    first_error: str | None = None

    def emit(index: int, response: Response) -> None:
        nonlocal errors, answered, first_error
        key = missing_keys[index]
        if key in responses and responses[key].ok:
            return  # a backend emitting twice never duplicates a stored response
        response = cap_reply(response)  # a runaway reply is kept to MAX_REPLY_CHARS, the cut counted
        responses[key] = response
        if response.ok:
            store.put_response(key, model_key, unique[key].kind, response)
            answered = True
        else:
            errors += 1
            first_error = first_error or response.error
        if on_response is not None:
            on_response(key, response.ok)
        if not answered and errors >= FAIL_FAST_RESPONSES:
            raise ModelUnavailable(f"the first {errors} requests all failed; the first: {first_error}")

    def taken(key: str, response: Response) -> None:  # answered by another runner on the store
        responses[key] = response
        if on_response is not None:
            on_response(key, True)

    from_others: set[str] = set()
    try:
        if missing_requests:  # claimed first: runners sharing the store never compute one twice
            from_others = process_claimed(store, missing_keys, missing_requests, model.process, emit, taken)
    except KeyboardInterrupt:
        store.flush()
        done = sum(1 for key in missing_keys if key in responses)
        raise RunInterrupted(
            f"interrupted: {cached + done} of {len(unique)} responses are saved in {store.path}; "
            f"{resume_hint} to resume"
        ) from None
    except ModelUnavailable as error:
        store.flush()
        done = sum(1 for key in missing_keys if key in responses and responses[key].ok)
        raise ModelUnavailable(
            f"model {model.label} cannot answer, the run stopped: {error}. "
            f"{cached + done} of {len(unique)} responses are saved in {store.path}; "
            f"{resume_hint} to resume once it can"
        ) from None
    finally:
        store.flush()
    for key in missing_keys:
        if key not in responses:
            responses[key] = Response(error=f"backend {model.label} returned no response")
            errors += 1
    elapsed = time.perf_counter() - started
    usage = usage_of(responses.values())
    computed = len(missing_keys) - len(from_others)
    stats = ExecutionStats(len(unique), cached + len(from_others), computed, errors, elapsed, usage)
    return responses, stats


class Responder:
    """Answers a round's requests: each role's from its own model, through the one store.

    ``prefetched`` holds the first round's cached responses (looked up once by the caller)."""

    def __init__(
        self,
        models: dict[str, Model],
        store: Store,
        *,
        progress: bool = False,
        resume_hint: str = "rerun the same command",
        prefetched: dict[str, Response] | None = None,
    ) -> None:
        self.models = models
        self.store = store
        self.progress = progress
        self.resume_hint = resume_hint
        self.prefetched = prefetched
        self.stats: dict[str, ExecutionStats] = {role: ExecutionStats() for role in models}
        self.cached_keys: set[str] = set()
        # the run's sample progress bar (drive() starts each round); None: no bar
        self.tracker: SampleProgress | None = None

    def __call__(self, unique: dict[str, Request]) -> dict[str, Response]:
        by_role: dict[str, dict[str, Request]] = {}
        for key, request in unique.items():
            by_role.setdefault(request.role, {})[key] = request
        answered: dict[str, Response] = {}
        saved: dict[str, dict[str, Response]] = {}
        for role, requests in by_role.items():  # first what the store has, so the bar starts there
            if self.prefetched is not None:
                saved[role] = {key: self.prefetched[key] for key in requests if key in self.prefetched}
            else:
                saved[role] = self.store.get_responses(requests)
        tracker = self.tracker
        if tracker is not None:
            for cached_responses in saved.values():
                tracker.saved(cached_responses)
            tracker.begin()
        for role, requests in by_role.items():
            model = self.models[role]
            cached = saved[role]
            refused = {key for key, request in requests.items() if request.kind not in model.supported_kinds}
            sendable = {key: request for key, request in requests.items() if key not in refused}
            self.cached_keys.update(cached)
            try:
                responses, stats = execute(
                    sendable,
                    model,
                    self.store,
                    cached_responses=cached,
                    on_response=tracker.answered if tracker is not None else None,
                    resume_hint=self.resume_hint,
                )
            except ModelUnavailable as error:
                if role == MODEL_ROLE:
                    raise
                raise ModelUnavailable(f"{role}: {error}") from None  # which role's model cannot answer
            for key in refused:
                kind = requests[key].kind
                responses[key] = Response(error=f"model {model.label} ({role}) cannot answer {kind} requests")
                if tracker is not None:
                    tracker.answered(key, False)
            stats.errors += len(refused)
            self.stats[role].add(stats)
            answered.update(responses)
        self.prefetched = None
        return answered
