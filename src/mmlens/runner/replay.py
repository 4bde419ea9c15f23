"""Scoring outputs made elsewhere (``mmlens score``): each predictions line holds what the task's
requests would have returned, and the task's own extraction and metric score it.

A line (JSON object) has ``id`` and, by what the task sends:
- ``response``: the generated text (generation tasks; ``null`` = no answer, scored as failed),
- ``responses``: one text per round, for multi-round inferencers (a dialogue's answers in order),
- ``option_logprobs``: one number per option, the log-probability used for ranking (likelihood
  tasks; normalised as the task's ranking normalises: summed, per character, or per token),
- ``embedding``: the vector (embedding tasks),
- ``roles``: ``{"judge": "raw reply"}`` (or a list of replies, one per judge request, in order) to
  replay a judged evaluation offline; ``"judge": ...`` at the top level is a shorthand.
Role requests a line has no reply for go to the live role model: ``--judge`` / ``--role``, or the
task's default for the role (loaded only when a line lacks a reply).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmlens.core.errors import DataError, SampleError
from mmlens.core.jsonlines import json_lines
from mmlens.core.parts import Extraction, ReplayError, ReplayOutput, Rounds
from mmlens.core.requests import Request, Response
from mmlens.core.sample import BadSample, Sample
from mmlens.core.task import Task
from mmlens.runner.rounds import Answer, Outcome, SampleFlow, metric_rounds

OUTPUT_FIELDS = ("response", "responses", "option_logprobs", "embedding", "roles")


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
    if not isinstance(item.get("roles") or {}, dict):
        raise ReplayError('"roles" must be an object: {"judge": "reply", ...}')
    roles = dict(item.get("roles") or {})
    if "judge" in item:
        roles.setdefault("judge", item["judge"])
    output.role_replies = {name: _texts(value, f"roles.{name}") for name, value in roles.items()}
    if not any(name in item for name in (*OUTPUT_FIELDS[:4],)) and not output.role_replies:
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


def replay_rounds(task: Task, sample: Sample, line: PredictionLine) -> Rounds[Outcome]:
    try:
        prediction = task.inferencer.replay(sample, line.output)
    except ReplayError as error:
        raise DataError(f"{line.where}: {error}") from None
    if prediction.error is not None:
        return Outcome(prediction, Extraction(None, "error"))
    return (yield from metric_rounds(task, sample, prediction))


@dataclass
class ReplayedRoles:
    """Answers role requests from the lines' replies, or from live role models."""

    lines: dict[str, PredictionLine]
    fingerprints: dict[str, str]
    live: Answer | None
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
                if self.live is None or request.role not in self.fingerprints:
                    raise DataError(
                        f"{line.where}: no {request.role!r} reply in the line and no live {request.role} "
                        f'model (give "roles": {{"{request.role}": "..."}} or --role {request.role}=SPEC)'
                    )
                key = request.key(self.fingerprints[request.role])
                live_requests.setdefault(key, request)
                answers.append(key)
                keys.append(key)
            item.keys = keys
            local[index] = answers
        responses = self.live(live_requests) if live_requests and self.live is not None else {}
        cached: set[str] = getattr(self.live, "cached_keys", set())
        for index, item in enumerate(flows):
            answered = [a if isinstance(a, Response) else responses[a] for a in local[index]]
            item.record_exchanges(answered, cached)
            try:
                item.advance(answered)
            except SampleError as error:
                item.bad = BadSample(item.sample.id, error.reason)
                item.rounds.close()

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
