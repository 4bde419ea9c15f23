"""``reference``: a small real neural network, shipped with mmlens, that answers the ``shapes`` benchmark.

It reads only what any model would read: the pixels of the one image in the request and the
question text (option lines "A. red" are parsed from that text). A small CNN over the 64x64
image is conditioned on the question (FiLM) and scores an answer vocabulary; a multiple-choice
answer is the letter of the best-scoring option, a yes/no answer is "Yes" or "No". A question
with words the network never saw, or whose options it does not know, gets an honest refusal
that answer extraction counts as failed, never a guess.

Inference is numpy only (the core install has no torch); the weights (float16 ``.npz``) are
trained by ``scripts/train_reference_model.py``, which defines the same network in torch.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from mmlens.core.errors import ConfigError, MmlensError
from mmlens.core.messages import VideoPart
from mmlens.core.requests import Request, RequestKind, Response
from mmlens.models.base import Emit, Model, ModelArgs, models

BUILTIN_WEIGHTS = Path(__file__).resolve().parent / "weights" / "reference_shapes_v1.npz"
IMAGE_SIDE = 64
MAX_WORDS = 24  # questions are encoded position by position, so word order matters ("circle left of square")
PAD_WORD = "<pad>"
_OPTION_LINE = re.compile(r"^\s*\(?([A-J])[.)]\s+(.+?)\s*$")
_WORD = re.compile(r"[a-z0-9']+")

# (name, stride, padding) of each convolution, in order; FiLM follows the layers named in _FILM.
CONV_LAYERS: tuple[tuple[str, int, int], ...] = (
    ("conv1", 2, 1),
    ("conv2", 2, 1),
    ("conv3", 2, 1),
    ("conv4", 1, 1),
    ("reduce", 1, 0),
)
_FILM = {"conv3": "film1", "conv4": "film2"}


@dataclass(frozen=True)
class ParsedQuestion:
    """The question's words (option lines removed) and its options as (letter, text) pairs."""

    words: tuple[str, ...]
    options: tuple[tuple[str, str], ...]


def parse_question(text: str) -> ParsedQuestion:
    words: list[str] = []
    options: list[tuple[str, str]] = []
    for line in text.splitlines():
        match = _OPTION_LINE.match(line)
        if match:
            options.append((match.group(1), match.group(2)))
        else:
            words.extend(_WORD.findall(line.lower()))
    return ParsedQuestion(tuple(words), tuple(options))


class CannotAnswer(Exception):
    """The question is outside what the network knows; the message becomes an honest reply."""


class _RequestError(Exception):
    """A request the model cannot take (no image, an undecodable image, video)."""


def _conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """NHWC convolution via im2col; ``weight`` is torch's (out, in, kh, kw)."""
    out_channels, in_channels, kh, kw = weight.shape
    n, height, width, _ = x.shape
    if padding:
        x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    out_h = (height + 2 * padding - kh) // stride + 1
    out_w = (width + 2 * padding - kw) // stride + 1
    columns = np.empty((n, out_h, out_w, kh, kw, in_channels), dtype=np.float32)
    for i in range(kh):
        for j in range(kw):
            columns[:, :, :, i, j, :] = x[
                :, i : i + stride * out_h : stride, j : j + stride * out_w : stride, :
            ]
    matrix = weight.transpose(2, 3, 1, 0).reshape(kh * kw * in_channels, out_channels)
    result = columns.reshape(n * out_h * out_w, kh * kw * in_channels) @ matrix + bias
    return result.reshape(n, out_h, out_w, out_channels)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


class ReferenceNetwork:
    """The numpy forward pass of the network that ``scripts/train_reference_model.py`` trains."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.words: list[str] = [str(w) for w in arrays["words"]]
        self.answers: list[str] = [str(a) for a in arrays["answers"]]
        self.word_index = {word: i for i, word in enumerate(self.words)}
        self.answer_index = {answer.lower(): i for i, answer in enumerate(self.answers)}
        self.params = {
            name: np.asarray(value, dtype=np.float32)
            for name, value in arrays.items()
            if name not in ("words", "answers")
        }

    @staticmethod
    def load(path: Path) -> ReferenceNetwork:
        try:
            with np.load(path, allow_pickle=False) as data:
                return ReferenceNetwork({name: data[name] for name in data.files})
        except (OSError, ValueError, KeyError) as error:
            raise ConfigError(f"reference model: cannot read weights {path}: {error}") from None

    def encode(self, question: ParsedQuestion) -> np.ndarray:
        """Word ids, padded to MAX_WORDS; CannotAnswer for unknown words or a too long question."""
        unknown = sorted({w for w in question.words if w not in self.word_index})
        if unknown:
            raise CannotAnswer(
                f"Cannot answer: the question uses words this model never saw ({', '.join(unknown)})."
            )
        if not question.words or len(question.words) > MAX_WORDS:
            raise CannotAnswer(
                f"Cannot answer: the question has {len(question.words)} words (1-{MAX_WORDS} work)."
            )
        ids = np.full(MAX_WORDS, self.word_index[PAD_WORD], dtype=np.int64)
        ids[: len(question.words)] = [self.word_index[w] for w in question.words]
        return ids

    def forward(self, images: np.ndarray, word_ids: np.ndarray) -> np.ndarray:
        """images: (N, 64, 64, 3) uint8; word_ids: (N, MAX_WORDS) -> answer logits (N, len(answers))."""
        p = self.params
        embedded = p["embed.weight"][word_ids].reshape(len(word_ids), -1)
        question = _relu(embedded @ p["question.weight"].T + p["question.bias"])
        x = 1.0 - images.astype(np.float32) / 255.0  # white background -> 0
        for name, stride, padding in CONV_LAYERS:
            x = _conv2d(x, p[f"{name}.weight"], p[f"{name}.bias"], stride, padding)
            film = _FILM.get(name)
            if film:
                gamma_beta = question @ p[f"{film}.weight"].T + p[f"{film}.bias"]
                gamma, beta = np.split(gamma_beta, 2, axis=1)
                x = x * (1.0 + gamma[:, None, None, :]) + beta[:, None, None, :]
            x = _relu(x)
        flat = x.transpose(0, 3, 1, 2).reshape(len(x), -1)  # torch flattens channels first
        hidden = _relu(np.concatenate([flat, question], axis=1) @ p["hidden.weight"].T + p["hidden.bias"])
        return hidden @ p["out.weight"].T + p["out.bias"]

    def decide(self, logits: np.ndarray, question: ParsedQuestion) -> str:
        """The reply: the best option's letter, else the best answer word ("Yes"/"No" capitalised)."""
        if question.options:
            indices = [self.answer_index.get(text.strip().lower()) for _, text in question.options]
            unknown = [
                text for (_, text), index in zip(question.options, indices, strict=True) if index is None
            ]
            # An option it cannot score might be the right one: choosing among the others would be a guess.
            if unknown:
                return f"Cannot answer: options this model never learned ({', '.join(unknown)})."
            scores = [logits[index] for index in indices if index is not None]
            return question.options[int(np.argmax(scores))][0]
        answer = self.answers[int(np.argmax(logits))]
        return answer.capitalize() if answer in ("yes", "no") else answer

    def log_probability(self, logits: np.ndarray, continuation: str) -> tuple[float, bool]:
        # an answer token, also as an option is written: "(A" (ChEF's form), "(A)" or "A"
        index = self.answer_index.get(continuation.strip().strip("()").lower())
        if index is None:
            raise CannotAnswer(f"continuation {continuation!r} is not an answer this model knows")
        shifted = logits - logits.max()
        log_probs = shifted - np.log(np.exp(shifted).sum())
        return float(log_probs[index]), int(np.argmax(logits)) == index


@functools.cache
def _load_network(path: Path) -> tuple[ReferenceNetwork, str]:
    if not path.is_file():
        raise ConfigError(f"reference model: weights file {path} does not exist")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return ReferenceNetwork.load(path), digest


def image_pixels(image: Any) -> np.ndarray:
    """A PIL image as (64, 64, 3) uint8, resized bilinearly when it has another size."""
    from PIL import Image

    rgb = image.convert("RGB") if image.mode != "RGB" else image
    if rgb.size != (IMAGE_SIDE, IMAGE_SIDE):
        rgb = rgb.resize((IMAGE_SIDE, IMAGE_SIDE), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


@dataclass
class _Prepared:
    index: int
    request: Request
    pixels: np.ndarray
    word_ids: np.ndarray
    question: ParsedQuestion


class ReferenceArgs(ModelArgs):
    weights: str | None = None  # another weights file; default: the built-in one
    batch_size: int = Field(64, ge=1)


@models.register("reference")
class ReferenceModel(Model):
    """A tiny CNN + question encoder trained on the shapes benchmark; numpy inference, no downloads.

    args: weights (path to another ``.npz``), batch_size (default 64; does not change answers).
    """

    backend = "reference"
    Args = ReferenceArgs
    supported_kinds: ClassVar[frozenset[RequestKind]] = frozenset({"generate", "loglikelihood"})

    @property
    def weights_path(self) -> Path:
        assert isinstance(self.args, ReferenceArgs)
        return Path(self.args.weights) if self.args.weights else BUILTIN_WEIGHTS

    @property
    def network(self) -> ReferenceNetwork:
        return _load_network(self.weights_path.resolve())[0]

    def fingerprint(self) -> dict[str, Any]:
        # Only the weights decide the answers: the path and the batch size are left out.
        return {
            "backend": self.backend,
            "name": self.name,
            "weights_sha256": _load_network(self.weights_path.resolve())[1],
        }

    def process(self, requests: Sequence[Request], emit: Emit) -> None:
        assert isinstance(self.args, ReferenceArgs)
        network = self.network
        batch: list[_Prepared] = []
        for index, request in enumerate(requests):
            try:
                batch.append(self._prepare(index, request, network))
            except CannotAnswer as reason:
                emit(
                    index,
                    Response(text=str(reason)) if request.kind == "generate" else Response(error=str(reason)),
                )
                continue
            except _RequestError as error:
                emit(index, Response(error=str(error)))
                continue
            if len(batch) == self.args.batch_size:
                self._answer(batch, network, emit)
                batch = []
        if batch:
            self._answer(batch, network, emit)

    def _prepare(self, index: int, request: Request, network: ReferenceNetwork) -> _Prepared:
        if any(isinstance(part, VideoPart) for message in request.messages for part in message.content):
            raise _RequestError("reference model reads images only, not video")
        images = [image for message in request.messages for image in message.images]
        if len(images) != 1:
            raise _RequestError(f"reference model needs exactly one image, got {len(images)}")
        try:
            pixels = image_pixels(images[0].pil())
        except (MmlensError, OSError, ValueError) as error:
            raise _RequestError(f"reference model could not decode the image: {error}") from None
        text = "\n".join(message.text for message in request.messages if message.role == "user")
        question = parse_question(text)
        return _Prepared(index, request, pixels, network.encode(question), question)

    def _answer(self, batch: list[_Prepared], network: ReferenceNetwork, emit: Emit) -> None:
        logits = network.forward(np.stack([p.pixels for p in batch]), np.stack([p.word_ids for p in batch]))
        for item, row in zip(batch, logits, strict=True):
            if item.request.kind == "generate":
                emit(item.index, Response(text=network.decide(row, item.question)))
                continue
            try:
                logprob, greedy = network.log_probability(row, item.request.continuation or "")
            except CannotAnswer as reason:
                emit(item.index, Response(error=str(reason)))
                continue
            # the continuation is one answer token: one scored token, as likelihood means need
            emit(item.index, Response(logprob=logprob, is_greedy=greedy, usage={"completion_tokens": 1}))
