"""Chat messages with multimodal content parts, and their canonical (hashable) form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from mmlens.core.canonical import canonical_json
from mmlens.core.media import ImageRef, VideoRef
from mmlens.media.sampling import FrameSampling

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class TextPart:
    text: str

    def canonical(self) -> dict[str, Any]:
        return {"type": "text", "text": self.text}


@dataclass(frozen=True, eq=False)
class ImagePart:
    image: ImageRef

    def canonical(self) -> dict[str, Any]:
        return {"type": "image", "image": self.image.digest}


@dataclass(frozen=True, eq=False)
class VideoPart:
    """A video; ``sampling`` says which frames it shows (rule, count or rate, decoder and its
    version, all in the content hash). Without one the backend's own frame option decides."""

    video: VideoRef
    subtitles: str | None = None
    sampling: FrameSampling | None = None

    def canonical(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": "video", "video": self.video.digest}
        if self.subtitles is not None:
            data["subtitles"] = self.subtitles
        if self.sampling is not None:  # only when set: keys of requests without one stay the same
            data["sampling"] = self.sampling.canonical()
        return data


ContentPart = TextPart | ImagePart | VideoPart


@dataclass(frozen=True)
class Message:
    role: Role
    content: tuple[ContentPart, ...] = field(default_factory=tuple)

    @staticmethod
    def user(*parts: ContentPart | str) -> Message:
        return Message("user", tuple(TextPart(p) if isinstance(p, str) else p for p in parts))

    @staticmethod
    def assistant(text: str) -> Message:
        return Message("assistant", (TextPart(text),))

    @staticmethod
    def system(text: str) -> Message:
        return Message("system", (TextPart(text),))

    def canonical(self) -> dict[str, Any]:
        """Computed once per message (a dialogue's history is re-sent every round; do not mutate)."""
        cached: dict[str, Any] | None = self.__dict__.get("_canonical")
        if cached is None:
            cached = {"role": self.role, "content": [part.canonical() for part in self.content]}
            object.__setattr__(self, "_canonical", cached)
        return cached

    def canonical_json(self) -> str:
        """The canonical form as canonical JSON text (sorted keys, no spaces), computed once."""
        text: str | None = self.__dict__.get("_canonical_json")
        if text is None:
            text = canonical_json(self.canonical())
            object.__setattr__(self, "_canonical_json", text)
        return text

    @property
    def text(self) -> str:
        """The message's text parts joined by newlines (media left out)."""
        return "\n".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def images(self) -> list[ImageRef]:
        return [p.image for p in self.content if isinstance(p, ImagePart)]

    def without_media(self) -> Message:
        return Message(self.role, tuple(p for p in self.content if isinstance(p, TextPart)))


def canonical_messages(messages: tuple[Message, ...] | list[Message]) -> list[dict[str, Any]]:
    return [m.canonical() for m in messages]


def all_images(messages: tuple[Message, ...] | list[Message]) -> list[ImageRef]:
    return [image for message in messages for image in message.images]
