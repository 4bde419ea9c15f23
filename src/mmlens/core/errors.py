"""Errors that reach the user as one clear message instead of a traceback."""

from __future__ import annotations


class MmlensError(Exception):
    """A user-facing error: bad input, unknown name, unreadable file.

    The CLI prints ``str(error)`` and exits with status 2; nothing else is shown.
    """


class UnknownNameError(MmlensError):
    """A name (task, model backend, metric, ...) that is not registered."""


class ConfigError(MmlensError):
    """A configuration file or option that does not validate."""


class DataError(MmlensError):
    """Benchmark data that cannot be read: missing file, missing column, empty."""


class ModelUnavailable(MmlensError):
    """The model cannot answer at all (its endpoint is unreachable or refuses the key, or every request
    so far failed): the run stops early, keeps what was answered and is marked failed (exit status 3)."""


class SampleError(MmlensError):
    """One bad sample; the run goes on and the sample is counted as failed."""

    def __init__(self, sample_id: str, message: str) -> None:
        super().__init__(f"sample {sample_id!r}: {message}")
        self.sample_id = sample_id
        self.reason = message
