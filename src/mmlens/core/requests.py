"""Requests a task sends to a model, and the responses that come back.

A request never names a task; a model never knows about tasks. The request's content hash
(model fingerprint + canonical request) is the key of the response cache.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

from mmlens.core.canonical import canonical_json, canonical_json_object
from mmlens.core.messages import Message, canonical_messages

RequestKind = Literal["generate", "loglikelihood", "embed", "reward"]

# The model under test; any other role (``judge``, an embedder, ...) is named by the run.
MODEL_ROLE = "model"


# GenerationSettings.canonical_json by value: a run's requests share a few settings, each request
# its own instance. Keyed by exact values (a float, numpy's too, by its bits: 0.0 and -0.0 are written apart).
_SETTINGS_JSON: dict[tuple[Any, ...], str] = {}
_SETTINGS_JSON_LIMIT = 4096


def _exact(value: Any) -> tuple[Any, Any]:
    return (type(value), value.hex()) if isinstance(value, float) else (type(value), value)


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # Keyword arguments of the model's chat template (``enable_thinking=False``), sorted by key.
    chat_template_kwargs: tuple[tuple[str, Any], ...] = ()

    def canonical(self) -> dict[str, Any]:
        data = {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": list(self.stop),
            "seed": self.seed,
        }
        if self.chat_template_kwargs:  # only when set: the keys of requests without any stay the same
            data["chat_template_kwargs"] = dict(self.chat_template_kwargs)
        return data

    def canonical_json(self) -> str:
        """``canonical_json(self.canonical())``, computed once per distinct settings."""
        if self.chat_template_kwargs or any(type(stop) is not str for stop in self.stop):
            return canonical_json(self.canonical())
        key = (
            _exact(self.max_new_tokens),
            _exact(self.temperature),
            _exact(self.top_p),
            self.stop,
            _exact(self.seed),
        )
        try:
            return _SETTINGS_JSON[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value where a number belongs: encoded as it is
            return canonical_json(self.canonical())
        if len(_SETTINGS_JSON) >= _SETTINGS_JSON_LIMIT:
            _SETTINGS_JSON.clear()
        text = _SETTINGS_JSON[key] = canonical_json(self.canonical())
        return text


@dataclass(frozen=True, eq=False)
class Request:
    """One call to a model.

    generate: messages -> text, under ``settings``.
    loglikelihood: log P(continuation | messages) where the continuation is the start of the
        assistant's reply; with ``continuation_ends_turn`` it is the whole reply, so the token that
        closes the assistant's turn is scored too (and counted in ``usage["completion_tokens"]``).
    embed: messages -> a vector (``Response.embedding``).
    reward: messages (the prompt, the response under judgement, optionally a critique as the
        last assistant turn) -> a scalar (``Response.reward``), from a reward model's head.

    role: which of the run's models answers it (``model``, the model under test, or a named role
    such as ``judge``). It is not part of the canonical request: the key already holds the
    answering model's fingerprint.
    """

    kind: RequestKind
    messages: tuple[Message, ...]
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    continuation: str | None = None
    continuation_ends_turn: bool = False
    role: str = MODEL_ROLE

    @cached_property
    def _canonical(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "messages": canonical_messages(self.messages)}
        if self.kind == "generate":
            data["settings"] = self.settings.canonical()
        elif self.kind == "loglikelihood":
            data["continuation"] = self.continuation
            # Only when set, so the keys of requests that predate the field stay the same.
            if self.continuation_ends_turn:
                data["continuation_ends_turn"] = True
        return data

    def canonical(self) -> dict[str, Any]:
        """The request with media replaced by content hashes (computed once; do not mutate)."""
        return self._canonical

    def canonical_text(self) -> str:
        """``canonical_json(self.canonical())``, assembled from each message's cached JSON (a
        dialogue re-sends its history every round, so each message is encoded once) and the
        settings' (shared by a run's requests)."""
        data = self.canonical()
        encoded = {"messages": "[" + ",".join(message.canonical_json() for message in self.messages) + "]"}
        if "settings" in data:
            encoded["settings"] = self.settings.canonical_json()
        return canonical_json_object(data, encoded)

    def key(self, model_fingerprint: str) -> str:
        text = model_fingerprint + "\n" + self.canonical_text()
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


MAX_REPLY_CHARS = 100_000
"""The longest reply text kept (about 25,000 tokens): a longer one is cut to its first
``MAX_REPLY_CHARS`` characters, and ``Response.truncated_chars`` says how many were cut. A runaway
10 MB reply is then not copied whole into the store, samples.jsonl and the report."""


@dataclass
class Response:
    """What a model returned for one request; exactly one of text/logprob/embedding is set, or error.

    truncated_chars: how many characters of the reply were cut (see ``MAX_REPLY_CHARS``); None
    when nothing was."""

    text: str | None = None
    logprob: float | None = None
    embedding: list[float] | None = None
    is_greedy: bool | None = None
    error: str | None = None
    usage: dict[str, int] | None = None
    truncated_chars: int | None = None
    reward: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        # By hand, not dataclasses.asdict: this runs once per stored response (hot path).
        fields = (
            ("text", self.text),
            ("logprob", self.logprob),
            ("embedding", self.embedding),
            ("is_greedy", self.is_greedy),
            ("error", self.error),
            ("usage", self.usage),
            ("truncated_chars", self.truncated_chars),
            ("reward", self.reward),
        )
        return {key: value for key, value in fields if value is not None}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Response:
        return Response(**data)


def cap_reply(response: Response, limit: int = MAX_REPLY_CHARS) -> Response:
    """``response`` with its text cut to ``limit`` characters and the cut counted; the same object
    when the text is within the limit."""
    text = response.text
    if text is None or len(text) <= limit:
        return response
    cut = len(text) - limit
    return replace(response, text=text[:limit], truncated_chars=(response.truncated_chars or 0) + cut)
