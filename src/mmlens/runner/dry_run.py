"""The dry run (``mmlens plan``): the first round of every sample, built without any model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmlens.core.errors import DataError
from mmlens.core.messages import VideoPart
from mmlens.core.parts import Inferencer, LoadContext
from mmlens.core.requests import Request
from mmlens.core.task import Task
from mmlens.runner.evaluate import with_run_seed
from mmlens.runner.plan import load_samples
from mmlens.runner.rounds import start_flows


@dataclass
class PlannedRequest:
    role: str
    kind: str
    canonical: dict[str, Any]
    # per video part with a frame sampling, in order: the frames it would show (``frame_plan``)
    frames: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        shown = {"role": self.role, **self.canonical}
        if self.frames:
            shown["frames"] = self.frames
        return shown


def frame_plan(part: VideoPart) -> dict[str, Any]:
    """Which frames ``part`` shows (indices, times in seconds, of how many at what rate), read from
    the container's header only; or why it cannot be said (a video missing from the local copy)."""
    from mmlens.media.sampling import plan_frames

    assert part.sampling is not None
    planned: dict[str, Any] = {"video": part.video.digest, "sampling": part.sampling.canonical()}
    try:
        frames = plan_frames(part.video.local_path(), part.sampling)
    except DataError as error:
        return {**planned, "error": str(error)}
    return {
        **planned,
        "frame_count": frames.info.frame_count,
        "fps": frames.info.fps,
        "indices": frames.indices,
        "times": [round(time, 3) for time in frames.times],
    }


def planned_request(request: Request) -> PlannedRequest:
    videos = [
        part
        for message in request.messages
        for part in message.content
        if isinstance(part, VideoPart) and part.sampling is not None
    ]
    return PlannedRequest(request.role, request.kind, request.canonical(), [frame_plan(v) for v in videos])


@dataclass
class PlanResult:
    """What a run would send in its first round, prompts exactly as sent (media by content hash)."""

    task: str
    id_scheme: str
    samples: list[tuple[str, list[PlannedRequest]]]
    bad_samples: list[dict[str, str]] = field(default_factory=list)
    later_rounds: bool = False
    model: str | None = None
    roles: dict[str, str | None] = field(default_factory=dict)  # role -> the task's default, if any

    @property
    def request_count(self) -> int:
        return sum(len(requests) for _, requests in self.samples)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "id_scheme": self.id_scheme,
            "model": self.model,
            "requests": self.request_count,
            "later_rounds": self.later_rounds,
            "roles": self.roles,
            "samples": [
                {"id": sample_id, "requests": [r.to_dict() for r in requests]}
                for sample_id, requests in self.samples
            ],
            "bad_samples": self.bad_samples,
        }


def plan_first_round(
    task: Task, data: str | None, limit: int | None, seed: int, model: str | None
) -> PlanResult:
    """The requests a run would send first. Later rounds (a dialogue's next turn, a judge's call)
    depend on the model's answers and are not listed; ``later_rounds`` says whether there are any."""
    context = LoadContext(task.name, task.task_dir, data, limit)
    samples, bad = load_samples(task, context)
    task = with_run_seed(task, seed)
    flows, bad_from_plan = start_flows(task, samples)
    planned = [(item.sample.id, [planned_request(r) for r in item.pending]) for item in flows]
    for item in flows:
        item.rounds.close()
    multi_round = type(task.inferencer).rounds is not Inferencer.rounds
    return PlanResult(
        task=task.name,
        id_scheme=task.id_scheme,
        samples=planned,
        bad_samples=[{"id": b.id, "reason": b.reason} for b in bad + bad_from_plan],
        later_rounds=multi_round or bool(task.metric.roles()),
        model=model,
        roles={
            name: task.config.roles[name].label if name in task.config.roles else None
            for name in task.metric.roles()
        },
    )
