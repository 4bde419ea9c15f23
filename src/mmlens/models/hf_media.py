"""Turning mmlens messages into what a transformers chat template and processor expect.

``to_chat`` maps ``Message``/``TextPart``/``ImagePart``/``VideoPart`` onto the Hugging Face chat
format (``{"role", "content": [{"type": "text"|"image"}]}``) and lists the media in the order the
template places their placeholders. Nothing is decoded then: ``ChatInput.load_images()`` decodes
just before a batch runs, so only one batch of images is in memory at a time. Images are shrunk
to ``max_pixels`` (aspect ratio kept) before the processor sees them. A video becomes
``video_frames`` frames, sampled uniformly and passed as images (its subtitles, if any, as text
before them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mmlens.core.errors import DataError
from mmlens.core.messages import ImagePart, Message, TextPart, VideoPart

if TYPE_CHECKING:
    from PIL import Image as PILImage

VIDEO_NOT_SUPPORTED = (
    "video input not supported by this model: set the hf backend's video_frames=N to pass N frames "
    "sampled uniformly from the video as images"
)


@dataclass(frozen=True)
class MediaSettings:
    max_pixels: int | None = None
    drop_images: bool = False
    video_frames: int = 0
    text_only_model: bool = False


@dataclass
class ChatInput:
    """One request's conversation in the Hugging Face format, with its media in placeholder order."""

    messages: list[dict[str, Any]]
    media: list[ImagePart | VideoPart] = field(default_factory=list)
    settings: MediaSettings = field(default_factory=MediaSettings)

    @property
    def image_count(self) -> int:
        """How many images the processor will get (a video counts as its sampled frames)."""
        return sum(1 if isinstance(part, ImagePart) else self.settings.video_frames for part in self.media)

    def text(self) -> str:
        """The text parts of every message, joined by newlines (what a text encoder embeds)."""
        texts: list[str] = []
        for message in self.messages:
            content = message["content"]
            if isinstance(content, str):
                texts.append(content)
            else:
                texts.extend(item["text"] for item in content if item["type"] == "text")
        return "\n".join(texts)

    def load_images(self) -> list[PILImage.Image]:
        """Decode (and shrink) the media; an unreadable file raises DataError naming it."""
        images: list[PILImage.Image] = []
        for part in self.media:
            if isinstance(part, ImagePart):
                images.append(part.image.pil())
            else:
                images.extend(sample_video_frames(part, self.settings.video_frames))
        return [shrink_to_max_pixels(image, self.settings.max_pixels) for image in images]


def shrink_to_max_pixels(image: PILImage.Image, max_pixels: int | None) -> PILImage.Image:
    """Downscale so that width * height <= max_pixels, keeping the aspect ratio (never upscale)."""
    from PIL import Image

    width, height = image.size
    if max_pixels is None or width * height <= max_pixels:
        return image
    scale = math.sqrt(max_pixels / (width * height))
    new_width = max(1, math.floor(width * scale))
    new_height = max(1, math.floor(height * scale))
    return image.resize((new_width, new_height), Image.Resampling.BICUBIC)


def sample_video_frames(part: VideoPart, count: int) -> list[PILImage.Image]:
    """``count`` frames at the centres of ``count`` equal segments of the video, as RGB images.

    Seeks to each target time (decoding forward from the keyframe before it), so a long video is
    not decoded whole; without a known duration every frame is decoded and the same positions kept.
    """
    try:
        import av
    except ImportError:
        raise DataError("video input needs PyAV (pip install av)") from None
    try:
        with av.open(str(part.video.path)) as container:
            stream = container.streams.video[0]
            if stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
                targets = [(i + 0.5) * duration / count for i in range(count)]
                frames = [_frame_at(container, stream, t) for t in targets]
            else:
                every = [frame.to_image() for frame in container.decode(stream)]
                if not every:
                    raise DataError(f"video {part.video.describe()} has no frames")
                frames = [
                    every[min(len(every) - 1, int((i + 0.5) * len(every) / count))] for i in range(count)
                ]
    except (OSError, ValueError, IndexError, av.FFmpegError) as error:
        raise DataError(f"unreadable video {part.video.describe()}: {error}") from None
    return [frame.convert("RGB") for frame in frames]


def _frame_at(container: Any, stream: Any, seconds: float) -> PILImage.Image:
    """The first frame shown at or after ``seconds`` (the last frame if the video ends before)."""
    container.seek(int(seconds / stream.time_base), stream=stream, backward=True, any_frame=False)
    last = None
    for frame in container.decode(stream):
        last = frame
        if frame.time is not None and frame.time + 1e-6 >= seconds:
            break
    if last is None:
        raise ValueError(f"no frame at {seconds:.2f}s")
    return last.to_image()


def to_chat(messages: Sequence[Message], settings: MediaSettings) -> ChatInput:
    """Convert a request's messages; media this model cannot take raises DataError."""
    chat = ChatInput(messages=[], settings=settings)
    for message in messages:
        content: list[dict[str, Any]] = []
        for part in message.content:
            content.extend(_convert_part(part, settings, chat.media))
        if settings.text_only_model:
            # Text-only chat templates expect a plain string as content.
            text = "\n".join(item["text"] for item in content if item["type"] == "text")
            chat.messages.append({"role": message.role, "content": text})
        else:
            chat.messages.append({"role": message.role, "content": content})
    return chat


def _convert_part(
    part: TextPart | ImagePart | VideoPart, settings: MediaSettings, media: list[ImagePart | VideoPart]
) -> list[dict[str, Any]]:
    if isinstance(part, TextPart):
        return [{"type": "text", "text": part.text}]
    if isinstance(part, ImagePart):
        if settings.drop_images:
            return []
        if settings.text_only_model:
            raise DataError(
                "the model is text-only and the request has images (set drop_images=true to strip them)"
            )
        media.append(part)
        return [{"type": "image"}]
    subtitles = [{"type": "text", "text": part.subtitles}] if part.subtitles else []
    if settings.drop_images:
        return subtitles
    if settings.text_only_model:
        raise DataError(
            "the model is text-only and the request has a video (set drop_images=true to strip it)"
        )
    if settings.video_frames <= 0:
        raise DataError(VIDEO_NOT_SUPPORTED)
    media.append(part)
    return subtitles + [{"type": "image"} for _ in range(settings.video_frames)]
