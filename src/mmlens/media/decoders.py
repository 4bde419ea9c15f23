"""Video decoders, by name: each reads a file's frame count and frame rate, and the frames at given
indices. PyAV is the default; decord and torchcodec are used where installed. A decoder's name and
version are part of every request's content hash (``FrameSampling.canonical``): two libraries may
give different pixels for one frame, so an upgrade never reuses an answer made from the old ones.
"""

from __future__ import annotations

import functools
import importlib.metadata
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mmlens.core.errors import DataError
from mmlens.core.registry import Registry

if TYPE_CHECKING:
    from PIL import Image as PILImage

# Decoding forward is cheaper than a seek for a target this many frames ahead (a typical GOP).
SEEK_AHEAD_FRAMES = 48


@dataclass(frozen=True)
class VideoInfo:
    """What sampling needs: the frame count (as the container states it, which is what OpenCV's
    CAP_PROP_FRAME_COUNT gives the official scripts) and the average frame rate."""

    frame_count: int
    fps: float

    @property
    def duration(self) -> float:
        return self.frame_count / self.fps if self.fps else 0.0


class VideoDecoder(ABC):
    name: ClassVar[str]
    package: ClassVar[str]  # the distribution whose version identifies the decoder

    @classmethod
    def available(cls) -> bool:
        try:
            importlib.metadata.version(cls.package)
        except importlib.metadata.PackageNotFoundError:
            return False
        return True

    @classmethod
    def identity(cls) -> str:
        """``name version`` of the library that decodes (in the request's content hash)."""
        return _identity(cls.name, cls.package)

    @abstractmethod
    def probe(self, path: Path) -> VideoInfo: ...

    @abstractmethod
    def frames(self, path: Path, indices: Sequence[int]) -> list[PILImage.Image]:
        """The RGB frames at ``indices`` (0-based, in the order given; repeats allowed)."""


@functools.cache
def _identity(name: str, package: str) -> str:
    try:
        return f"{name} {importlib.metadata.version(package)}"
    except importlib.metadata.PackageNotFoundError:
        raise DataError(
            f"video decoder {name!r} is not installed (pip install {package}); "
            f"installed: {', '.join(available_decoders()) or 'none'}"
        ) from None


decoders: Registry[type[VideoDecoder]] = Registry("video decoder")


def register_decoder(cls: type[VideoDecoder]) -> type[VideoDecoder]:
    decoders.add(cls.name, cls)
    return cls


def available_decoders() -> list[str]:
    return [name for name, cls in decoders.items() if cls.available()]


def get_decoder(name: str) -> VideoDecoder:
    cls = decoders.get(name)
    cls.identity()  # a decoder that is not installed fails here, naming itself
    return cls()


def _unreadable(path: Path, error: BaseException) -> DataError:
    return DataError(f"unreadable video {path}: {error}")


@register_decoder
class PyAVDecoder(VideoDecoder):
    name = "pyav"
    package = "av"

    def probe(self, path: Path) -> VideoInfo:
        import av

        try:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                fps = float(stream.average_rate or stream.guessed_rate or 0)
                count = stream.frames
                if not count and stream.duration and stream.time_base:
                    # no frame count in the header: OpenCV estimates it from duration and rate too
                    count = round(float(stream.duration * stream.time_base) * fps)
                if not count:
                    count = sum(1 for _ in container.decode(stream))
        except (OSError, ValueError, IndexError, av.FFmpegError) as error:
            raise _unreadable(path, error) from None
        if not count or not fps:
            raise DataError(f"video {path} has no frames")
        return VideoInfo(int(count), fps)

    def frames(self, path: Path, indices: Sequence[int]) -> list[PILImage.Image]:
        import av

        wanted = sorted(set(indices))
        found: dict[int, PILImage.Image] = {}
        try:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                fps = float(stream.average_rate or stream.guessed_rate or 0)
                time_base = stream.time_base
                if not fps or time_base is None:
                    raise ValueError("no frame rate or time base")
                start = stream.start_time or 0
                decoded: Iterator[Any] | None = None
                position = -1  # index of the last frame decoded
                last = None
                for target in wanted:
                    if decoded is None or target - position > SEEK_AHEAD_FRAMES or target <= position:
                        offset = int(target / fps / time_base) + start
                        container.seek(offset, stream=stream, backward=True, any_frame=False)
                        decoded = container.decode(stream)
                    for frame in decoded:
                        last = frame
                        position = round(float(((frame.pts or 0) - start) * time_base) * fps)
                        if position >= target:
                            break
                    if last is None:
                        raise ValueError(f"no frame at index {target}")
                    found[target] = last.to_image()  # past the end: the last frame, as a reader would
        except (OSError, ValueError, av.FFmpegError) as error:
            raise _unreadable(path, error) from None
        return [found[index].convert("RGB") for index in indices]


@register_decoder
class DecordDecoder(VideoDecoder):
    name = "decord"
    package = "decord"

    def probe(self, path: Path) -> VideoInfo:
        reader = self._reader(path)
        return VideoInfo(len(reader), float(reader.get_avg_fps()))

    def frames(self, path: Path, indices: Sequence[int]) -> list[PILImage.Image]:
        from PIL import Image

        reader = self._reader(path)
        last = len(reader) - 1
        try:
            batch = reader.get_batch([min(index, last) for index in indices]).asnumpy()
        except Exception as error:  # noqa: BLE001 - decord raises its own DECORDError
            raise _unreadable(path, error) from None
        return [Image.fromarray(array) for array in batch]

    @staticmethod
    def _reader(path: Path) -> Any:
        import decord

        try:
            return decord.VideoReader(str(path), num_threads=1)
        except Exception as error:  # noqa: BLE001
            raise _unreadable(path, error) from None


@register_decoder
class TorchCodecDecoder(VideoDecoder):
    name = "torchcodec"
    package = "torchcodec"

    def probe(self, path: Path) -> VideoInfo:
        metadata = self._decoder(path).metadata
        return VideoInfo(int(metadata.num_frames), float(metadata.average_fps))

    def frames(self, path: Path, indices: Sequence[int]) -> list[PILImage.Image]:
        from PIL import Image

        decoder = self._decoder(path)
        last = int(decoder.metadata.num_frames) - 1
        try:
            batch = decoder.get_frames_at([min(index, last) for index in indices]).data
        except Exception as error:  # noqa: BLE001
            raise _unreadable(path, error) from None
        return [Image.fromarray(frame.permute(1, 2, 0).numpy()) for frame in batch]

    @staticmethod
    def _decoder(path: Path) -> Any:
        from torchcodec.decoders import VideoDecoder as CodecDecoder

        try:
            return CodecDecoder(str(path))
        except Exception as error:  # noqa: BLE001
            raise _unreadable(path, error) from None
