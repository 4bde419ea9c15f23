"""Execution: send the requests the store does not have yet, save each response as it arrives."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from mmlens.core.errors import MmlensError, ModelUnavailable
from mmlens.core.requests import MODEL_ROLE, Request, Response, cap_reply
from mmlens.models.base import Model
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

    def add(self, other: ExecutionStats) -> None:
        self.unique_requests += other.unique_requests
        self.cached += other.cached
        self.computed += other.computed
        self.errors += other.errors
        self.seconds += other.seconds

    def to_dict(self) -> dict[str, float | int]:
        """The form provenance's ``requests.by_role`` records."""
        return {
            "unique": self.unique_requests,
            "cached": self.cached,
            "computed": self.computed,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
        }


ProgressFactory = Callable[[int, str], "ProgressBar"]


class ProgressBar:
    """A tqdm bar on stderr with counts and ETA; silent when disabled."""

    def __init__(self, total: int, description: str, enabled: bool) -> None:
        self._bar = None
        if enabled and total:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=description, unit="req", file=sys.stderr, dynamic_ncols=True)

    def update(self, errors: int) -> None:
        if self._bar is not None:
            self._bar.update(1)
            if errors:
                self._bar.set_postfix(errors=errors, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def execute(
    unique: dict[str, Request],
    model: Model,
    store: Store,
    *,
    cached_responses: dict[str, Response],
    progress: bool = False,
    resume_hint: str = "rerun the same command",
) -> tuple[dict[str, Response], ExecutionStats]:
    """Answer ``unique``: responses the store already has (``cached_responses``) are reused; the rest
    go to the model and are stored as they arrive."""
    started = time.perf_counter()
    responses = {key: cached_responses[key] for key in unique if key in cached_responses}
    cached = len(responses)
    missing_keys = [key for key in unique if key not in responses]
    missing_requests = [unique[key] for key in missing_keys]
    model_key = model.fingerprint_key()
    errors = 0
    answered = False
    first_error: str | None = None
    bar = ProgressBar(len(missing_keys), model.label, progress)

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
        bar.update(errors)
        if not answered and errors >= FAIL_FAST_RESPONSES:
            raise ModelUnavailable(f"the first {errors} requests all failed; the first: {first_error}")

    try:
        if missing_requests:
            model.process(missing_requests, emit)
    except KeyboardInterrupt:
        store.flush()
        bar.close()
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
        bar.close()
    for key in missing_keys:
        if key not in responses:
            responses[key] = Response(error=f"backend {model.label} returned no response")
            errors += 1
    stats = ExecutionStats(len(unique), cached, len(missing_keys), errors, time.perf_counter() - started)
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

    def __call__(self, unique: dict[str, Request]) -> dict[str, Response]:
        by_role: dict[str, dict[str, Request]] = {}
        for key, request in unique.items():
            by_role.setdefault(request.role, {})[key] = request
        answered: dict[str, Response] = {}
        for role, requests in by_role.items():
            model = self.models[role]
            if self.prefetched is not None:
                cached = {key: self.prefetched[key] for key in requests if key in self.prefetched}
            else:
                cached = self.store.get_responses(requests)
            refused = {key for key, request in requests.items() if request.kind not in model.supported_kinds}
            sendable = {key: request for key, request in requests.items() if key not in refused}
            self.cached_keys.update(cached)
            try:
                responses, stats = execute(
                    sendable,
                    model,
                    self.store,
                    cached_responses=cached,
                    progress=self.progress,
                    resume_hint=self.resume_hint,
                )
            except ModelUnavailable as error:
                if role == MODEL_ROLE:
                    raise
                raise ModelUnavailable(f"{role}: {error}") from None  # which role's model cannot answer
            for key in refused:
                kind = requests[key].kind
                responses[key] = Response(error=f"model {model.label} ({role}) cannot answer {kind} requests")
            stats.errors += len(refused)
            self.stats[role].add(stats)
            answered.update(responses)
        self.prefetched = None
        return answered
