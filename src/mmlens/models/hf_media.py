"""Turning mmlens messages into what a transformers chat template and processor expect.

``to_chat`` maps ``Message``/``TextPart``/``ImagePart``/``VideoPart`` onto the Hugging Face chat
format (``{"role", "content": [{"type": "text"|"image"}]}``) and lists the media in the order the
template places their placeholders. Nothing is decoded then: ``ChatInput.load_images()`` decodes
just before a batch runs, so only one batch of images is in memory at a time. Images are shrunk
to ``max_pixels`` (aspect ratio kept) before the processor sees them. A video becomes its
sampled frames (its ``VideoPart.sampling``, else ``video_frames`` frames by Video-MME's rule),
passed as images, its subtitles (if any) as text before them; a processor with a video
processor (Qwen2-VL style) gets the frames as one video instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mmlens.core.errors import DataError
from mmlens.core.messages import ImagePart, Message, TextPart, VideoPart
from mmlens.media.sampling import FrameSampling, decode_frames, plan_frames

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
    native_video: bool = False  # the processor has a video processor: a video goes in as a video


@dataclass
class ChatInput:
    """One request's conversation in the Hugging Face format, with its media in placeholder order."""

    messages: list[dict[str, Any]]
    media: list[ImagePart | VideoPart] = field(default_factory=list)
    settings: MediaSettings = field(default_factory=MediaSettings)

    @property
    def image_count(self) -> int:
        """How many images the processor will get (a video counts as its sampled frames)."""
        return sum(
            1 if isinstance(part, ImagePart) else frame_count(part, self.settings) for part in self.media
        )

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
        """Decode (and shrink) the images, and the videos passed as frames; an unreadable file
        raises DataError naming it."""
        images: list[PILImage.Image] = []
        for part in self.media:
            if isinstance(part, ImagePart):
                images.append(part.image.pil())
            elif not self.settings.native_video:
                images.extend(self._frames(part))
        return [shrink_to_max_pixels(image, self.settings.max_pixels) for image in images]

    def load_videos(self) -> list[list[PILImage.Image]]:
        """The videos passed to the processor as videos (each its sampled frames), in order."""
        if not self.settings.native_video:
            return []
        return [self._frames(part) for part in self.media if isinstance(part, VideoPart)]

    def _frames(self, part: VideoPart) -> list[PILImage.Image]:
        frames = decode_frames(part.video.local_path(), video_sampling(part, self.settings))
        return [shrink_to_max_pixels(frame, self.settings.max_pixels) for frame in frames]


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


def video_sampling(part: VideoPart, settings: MediaSettings) -> FrameSampling:
    """The part's own frame sampling, else ``video_frames`` frames by Video-MME's rule."""
    if part.sampling is not None:
        return part.sampling
    if settings.video_frames <= 0:
        raise DataError(VIDEO_NOT_SUPPORTED)
    return FrameSampling(rule="videomme", frames=settings.video_frames)


def sample_video_frames(part: VideoPart, count: int) -> list[PILImage.Image]:
    """The video's sampled frames as RGB images: its own sampling, else ``count`` frames."""
    return decode_frames(part.video.local_path(), video_sampling(part, MediaSettings(video_frames=count)))


def frame_count(part: VideoPart, settings: MediaSettings) -> int:
    """How many frames the video shows (a rate-based sampling reads the file's header)."""
    sampling = video_sampling(part, settings)
    if sampling.rule != "fps":
        return sampling.frames
    return len(plan_frames(part.video.local_path(), sampling).indices)


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
    count = frame_count(part, settings)
    media.append(part)
    if settings.native_video:
        return [*subtitles, {"type": "video"}]
    return subtitles + [{"type": "image"} for _ in range(count)]
