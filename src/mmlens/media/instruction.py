"""The frame settings every video task's instruction shares."""

from __future__ import annotations

from pydantic import model_validator

from mmlens.core.parts import Instruction
from mmlens.media.sampling import FrameSampling


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
