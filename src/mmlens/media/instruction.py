"""The frame settings every video task's instruction shares, and the run options that change them."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError, model_validator

from mmlens.core.errors import ConfigError
from mmlens.core.parts import Instruction
from mmlens.media.sampling import FrameSampling

# The run options (--video-frames, ...; a run config's generation: video_frames) and the
# VideoInstruction field each sets.
FRAME_OPTIONS = {
    "video_frames": "frames",
    "video_sampling": "sampling",
    "video_fps": "fps",
    "video_decoder": "decoder",
}


class VideoInstruction(Instruction):
    """Fields: ``frames``, ``sampling`` (videomme, linspace, vlmevalkit, fps), ``fps``,
    ``decoder`` (pyav, decord, torchcodec): the ``FrameSampling`` of the task's videos, part of
    every request's content hash."""

    frames: int = 32
    sampling: str = "linspace"
    fps: float | None = None
    decoder: str = "pyav"

    @model_validator(mode="after")
    def _check_sampling(self) -> VideoInstruction:
        self.frame_sampling()
        return self

    def frame_sampling(self) -> FrameSampling:
        return FrameSampling(self.sampling, self.frames, self.fps, self.decoder)


def with_frame_options(
    task_name: str, instruction: Instruction, options: dict[str, Any], video_task: bool = False
) -> Instruction:
    """``instruction`` with the run's frame options (``video_frames``, ``video_sampling``,
    ``video_fps``, ``video_decoder``; None: the task's own) set on its fields, as a validated copy:
    the same as setting them in the task file, so a value equal to the task's gives the same
    requests and another value other requests. An image task's instruction is returned as it is (a
    run of image and video tasks changes only the video ones); a ``video_task`` whose frames are
    set elsewhere (its scenario or data: Judge Anything, MM-RLHF RewardBench) is an error, never
    silently left with its own frames."""
    updates = {FRAME_OPTIONS[key]: value for key, value in options.items() if value is not None}
    if not updates:
        return instruction
    given = " ".join(
        f"--{key.replace('_', '-')} {value}" for key, value in options.items() if value is not None
    )
    if not isinstance(instruction, VideoInstruction):
        if video_task:
            raise ConfigError(
                f"{given}: task {task_name} takes its video frames from its scenario or data, not from a "
                "video instruction, so these options cannot change them"
            )
        return instruction
    values = {name: getattr(instruction, name) for name in type(instruction).model_fields}
    try:
        return type(instruction).model_validate({**values, **updates})
    except (ValidationError, ConfigError) as error:
        problem = str(error) if isinstance(error, ConfigError) else error.errors()[0]["msg"]
        raise ConfigError(f"{given}: task {task_name}: {problem}") from None
