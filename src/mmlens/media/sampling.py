"""Which frames of a video a request shows: index rules, by name, as each benchmark's own scripts
pick them. ``FrameSampling`` is a media step carried by the ``VideoPart``; its ``canonical`` form
(rule, count or rate, decoder name and version) is part of the request's content hash, so changing
any of them is another request, never a stale answer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmlens.core.errors import ConfigError, DataError
from mmlens.core.registry import Registry
from mmlens.media.decoders import VideoInfo, decoders, get_decoder

if TYPE_CHECKING:
    from PIL import Image as PILImage

# rule(info, sampling) -> frame indices
IndexRule = Callable[[VideoInfo, "FrameSampling"], list[int]]
index_rules: Registry[IndexRule] = Registry("frame sampling rule")


def segment_middles(total: int, count: int) -> list[int]:
    """Video-MME's extractor (video-slicer ``get_seq_frames``): the middle of each of ``count``
    equal segments of ``total - 1`` frames (numpy's round, i.e. half to even, as Python's)."""
    size = (total - 1) / count
    return [(round(size * i) + round(size * (i + 1))) // 2 for i in range(count)]


def linspace_indices(total: int, count: int) -> list[int]:
    """lmms-eval's ``np.linspace(0, total - 1, count, dtype=int)`` (truncated, ends included)."""
    import numpy as np

    return [int(i) for i in np.linspace(0, total - 1, count, dtype=int)]


def vlmevalkit_indices(total: int, count: int) -> list[int]:
    """VLMEvalKit's video datasets: ``int(i * len / (n + 1))`` for i = 1..n (ends excluded)."""
    step = total / (count + 1)
    return [int(i * step) for i in range(1, count + 1)]


def fps_indices(info: VideoInfo, rate: float) -> list[int]:
    """VLMEvalKit's frames-per-second sampling: every ``video fps / rate`` frames from the first."""
    required = int(info.frame_count / info.fps * rate)
    step = info.fps / rate
    return [int(i * step) for i in range(required)] or [0]


@dataclass(frozen=True)
class FrameSampling:
    """rule: a name in ``index_rules``; frames: how many (uniform rules); fps: frames per second
    (rule ``fps``), at most ``frames`` of them when frames > 0 (spread uniformly); decoder: a name
    in ``mmlens.media.decoders.decoders``."""

    rule: str = "videomme"
    frames: int = 32
    fps: float | None = None
    decoder: str = "pyav"

    def __post_init__(self) -> None:
        if self.rule not in index_rules:
            raise ConfigError(index_rules.unknown_message(self.rule))
        if self.decoder not in decoders:
            raise ConfigError(decoders.unknown_message(self.decoder))
        if self.rule == "fps" and not (self.fps and self.fps > 0):
            raise ConfigError("frame sampling rule 'fps' needs fps > 0")
        if self.rule != "fps" and self.frames < 1:
            raise ConfigError(f"frame sampling rule {self.rule!r} needs frames >= 1 (got {self.frames})")

    def canonical(self) -> dict[str, Any]:
        data: dict[str, Any] = {"rule": self.rule, "frames": self.frames, "decoder": self.decoder_identity()}
        if self.fps is not None:
            data["fps"] = self.fps
        return data

    def decoder_identity(self) -> str:
        return decoders.get(self.decoder).identity()

    def indices(self, info: VideoInfo) -> list[int]:
        return index_rules.get(self.rule)(info, self)

    def label(self) -> str:
        amount = f"{self.fps:g} fps" + (f" (<= {self.frames})" if self.frames else "") if self.fps else ""
        return f"{self.rule}:{amount or self.frames}:{self.decoder}"


index_rules.add("videomme", lambda info, s: segment_middles(info.frame_count, s.frames))
index_rules.add("linspace", lambda info, s: linspace_indices(info.frame_count, s.frames))
index_rules.add("vlmevalkit", lambda info, s: vlmevalkit_indices(info.frame_count, s.frames))


def _fps_rule(info: VideoInfo, sampling: FrameSampling) -> list[int]:
    assert sampling.fps is not None
    indices = fps_indices(info, sampling.fps)
    if sampling.frames and len(indices) > sampling.frames:
        indices = [indices[i] for i in linspace_indices(len(indices), sampling.frames)]
    return indices


index_rules.add("fps", _fps_rule)


@dataclass(frozen=True)
class SampledFrames:
    """The frames a request shows: their indices and times in seconds (nothing decoded)."""

    indices: list[int]
    times: list[float]
    info: VideoInfo


def probe(path: Path, decoder: str) -> VideoInfo:
    """The video's frame count and rate (header only), remembered per file version."""
    try:
        status = path.stat()
    except OSError as error:
        raise DataError(f"video file {path}: cannot read it ({error.strerror or error})") from None
    return _probe(str(path), decoder, status.st_size, status.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def _probe(path: str, decoder: str, size: int, mtime_ns: int) -> VideoInfo:
    return get_decoder(decoder).probe(Path(path))


def plan_frames(path: Path, sampling: FrameSampling) -> SampledFrames:
    """Which frames (indices and times) ``sampling`` picks from the video at ``path``, read from
    the container's header only."""
    info = probe(path, sampling.decoder)
    indices = sampling.indices(info)
    return SampledFrames(indices, [index / info.fps for index in indices], info)


def decode_frames(path: Path, sampling: FrameSampling) -> list[PILImage.Image]:
    """The sampled frames as RGB PIL images, decoded now: the caller holds them only until the
    request is sent, so a run's memory does not grow with its number of videos."""
    indices = plan_frames(path, sampling).indices
    return get_decoder(sampling.decoder).frames(path, indices)
