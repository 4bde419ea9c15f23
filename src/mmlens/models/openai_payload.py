"""What the ``openai`` backend sends and how it reads the replies (no I/O, no HTTP library).

Requests become OpenAI chat-completions bodies: content parts ``text`` / ``image_url`` with images
as base64 ``data:`` URLs; a video as its sampled frames (``image_url`` parts) or, with
``video_input=video_url``, as one ``video_url`` part. Replies become text + token usage, or, for
log-likelihood, the sum of the prompt log-probabilities of the continuation's tokens (vLLM's
``prompt_logprobs`` extension).
Embed requests become ``/embeddings`` bodies (``embedding_body``) and their replies a vector
(``reply_embedding``).
"""

from __future__ import annotations

import base64
import copy
import io
import json
import math
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from mmlens.core.media import ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart, VideoPart
from mmlens.core.requests import GenerationSettings

ImageFormat = Literal["original", "png", "jpeg"]
# frames: a video is sent as its sampled frames (image parts, any chat server); video_url: as the
# whole file in a ``video_url`` part (vLLM, SGLang), sampled by the server.
VideoInput = Literal["frames", "video_url"]
# Videos whose frames' URLs are kept (the questions about one video, in a row, decode it once).
VIDEO_CACHE_SIZE = 2
ImageDetail = Literal["auto", "low", "high"]
TokenLimitField = Literal["max_tokens", "max_completion_tokens"]

# Mime types every OpenAI-compatible server we know decodes; anything else is re-encoded as PNG.
PASSTHROUGH_MIME_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
JPEG_QUALITY = 90
# OpenAI accepts at most 4 stop sequences; the rest are applied to the text here.
MAX_SERVER_STOP_SEQUENCES = 4


def _stdlib_dump_json(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def json_codec() -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    """orjson when installed (a 1 MB image body: ~0.1 ms instead of ~3 ms, holding the GIL), else json."""
    try:
        import orjson
    except ImportError:
        return _stdlib_dump_json, json.loads

    def orjson_dump_json(body: Any) -> bytes:
        # orjson's bytes keep a buffer about 8 times their length; a body lives as long as its request
        return bytes(memoryview(orjson.dumps(body)))

    return orjson_dump_json, orjson.loads


dump_json, load_json = json_codec()
"""``dump_json(body) -> bytes`` (compact UTF-8) and ``load_json(bytes)``; both raise ValueError/TypeError
subclasses on what they cannot handle."""


class RequestNotSendable(Exception):
    """This request cannot be expressed for a chat-completions endpoint (e.g. a video without a
    frame sampling)."""


class MalformedReply(Exception):
    """A 2xx reply that is not a chat completion we can read (retried like a transient failure)."""


@dataclass(frozen=True)
class ImageSettings:
    image_format: ImageFormat = "original"
    max_pixels: int | None = None
    detail: ImageDetail | None = None
    drop_images: bool = False
    video_input: VideoInput = "frames"


def encode_image(image: ImageRef, image_format: ImageFormat, max_pixels: int | None) -> tuple[str, bytes]:
    """The image as (mime type, encoded bytes), downscaled to at most ``max_pixels`` pixels.

    Bytes are passed through untouched when neither the format nor the size needs to change, so the
    server receives exactly the benchmark's file.
    """
    data = image.encoded()
    mime = image.mime_type()
    wanted_mime = {"original": mime, "png": "image/png", "jpeg": "image/jpeg"}[image_format]
    if wanted_mime not in PASSTHROUGH_MIME_TYPES:
        wanted_mime = "image/png"
    too_big = False
    if max_pixels is not None:
        width, height = _image_size(image, data)
        too_big = width * height > max_pixels
    if not too_big and wanted_mime == mime:
        return mime, data
    from PIL import Image

    picture = image.pil()
    if too_big:
        assert max_pixels is not None
        scale = math.sqrt(max_pixels / (picture.width * picture.height))
        size = (max(1, int(picture.width * scale)), max(1, int(picture.height * scale)))
        picture = picture.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if wanted_mime == "image/jpeg":
        picture.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    else:
        wanted_mime = "image/png" if wanted_mime in ("image/gif", "image/webp") else wanted_mime
        picture.save(buffer, format="PNG")
    return wanted_mime, buffer.getvalue()


def _image_size(image: ImageRef, data: bytes) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    from mmlens.core.errors import DataError

    try:
        with Image.open(io.BytesIO(data)) as opened:  # reads the header only
            return opened.size
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DataError(f"unreadable image {image.describe()}: {error}") from None


class ImageEncoder:
    """Images → data URLs, with a small LRU so that consecutive requests about one image encode it once.

    Safe to call from several threads: only the cache is locked, encoding runs in parallel.
    """

    def __init__(self, settings: ImageSettings, cache_size: int = 16) -> None:
        self.settings = settings
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._pinned: dict[str, str] = {}
        self._videos: OrderedDict[str, list[str]] = OrderedDict()
        self._decoding: dict[str, threading.Lock] = {}

    def data_url(self, image: ImageRef) -> str:
        url = self.cached_url(image)  # an image known by URL is passed through: the server fetches it
        if url is not None:
            return url
        key = image.digest
        mime, data = encode_image(image, self.settings.image_format, self.settings.max_pixels)
        url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        with self._lock:
            self._cache[key] = url
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return url

    def pinned(self, urls: dict[str, str]) -> ImageEncoder:
        """This encoder, answering the images in ``urls`` (digest -> data URL, encoded already)
        from there: a body built with it encodes nothing (it shares the cache and settings)."""
        view = copy.copy(self)
        view._pinned = urls
        return view

    def cached_url(self, image: ImageRef) -> str | None:
        """The image's URL when it needs no encoding (sent by URL, or encoded already), else None."""
        remote = getattr(image, "url", None)
        if isinstance(remote, str) and remote.startswith(("http://", "https://")):
            return remote
        key = image.digest
        url = self._pinned.get(key)
        if url is not None:
            return url
        with self._lock:
            url = self._cache.get(key)
            if url is not None:
                self._cache.move_to_end(key)
        return url

    def content_part(self, image: ImageRef) -> dict[str, Any]:
        return self._image_url_part(self.data_url(image))

    def _image_url_part(self, url: str) -> dict[str, Any]:
        image_url: dict[str, Any] = {"url": url}
        if self.settings.detail is not None:
            image_url["detail"] = self.settings.detail
        return {"type": "image_url", "image_url": image_url}

    def video_parts(self, part: VideoPart) -> list[dict[str, Any]]:
        """A video's content parts: its subtitles (text) first, then its sampled frames as images
        (JPEG unless ``image_format=png``; decoded now, dropped with the body) or the file itself
        as a ``video_url`` part. A video without a frame sampling cannot be sent."""
        if part.sampling is None:
            raise RequestNotSendable(
                f"video {part.video.describe()} has no frame sampling: the task must say which frames "
                "to show (video_frames / video_sampling), the openai backend sends those frames"
            )
        parts: list[dict[str, Any]] = []
        if part.subtitles:
            parts.append({"type": "text", "text": part.subtitles})
        if self.settings.drop_images:
            return parts
        if self.settings.video_input == "video_url":
            data = part.video.local_path().read_bytes()
            url = f"data:video/mp4;base64,{base64.b64encode(data).decode('ascii')}"
            return [*parts, {"type": "video_url", "video_url": {"url": url}}]
        return parts + [self._image_url_part(url) for url in self.frame_urls(part)]

    def frame_urls(self, part: VideoPart) -> list[str]:
        from mmlens.core.media import PILImageRef
        from mmlens.media.sampling import decode_frames

        assert part.sampling is not None
        key = part.video.digest + "\n" + json.dumps(part.sampling.canonical(), sort_keys=True)
        with self._lock:
            decoding = self._decoding.setdefault(key, threading.Lock())
        with decoding:  # the questions about one video in flight together decode it once
            with self._lock:
                cached = self._videos.get(key)
                if cached is not None:
                    self._videos.move_to_end(key)
                    return cached
            frame_format: ImageFormat = "png" if self.settings.image_format == "png" else "jpeg"
            urls = []
            for frame in decode_frames(part.video.local_path(), part.sampling):
                mime, data = encode_image(PILImageRef(frame), frame_format, self.settings.max_pixels)
                urls.append(f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}")
            with self._lock:
                self._videos[key] = urls
                if len(self._videos) > VIDEO_CACHE_SIZE:
                    self._videos.popitem(last=False)
                self._decoding.pop(key, None)
        return urls


def has_video(messages: tuple[Message, ...]) -> bool:
    return any(isinstance(part, VideoPart) for message in messages for part in message.content)


def chat_messages(messages: tuple[Message, ...], encoder: ImageEncoder) -> list[dict[str, Any]]:
    """Messages in chat-completions form; a message of one text part is sent as a plain string."""
    result = []
    for message in messages:
        parts: list[dict[str, Any]] = []
        for part in message.content:
            if isinstance(part, TextPart):
                parts.append({"type": "text", "text": part.text})
            elif isinstance(part, ImagePart):
                if not encoder.settings.drop_images:
                    parts.append(encoder.content_part(part.image))
            elif isinstance(part, VideoPart):
                parts.extend(encoder.video_parts(part))
        if len(parts) == 1 and parts[0]["type"] == "text":
            result.append({"role": message.role, "content": parts[0]["text"]})
        else:
            result.append({"role": message.role, "content": parts})
    return result


def merge_extra_body(body: dict[str, Any], extra_body: dict[str, Any]) -> dict[str, Any]:
    """``extra_body`` keys override the body's; a ``None`` value removes the key (e.g. temperature)."""
    merged = dict(body)
    for key, value in extra_body.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def generation_body(
    model_name: str,
    messages: list[dict[str, Any]],
    settings: GenerationSettings,
    token_limit_field: TokenLimitField,
    extra_body: dict[str, Any],
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model_name,
        "messages": messages,
        token_limit_field: settings.max_new_tokens,
        "temperature": settings.temperature,
    }
    if settings.top_p != 1.0:
        body["top_p"] = settings.top_p
    if settings.stop:
        body["stop"] = list(settings.stop[:MAX_SERVER_STOP_SEQUENCES])
    if settings.seed is not None:
        body["seed"] = settings.seed
    if settings.chat_template_kwargs:  # read by vLLM and SGLang servers (--gen-args enable_thinking=false)
        body["chat_template_kwargs"] = dict(settings.chat_template_kwargs)
    return merge_extra_body(body, extra_body)


def loglikelihood_body(
    model_name: str,
    messages: list[dict[str, Any]],
    continuation: str,
    token_limit_field: TokenLimitField,
    extra_body: dict[str, Any],
) -> dict[str, Any]:
    """The conversation with the continuation prefilled as the assistant's (open) reply.

    ``continue_final_message`` renders the last message without its end-of-turn token and
    ``prompt_logprobs`` asks for the log-probability of every prompt token (vLLM extensions; one
    token is generated because chat endpoints need at least one).
    """
    body = merge_extra_body(
        {"model": model_name, "messages": messages, token_limit_field: 1, "temperature": 0.0}, extra_body
    )
    body["messages"] = [*messages, {"role": "assistant", "content": continuation}]
    body.update({"prompt_logprobs": 1, "continue_final_message": True, "add_generation_prompt": False})
    return body


def apply_stop_sequences(text: str, stop: tuple[str, ...]) -> str:
    """Cut at the first stop sequence (servers do it for those they were sent; this covers the rest)."""
    cut = len(text)
    for sequence in stop:
        if sequence:
            position = text.find(sequence)
            if position != -1:
                cut = min(cut, position)
    return text[:cut]


def reply_usage(data: dict[str, Any]) -> dict[str, int] | None:
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return None
    counts = {k: v for k, v in usage.items() if isinstance(v, int) and not isinstance(v, bool)}
    return counts or None


def reply_text(data: Any) -> str:
    """The assistant's text from a chat-completions reply; MalformedReply if there is none."""
    if not isinstance(data, dict):
        raise MalformedReply("the reply is not a JSON object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        error = data.get("error")  # some gateways answer 200 with an error object
        if isinstance(error, dict) and error.get("message"):
            raise MalformedReply(f"the reply is an error: {str(error['message'])[:200]}")
        raise MalformedReply("the reply has no choices")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise MalformedReply("the reply's first choice has no message")
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some servers answer with content parts
        texts = [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        if texts:
            return "".join(texts)
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        return refusal
    finish = choices[0].get("finish_reason")
    raise MalformedReply(f"the reply's message has no text content (finish_reason={finish!r})")


class LogprobsUnavailable(Exception):
    """A 2xx reply without prompt log-probabilities: the server ignores ``prompt_logprobs``."""


class ContinuationNotFound(Exception):
    """The prompt's last tokens do not spell the continuation (the chat template changed it)."""


def prompt_logprobs_of(data: Any) -> list[Any]:
    if isinstance(data, dict):
        found = data.get("prompt_logprobs")
        if found is None:
            choices = data.get("choices")
            if isinstance(choices, list) and choices and isinstance(choices[0], dict):
                found = choices[0].get("prompt_logprobs")  # where /v1/completions puts it
        if isinstance(found, list) and found:
            return found
    raise LogprobsUnavailable("no prompt log-probabilities in the reply")


def continuation_logprob(data: Any, continuation: str) -> tuple[float, bool | None, int]:
    """Sum of the log-probabilities of the trailing prompt tokens that spell ``continuation``.

    Each ``prompt_logprobs`` entry maps token ids to ``{logprob, rank, decoded_token}``; vLLM lists
    the prompt's own token first, then the top alternatives. Tokens are taken from the end of the
    prompt until their text ends with the whole continuation (leading/trailing whitespace ignored,
    since chat templates often trim message content). A token that straddles the boundary with the
    context is counted whole. ``is_greedy``: every continuation token was the model's top choice
    (None when the server gives no ranks). The third value is the number of tokens scored (what a
    per-token mean divides by; the reply's own usage counts the generated tokens instead).
    """
    entries = prompt_logprobs_of(data)
    target = continuation.strip()
    if not target:
        return 0.0, True, 0
    collected = ""
    total = 0.0
    greedy: bool | None = True
    for count, entry in enumerate(reversed(entries), start=1):
        if not isinstance(entry, dict) or not entry:
            break
        info = next(iter(entry.values()))
        if not isinstance(info, dict) or not isinstance(info.get("logprob"), int | float):
            raise MalformedReply("a prompt_logprobs entry has no logprob")
        collected = str(info.get("decoded_token") or "") + collected
        total += float(info["logprob"])
        rank = info.get("rank")
        if not isinstance(rank, int):
            greedy = None
        elif greedy is not None:
            greedy = greedy and rank == 1
        if collected.rstrip().endswith(target):
            return total, greedy, count
        if len(collected) > len(continuation) + 64:
            break
    raise ContinuationNotFound(
        f"the last prompt tokens do not spell the continuation {continuation[:40]!r} "
        "(the server's chat template may change the assistant message)"
    )


def embedding_body(
    model_name: str, messages: tuple[Message, ...], encoder: ImageEncoder, extra_body: dict[str, Any]
) -> dict[str, Any]:
    """An ``/embeddings`` body for one embed request.

    Text only (after ``drop_images``): OpenAI's own form, ``{"model", "input": text}``, the text
    parts of every message joined by newlines (roles are not sent: an embedding model reads text).
    With images: the chat form that vLLM's ``/v1/embeddings`` accepts for multimodal embedding
    models (VLM2Vec, DSE, GME, ...), ``{"model", "messages": [chat messages with image_url parts]}``;
    the server applies the model's chat template. api.openai.com has no image embeddings, so such a
    request fails there with the server's own message. Vectors are asked for as floats.
    """
    has_images = not encoder.settings.drop_images and any(message.images for message in messages)
    body: dict[str, Any] = {"model": model_name}
    if has_images:
        body["messages"] = chat_messages(messages, encoder)
    else:
        texts: list[str] = []
        for message in messages:
            for part in message.content:
                if isinstance(part, TextPart):
                    texts.append(part.text)
                elif isinstance(part, VideoPart):
                    raise RequestNotSendable(
                        f"the openai backend does not send video ({part.video.describe()}) to /embeddings"
                    )
        text = "\n".join(texts)
        if not text.strip():
            raise RequestNotSendable("embed request with nothing to embed (no text and no image)")
        body["input"] = text
    body["encoding_format"] = "float"
    return merge_extra_body(body, extra_body)


def reply_embedding(data: Any) -> list[float]:
    """The vector of an ``/embeddings`` reply (``data[0].embedding``); MalformedReply if there is none.

    A base64 vector (a server that ignores ``encoding_format: float``) is read as OpenAI writes it:
    little-endian float32."""
    if not isinstance(data, dict):
        raise MalformedReply("the reply is not a JSON object")
    items = data.get("data")
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            raise MalformedReply(f"the reply is an error: {str(error['message'])[:200]}")
        raise MalformedReply("the reply has no data[0] embedding")
    if len(items) != 1:
        raise MalformedReply(f"the reply has {len(items)} embeddings for one input")
    vector = items[0].get("embedding")
    if isinstance(vector, str):
        try:
            raw = base64.b64decode(vector, validate=True)
        except ValueError:
            raise MalformedReply("the embedding is a string but not base64") from None
        if not raw or len(raw) % 4:
            raise MalformedReply("the base64 embedding is not a whole number of float32 values")
        vector = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    if not isinstance(vector, list) or not vector:
        raise MalformedReply("the reply's data[0].embedding is not a list of numbers")
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in vector):
        raise MalformedReply("the reply's data[0].embedding holds something other than numbers")
    result = [float(x) for x in vector]
    if not all(math.isfinite(x) for x in result):
        raise MalformedReply("the reply's embedding holds NaN or infinity")
    return result
