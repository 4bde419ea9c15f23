"""Typed, versioned results: what results.json, the store's run rows and samples.jsonl hold.

Writers build these models and readers (report, show, compare, gain, summary) load them, so no
reader guesses from keys. ``SCHEMA_VERSION`` changes whenever a field changes meaning; a document
without one is schema 1 (mmlens 0.1), which still loads: the fields it lacks get their defaults and
``correct``/``score`` are derived from its ``scores`` as mmlens 0.1 wrote them. ``Provenance`` (what
a run was computed from) is typed too; its parts are all optional and written back with only the
keys a document has, so its JSON shape is what it has been since schema 1 (no version change).

Schema history
- 1: mmlens 0.1 (no schema_version; no ``correct``/``score``; no ``exchanges``/``option_scores``).
- 2: ``schema_version`` everywhere; per-sample ``correct`` (right/wrong metrics) or ``score``
  (numeric metrics); ``exchanges`` (every request of a multi-round or judged sample, with its raw
  reply); ``option_scores`` (likelihood rankings); ``failed_role`` (the role whose request failed);
  ``roles`` in provenance; ``counts.role_errors``; optional ``reliability`` (the calibration
  metric's reliability diagram; absent from other results).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SerializationInfo, ValidationError, field_serializer

from mmlens.core.errors import DataError

SCHEMA_VERSION = 2

RoleSource = Literal["task default", "given", "replayed"]
ExtractionMethod = Literal["exact", "rule", "judge", "failed", "error"]
EXTRACTION_METHODS = get_args(ExtractionMethod)
Normalization = Literal["sum", "chars", "token_mean"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class OptionScores(BaseModel):
    """Per-option scores of a likelihood ranking: one field, one meaning.

    logprobs[i]: the log-probability used to rank option i (A, B, ...), after ``normalization``:
    ``sum`` the summed token log-probabilities, ``chars`` that sum divided by the option's
    characters, ``token_mean`` the mean per scored token. ``chosen``: the index that won (ties go
    to the earlier option)."""

    model_config = ConfigDict(extra="forbid")

    logprobs: list[float]
    normalization: Normalization
    chosen: int

    def probabilities(self) -> list[float]:
        """A softmax over the options (what calibration reads). The runner never records a
        non-finite log-probability (such a sample is an error), so this is always defined."""
        if not self.logprobs or not all(math.isfinite(value) for value in self.logprobs):
            raise ValueError(f"option log-probabilities {self.logprobs} are not all finite")
        top = max(self.logprobs)
        weights = [math.exp(value - top) for value in self.logprobs]
        total = sum(weights)
        return [weight / total for weight in weights]


@dataclass(frozen=True)
class Exchange:
    """One request of a sample and what came back: a round of a dialogue, a judge call.

    A plain dataclass (pydantic validates it inside SampleRecord): one is built per request, so
    building and writing it must be cheap."""

    round: int
    role: str
    kind: str
    prompt: list[dict[str, Any]]
    continuation: str | None = None
    response: str | None = None
    logprob: float | None = None
    error: str | None = None
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "role": self.role,
            "kind": self.kind,
            "prompt": self.prompt,
            "continuation": self.continuation,
            "response": self.response,
            "logprob": self.logprob,
            "error": self.error,
            "cached": self.cached,
        }


class SampleRecord(BaseModel):
    """Everything kept about one scored sample (one line of samples.jsonl).

    correct: True/False where the metric decides right or wrong per sample, else None.
    score: the sample's numeric score where the metric gives one instead (None otherwise).
    extraction: how the answer was found: exact, rule, judge, failed (no answer found; counted
        wrong) or error (the request failed; counted as an error and wrong).
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    id: str
    category: tuple[str, ...] = ()
    group: str | None = None
    target: str | None = None
    prompt: list[dict[str, Any]] = Field(default_factory=list)
    response: str | None = None
    answer: str | None = None
    extraction: ExtractionMethod
    scores: dict[str, float] = Field(default_factory=dict)
    correct: bool | None = None
    score: float | None = None
    error: str | None = None
    failed_role: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    option_scores: OptionScores | None = None
    exchanges: list[Exchange] = Field(default_factory=list)

    @classmethod
    def build(cls, **fields: Any) -> SampleRecord:
        """A record from values the runner has already typed, without validation: what
        ``model_construct`` does when every field is given, minus its per-field default handling
        (this runs once per sample). Every field must be given; ``tests/core`` checks the result
        equals ``model_validate`` of the same values."""
        if fields.keys() != _RECORD_FIELDS:
            missing, unknown = sorted(_RECORD_FIELDS - fields.keys()), sorted(fields.keys() - _RECORD_FIELDS)
            raise TypeError(f"SampleRecord.build: missing {missing}, unknown {unknown}")
        if fields["extraction"] not in EXTRACTION_METHODS:
            raise ValueError(
                f"SampleRecord.build: extraction {fields['extraction']!r} is not one of {EXTRACTION_METHODS}"
            )
        record = cls.__new__(cls)
        object.__setattr__(record, "__dict__", fields)
        object.__setattr__(record, "__pydantic_fields_set__", set(fields))
        object.__setattr__(record, "__pydantic_extra__", None)
        object.__setattr__(record, "__pydantic_private__", None)
        return record

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; optional parts are left out when empty, every other key is always there.
        Built by hand (once per sample per run): pydantic's serialiser is the slow path here."""
        data: dict[str, Any] = {
            "schema_version": self.schema_version,
            "id": self.id,
            "category": list(self.category),
            "group": self.group,
            "target": self.target,
            "prompt": self.prompt,
            "response": self.response,
            "answer": self.answer,
            "extraction": self.extraction,
            "scores": self.scores,
            "correct": self.correct,
            "score": self.score,
        }
        if self.error is not None:
            data["error"] = self.error
        if self.failed_role is not None:
            data["failed_role"] = self.failed_role
        if self.details:
            data["details"] = self.details
        if self.option_scores is not None:
            data["option_scores"] = self.option_scores.model_dump(mode="json")
        if self.exchanges:
            data["exchanges"] = [exchange.to_dict() for exchange in self.exchanges]
        return data

    @staticmethod
    def from_dict(data: dict[str, Any], correct_key: str | None = None) -> SampleRecord:
        """Load a record of any schema version; schema 1 records get ``correct`` from
        ``correct_key`` (the metric's right/wrong score) or, without one, from a single 0/1 score."""
        fields = dict(data)
        version = int(fields.get("schema_version", 1))
        if version > SCHEMA_VERSION:
            raise DataError(
                f"sample record {fields.get('id')!r} has schema_version {version}, newer than this "
                f"mmlens reads ({SCHEMA_VERSION}); upgrade mmlens"
            )
        if version == 1:
            fields["correct"] = _legacy_correct(fields.get("scores") or {}, correct_key)
        fields["schema_version"] = SCHEMA_VERSION
        try:
            return SampleRecord.model_validate(fields)
        except ValidationError as error:
            raise DataError(f"sample record {fields.get('id')!r}: {error.errors()[0]['msg']}") from None


_RECORD_FIELDS = frozenset(SampleRecord.model_fields)


def _legacy_correct(scores: dict[str, float], correct_key: str | None) -> bool | None:
    keys = [correct_key] if correct_key in scores else [k for k, v in scores.items() if v in (0.0, 1.0)]
    if len(keys) != 1:
        return None
    return scores[str(keys[0])] == 1.0


class MetricSummary(BaseModel):
    """One metric: its value, the 95% interval where one is known, the number of units."""

    model_config = ConfigDict(extra="forbid")

    value: float
    ci95: list[float] | None = None
    n: int | None = None


class Counts(_Model):
    samples: int
    scored: int
    bad_samples: int = 0
    errors: int = 0
    failed_extraction: int = 0
    extraction: dict[str, int] = Field(default_factory=dict)
    role_errors: int = 0
    missing_predictions: int | None = None
    predictions_past_limit: int | None = None


class ReliabilityBin(BaseModel):
    """One bin of a reliability diagram: how many samples, their mean confidence, their accuracy
    (both 0-1)."""

    model_config = ConfigDict(extra="forbid")

    count: int
    confidence: float
    accuracy: float


class Reliability(BaseModel):
    """The reliability diagram behind an ECE: the binning that made it and its non-empty bins, in
    order of confidence (``mmlens.metrics.calibration``)."""

    model_config = ConfigDict(extra="forbid")

    binning: str
    ece: float
    n: int
    bins: list[ReliabilityBin]


class BadSampleEntry(BaseModel):
    id: str
    reason: str


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(p) for p in first["loc"])
    return f"{location}: {first['msg']}" if location else str(first["msg"])


# -- provenance ------------------------------------------------------------------------------------
#
# What a number was computed from. Every field is optional (mmlens 0.1 wrote fewer, and ``mmlens
# score`` records no model, generation or requests) and unknown keys are kept. A document is
# written back with only the keys it was given (``Provenance.to_dict``): the writers set exactly the
# keys results.json has always had, so its shape does not depend on these defaults.


class TaskProvenance(_Model):
    """The task as the run used it: its name, version, version hash, profile, YAML and parts."""

    name: str | None = None
    version: int | str | None = None
    version_hash: str | None = None
    profile: str | None = None
    source: str | None = None
    inferencer: dict[str, Any] = Field(default_factory=dict)
    instruction: dict[str, Any] = Field(default_factory=dict)
    metric: dict[str, Any] = Field(default_factory=dict)
    transforms: list[str] = Field(default_factory=list)  # labels, in the order applied


class ModelProvenance(_Model):
    """The model under test: its label and its fingerprint (backend, name, options, weights); and,
    for a run spread over replicas or Ray workers, ``answered_by`` (answers per replica URL or
    worker, never part of a stored answer)."""

    label: str | None = None
    fingerprint: dict[str, Any] = Field(default_factory=dict)


class RoleProvenance(_Model):
    """One role (a judge): the model that played it and where it came from.

    source: ``task default`` (the task's YAML), ``given`` (``--role``/``--judge``) or ``replayed``
    (``mmlens score`` read its replies from the predictions file; no model answered, so no label
    or fingerprint). task_default: the label of the task's own default for the role, if any.
    replayed_replies: how many replies ``mmlens score`` replayed (scoring only)."""

    label: str | None = None
    fingerprint: dict[str, Any] | None = None
    source: RoleSource | None = None
    task_default: str | None = None
    is_task_default: bool = False
    replayed_replies: int | None = None


class RoleRequestCounts(_Model):
    """What one role's model answered over all rounds of a run."""

    unique: int = 0
    cached: int = 0
    computed: int = 0
    errors: int = 0
    seconds: float = 0.0
    # tokens over every unique request the run used (cached or computed), as the backend reported
    # them (prompt_tokens, completion_tokens, ...); absent where the backend reports none
    usage: dict[str, int] | None = None


class RequestCounts(_Model):
    """The run's requests: planned (first round, before de-duplication), rounds driven, the model
    under test's unique/cached/computed/errors, and each role's counts (``by_role``; schema 2)."""

    planned: int | None = None
    rounds: int | None = None
    unique: int = 0
    cached: int = 0
    computed: int = 0
    errors: int = 0
    by_role: dict[str, RoleRequestCounts] = Field(default_factory=dict)


class DatasetProvenance(_Model):
    """The samples scored: their fingerprint, the data path given (None: the task's own), the limit."""

    fingerprint: str | None = None
    data: str | None = None
    limit: int | None = None


class ProcessProvenance(_Model):
    """The process that ran it (``mmlens show`` tells a killed run from one still running, and from
    a later process given the same pid: ``start_time`` is when the process started, in clock ticks
    since boot, and ``boot_id`` the boot it ran in, both from Linux's /proc; None elsewhere)."""

    host: str | None = None
    pid: int | None = None
    start_time: int | None = None
    boot_id: str | None = None


class RunConfigProvenance(_Model):
    """The run config file a run was started from (``mmlens run --config FILE``): its path as given
    and its content as read (before command-line options overrode any of it)."""

    path: str | None = None
    content: dict[str, Any] = Field(default_factory=dict)


class Provenance(_Model):
    """results.json ``provenance`` (and a run row's ``provenance`` column).

    Fields are declared in the order the writers have always written them, so results.json keeps
    its key order as well as its keys."""

    mmlens_version: str | None = None
    git_commit: str | None = None
    python: str | None = None
    platform: str | None = None
    # installed versions of the libraries that compute answers (torch, transformers), where installed
    libraries: dict[str, str] | None = None
    run_id: str | None = None
    task: TaskProvenance = Field(default_factory=TaskProvenance)
    predictions: str | None = None
    model: ModelProvenance = Field(default_factory=ModelProvenance)
    roles: dict[str, RoleProvenance] = Field(default_factory=dict)
    generation: dict[str, Any] = Field(default_factory=dict)
    # --max-new-tokens, --temperature, --top-p, --system-prompt, --gen-args as given (absent: none)
    generation_overrides: dict[str, Any] | None = None
    dataset: DatasetProvenance = Field(default_factory=DatasetProvenance)
    seed: int | None = None
    store: str | None = None
    started: float | None = None
    resume: str | None = None
    process: ProcessProvenance = Field(default_factory=ProcessProvenance)
    finished: float | None = None
    requests: RequestCounts = Field(default_factory=RequestCounts)
    config: RunConfigProvenance | None = None  # absent: the run was not started from a config file
    failure: str | None = None  # why a failed run stopped (the error, one line); absent otherwise

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the keys this provenance was given (or set), and no defaults."""
        return self.model_dump(mode="json", exclude_unset=True)

    @staticmethod
    def load(data: Any, where: str = "provenance") -> Provenance:
        """A provenance document of any schema; one that is not one is a DataError naming ``where``."""
        try:
            return Provenance.model_validate(data)
        except ValidationError as error:
            raise DataError(f"{where}: not an mmlens provenance ({_first_error(error)})") from None


class RunResults(_Model):
    """results.json (and the ``results`` column of a run row)."""

    schema_version: int = SCHEMA_VERSION
    task: str
    primary_metric: str
    metrics: dict[str, MetricSummary]
    breakdown: dict[str, dict[str, MetricSummary]] = Field(default_factory=dict)
    counts: Counts
    complete: bool
    bad_samples: list[BadSampleEntry] = Field(default_factory=list)
    provenance: Provenance = Field(default_factory=Provenance)
    reliability: Reliability | None = None  # calibration runs only (written only when set)

    @field_serializer("provenance")
    def _provenance_keys(self, provenance: Provenance, info: SerializationInfo) -> dict[str, Any]:
        # only the keys the document has: results.json keeps its shape whatever the defaults are
        return provenance.model_dump(mode=info.mode, exclude_unset=True)

    @property
    def primary(self) -> MetricSummary | None:
        return self.metrics.get(self.primary_metric)

    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["counts"] = self.counts.model_dump(mode="json", exclude_none=True)
        if self.reliability is None:
            del data["reliability"]
        return data

    @staticmethod
    def load(data: dict[str, Any], where: str = "results") -> RunResults:
        version = int(data.get("schema_version", 1))
        if version > SCHEMA_VERSION:
            raise DataError(
                f"{where}: schema_version {version} is newer than this mmlens reads ({SCHEMA_VERSION})"
            )
        try:
            return RunResults.model_validate({**data, "schema_version": SCHEMA_VERSION})
        except ValidationError as error:
            raise DataError(f"{where}: not an mmlens result ({_first_error(error)})") from None
