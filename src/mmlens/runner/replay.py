"""Scoring outputs made elsewhere (``mmlens score``): each predictions line holds what the task's
requests would have returned, and the task's own extraction and metric score it.

A line (JSON object) has ``id`` and, by what the task sends:
- ``response``: the generated text (generation tasks; ``null`` = no answer, scored as failed),
- ``responses``: one text per round, for multi-round inferencers (a dialogue's answers in order),
- ``option_logprobs``: one number per option, the log-probability used for ranking (likelihood
  tasks; normalised as the task's ranking normalises: summed, per character, or per token),
- ``embedding``: the vector (embedding tasks),
- ``rewards``: the reward model's scalars, one per scored response (reward-model tasks),
- ``roles``: ``{"judge": "raw reply"}`` (or a list of replies, one per judge request, in order) to
  replay a judged evaluation offline; ``"judge": ...`` at the top level is a shorthand.
Role requests a line has no reply for go to the live role model: ``--judge`` / ``--role``, or the
task's default for the role (loaded only when a line lacks a reply).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mmlens.core.errors import DataError, SampleError
from mmlens.core.jsonlines import json_lines
from mmlens.core.messages import Message, canonical_messages
from mmlens.core.parts import (
    Extraction,
    LoadContext,
    Prediction,
    ReplayError,
    ReplayOutput,
    Rounds,
    SampleRecord,
)
from mmlens.core.requests import Request, Response
from mmlens.core.results import DatasetProvenance, Provenance, RoleProvenance, RunResults
from mmlens.core.sample import BadSample, Sample
from mmlens.core.task import Task
from mmlens.models.base import Model
from mmlens.runner.execute import Responder
from mmlens.runner.plan import load_samples
from mmlens.runner.provenance import dataset_fingerprint, environment, task_provenance
from mmlens.runner.roles import RoleChoice, close_role_models, load_roles, role_provenance
from mmlens.runner.rounds import Outcome, SampleFlow, metric_rounds, start_flows
from mmlens.runner.scoring import NO_PREDICTION, build_results, score_outcome
from mmlens.store.sqlite import Store

# What the model under test returned, by request kind; role replies come under "roles".
MODEL_OUTPUT_FIELDS = ("response", "responses", "option_logprobs", "embedding", "rewards")


@dataclass
class PredictionLine:
    number: int
    output: ReplayOutput
    where: str


def _numbers(value: Any, name: str) -> list[float]:
    if not isinstance(value, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value
    ):
        raise ReplayError(f'"{name}" must be a list of finite numbers')
    return [float(v) for v in value]


def _texts(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ReplayError(f'"{name}" must be a string or a list of strings')
    return list(value)


def parse_output(item: dict[str, Any]) -> ReplayOutput:
    output = ReplayOutput()
    if "response" in item:
        if item["response"] is not None and not isinstance(item["response"], str):
            raise ReplayError("response must be a string or null")
        output.response = item["response"]
    if "responses" in item:
        output.responses = _texts(item["responses"], "responses")
    if "option_logprobs" in item:
        output.option_logprobs = _numbers(item["option_logprobs"], "option_logprobs")
    if "embedding" in item:
        output.embedding = _numbers(item["embedding"], "embedding")
    if "rewards" in item:
        output.rewards = _numbers(item["rewards"], "rewards")
    if not isinstance(item.get("roles") or {}, dict):
        raise ReplayError('"roles" must be an object: {"judge": "reply", ...}')
    roles = dict(item.get("roles") or {})
    if "judge" in item:
        roles.setdefault("judge", item["judge"])
    output.role_replies = {name: _texts(value, f"roles.{name}") for name, value in roles.items()}
    output.fields = frozenset(name for name in MODEL_OUTPUT_FIELDS if name in item)
    if not output.fields and not output.role_replies:
        raise ReplayError(
            'expected {"id": ..., "response": ...} (or "option_logprobs", "responses", "embedding", "roles")'
        )
    return output


def read_predictions(path: str | Path) -> dict[str, PredictionLine]:
    """A JSONL file of outputs by sample id; errors name the file and line."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"predictions file {file} does not exist")
    try:
        with file.open(encoding="utf-8") as handle:
            lines = list(json_lines(handle))
    except UnicodeDecodeError as error:
        raise DataError(f"predictions file {file} is not UTF-8 text ({error.reason})") from None
    predictions: dict[str, PredictionLine] = {}
    for line in lines:
        where = f"{file}, line {line.number}"
        if line.error is not None:
            raise DataError(f"{where}: {line.error}")
        item = line.value
        if not isinstance(item, dict) or "id" not in item:
            raise DataError(f'{where}: expected {{"id": ..., "response": ...}}')
        sample_id = str(item["id"])
        if sample_id in predictions:
            raise DataError(f"{where}: id {sample_id!r} appears twice")
        try:
            output = parse_output(item)
        except ReplayError as error:
            raise DataError(f"{where}: {error}") from None
        predictions[sample_id] = PredictionLine(line.number, output, where)
    if not predictions:
        raise DataError(f"predictions file {file} is empty")
    return predictions


def check_line(task: Task, line: PredictionLine) -> None:
    """Refuse what the task would not read: another kind's output, a role its metric does not ask."""
    read = type(task.inferencer).replay_fields
    unread = sorted(line.output.fields - read)
    if unread and line.output.fields & read:
        raise DataError(
            f"{line.where}: {', '.join(repr(f) for f in unread)} is not read by task {task.name} "
            f"(it reads {', '.join(repr(f) for f in sorted(read))})"
        )
    roles = set(task.metric.roles())
    unknown = sorted(set(line.output.role_replies) - roles)
    if unknown:
        asked = ", ".join(sorted(roles)) or "none"
        raise DataError(f"{line.where}: task {task.name} asks no {unknown[0]!r} role (its roles: {asked})")


def replay_rounds(task: Task, sample: Sample, line: PredictionLine) -> Rounds[Outcome]:
    check_line(task, line)
    try:
        prediction = task.inferencer.replay(sample, line.output)
    except ReplayError as error:
        raise DataError(f"{line.where}: {error}") from None
    if prediction.error is not None:
        return Outcome(prediction, Extraction(None, "error"))
    return (yield from metric_rounds(task, sample, prediction))


class LiveRoles(Protocol):
    """Role models that answer what the lines have no reply for (loaded on first use)."""

    cached_keys: set[str]

    def key(self, request: Request) -> str | None: ...

    def __call__(self, unique: dict[str, Request]) -> dict[str, Response]: ...


@dataclass
class ReplayedRoles:
    """Answers role requests from the lines' replies, or from live role models."""

    lines: dict[str, PredictionLine]
    live: LiveRoles | None
    used: dict[tuple[str, str], int] = field(default_factory=dict)  # (sample id, role) -> replies used

    def answer_round(self, flows: list[SampleFlow]) -> None:
        live_requests: dict[str, Request] = {}
        local: dict[int, list[Response | str]] = {}
        for index, item in enumerate(flows):
            line = self.lines[item.sample.id]
            answers: list[Response | str] = []
            keys: list[str] = []
            for request in item.pending:
                replies = line.output.role_replies.get(request.role)
                if replies is not None:
                    slot = (item.sample.id, request.role)
                    position = self.used.get(slot, 0)
                    if position >= len(replies):
                        raise DataError(
                            f"{line.where}: {len(replies)} {request.role} replies given; "
                            "the metric asks for more"
                        )
                    self.used[slot] = position + 1
                    answers.append(Response(text=replies[position]))
                    keys.append(f"replay:{item.sample.id}:{request.role}:{position}")
                    continue
                key = self.live.key(request) if self.live is not None else None
                if key is None:
                    raise DataError(
                        f"{line.where}: no {request.role!r} reply in the line and no live {request.role} "
                        f'model (give "roles": {{"{request.role}": "..."}} or --role {request.role}=SPEC)'
                    )
                live_requests.setdefault(key, request)
                answers.append(key)
                keys.append(key)
            item.keys = keys
            local[index] = answers
        responses = self.live(live_requests) if live_requests and self.live is not None else {}
        cached = self.live.cached_keys if self.live is not None else set()
        for index, item in enumerate(flows):
            answered = [a if isinstance(a, Response) else responses[a] for a in local[index]]
            item.record_exchanges(answered, cached)
            try:
                item.advance(answered)
            except SampleError as error:
                item.bad = BadSample(item.sample.id, error.reason)
                item.rounds.close()

    def check_all_used(self) -> None:
        """A line with more replies than the metric asked for is refused (they would be dropped)."""
        for sample_id, line in self.lines.items():
            for role, replies in line.output.role_replies.items():
                used = self.used.get((sample_id, role), 0)
                if used and used < len(replies):
                    raise DataError(
                        f"{line.where}: {len(replies)} {role} replies given; the metric asked for {used}"
                    )

    def replayed(self) -> dict[str, int]:
        """How many replies of each role came from the lines."""
        counts: dict[str, int] = {}
        for (_, role), used in self.used.items():
            counts[role] = counts.get(role, 0) + used
        return counts


def drive_replay(flows: list[SampleFlow], roles: ReplayedRoles) -> None:
    while True:
        active = [item for item in flows if not item.done]
        if not active:
            return
        roles.answer_round(active)


def has_role_defaults(task: Task) -> bool:
    """Whether the task's YAML gives a default for every role its metric asks."""
    needed = task.metric.roles()
    return bool(needed) and all(name in task.config.roles for name in needed)


class LazyRoleModels:
    """The live role models of ``score``: built, with the store, only when a line lacks a reply
    (a judge whose replies all come from the file is never built, looked up or fingerprinted)."""

    def __init__(self, chosen: dict[str, RoleChoice], store: str | Path | Store | None) -> None:
        self.chosen = chosen
        self.store = store
        self.models: dict[str, Model] = {}
        self.fingerprints: dict[str, str] = {}
        self.cached_keys: set[str] = set()
        self._responder: Responder | None = None
        self._store: Store | None = None

    def key(self, request: Request) -> str | None:
        if request.role not in self.chosen:
            return None
        if not self.models:
            self.models = load_roles(self.chosen)
            self.fingerprints = {name: model.fingerprint_key() for name, model in self.models.items()}
        return request.key(self.fingerprints[request.role])

    def __call__(self, unique: dict[str, Request]) -> dict[str, Response]:
        if self._responder is None:
            self._store = self.store if isinstance(self.store, Store) else Store(self.store)
            self._responder = Responder(self.models, self._store)
            self.cached_keys = self._responder.cached_keys
        return self._responder(unique)

    def stats(self) -> dict[str, dict[str, Any]]:
        """The live role models' request counts (provenance's ``by_role`` form); empty if none was asked."""
        if self._responder is None:
            return {}
        return {name: stats.to_dict() for name, stats in self._responder.stats.items()}

    def close(self) -> None:
        close_role_models(self.chosen, self.models)
        if self._store is not None and not isinstance(self.store, Store):
            self._store.close()


def score_outputs(
    task: Task,
    predictions: str | Path,
    data: str | None,
    limit: int | None,
    chosen: dict[str, RoleChoice],
    store: str | Path | Store | None,
    samples_out: list[Sample] | None = None,
) -> tuple[RunResults, list[SampleRecord]]:
    """Score a predictions file with the task's own flow (``mmlens score``). With ``samples_out``
    (a list the scored samples are added to, for ``--save``), each record keeps the prompt the task
    would have sent (images by digest), so the report can show it."""
    lines = read_predictions(predictions)
    # Every sample is loaded so that an id past --limit is told apart from an id that does not exist.
    context = LoadContext(task.name, task.task_dir, data, None)
    outside_selection: set[str] = set()  # samples a ``select`` transform leaves out
    all_samples, bad_samples = load_samples(task, context, excluded=outside_selection)
    known = {sample.id for sample in all_samples} | outside_selection
    unknown = [sample_id for sample_id in lines if sample_id not in known]
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5])
        raise DataError(
            f"predictions file {predictions}: {len(unknown)} id(s) are not samples of task {task.name} "
            f"(e.g. {shown}); see the task's id scheme: {task.id_scheme}"
        )
    lines = {sample_id: line for sample_id, line in lines.items() if sample_id not in outside_selection}
    samples = all_samples[:limit] if limit is not None else all_samples
    in_scope = {sample.id for sample in samples}
    bad_samples = [bad for bad in bad_samples if bad.id in in_scope or limit is None]
    predicted = [sample for sample in samples if sample.id in lines]
    live = LazyRoleModels(chosen, store)
    prompts: dict[str, list[dict[str, Any]]] = {}

    def flow(sample: Sample, messages: list[Message]) -> Rounds[Outcome]:
        if samples_out is not None:
            prompts[sample.id] = canonical_messages(messages)
        return replay_rounds(task, sample, lines[sample.id])

    if samples_out is not None:
        samples_out.extend(predicted)
    try:
        flows, bad_from_plan = start_flows(task, predicted, flow)
        replayed = ReplayedRoles(lines, live if chosen else None)
        drive_replay(flows, replayed)
        replayed.check_all_used()
        bad_from_plan += [item.bad for item in flows if item.bad is not None]
        by_id = {item.sample.id: item for item in flows if item.bad is None}
        records = []
        for sample in samples:
            item = by_id.get(sample.id)
            if item is not None and item.outcome is not None:
                outcome = item.outcome
                prompt = prompts.get(sample.id, [])
                records.append(
                    score_outcome(
                        task, sample, outcome.prediction, outcome.extraction, prompt, item.exchanges
                    )
                )
            elif sample.id not in lines:
                missing = Prediction(text=None, error=NO_PREDICTION)
                records.append(score_outcome(task, sample, missing, Extraction(None, "error"), []))
    finally:
        live.close()
    answered_live = {name: chosen[name] for name in live.models}
    role_info = role_provenance(answered_live, live.models)
    for name, count in replayed.replayed().items():
        role_info.setdefault(name, RoleProvenance(source="replayed")).replayed_replies = count
    provenance = Provenance(
        **environment(),
        task=task_provenance(task),
        predictions=str(predictions),
        roles=role_info,
        dataset=DatasetProvenance(
            fingerprint=dataset_fingerprint(samples), data=context.data_path, limit=limit
        ),
    )
    results = build_results(task, records, bad_samples + bad_from_plan, provenance)
    results.counts.missing_predictions = len(samples) - len(predicted)
    results.counts.predictions_past_limit = len(lines) - len(predicted)
    judging = scored_judging(task, records, role_info, live, replayed.replayed())
    if judging is not None:  # the same section ``mmlens run`` writes (runner.judging)
        results.judging = judging  # type: ignore[attr-defined]  # an extra key of results.json
    return results, records


def scored_judging(
    task: Task,
    records: list[SampleRecord],
    roles: dict[str, RoleProvenance],
    live: LazyRoleModels,
    replayed: dict[str, int],
) -> dict[str, Any] | None:
    """results.json ``judging`` of a scored file: the live judges' calls, and ``replayed`` for the
    replies the file gave (whose judge is unknown: never labelled official)."""
    from mmlens.runner.judging import judging_summary

    by_role = live.stats()
    for name, count in replayed.items():
        by_role.setdefault(name, {})["replayed"] = count
    return judging_summary(task.metric, records, roles, by_role, None)
