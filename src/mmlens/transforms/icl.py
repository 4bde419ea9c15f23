"""``icl:<k>[:<retriever>]``: k in-context examples before every question, on any task.

Pool: the task's own questions (the whole scenario as it loads, untransformed and without
``--limit``, so a ``--limit`` run draws what the full run draws), or another split of the same
scenario (field ``split``: ``icl:2:random:split=train``). Only questions with an answer are
examples. Retrievers:

- ``random``: k drawn per question, seeded by the transform's seed and the question's id (the id
  before any ``#``, so CircularEval's passes and a leading-question pair share their examples);
  never the question itself nor a question of its group.
- ``fixed``: the same k for every question (drawn once by the seed, or the ``ids`` given in YAML);
  a question that is one of them gets the next one drawn instead (given ``ids``: a bad sample).
- ``topk_text`` / ``topk_img``: the k nearest by inner product of unit embeddings of the question
  text / the first image, the question itself left out. The vectors come from the run's role
  ``embedder`` (``--role embedder=hf:/path/to/clip``; field ``role``), through the store: a rerun
  sends nothing. A run without that role is refused up front in one line.

Shown (the mmlens default): each example as an earlier user turn, built by the task's own
instruction from the example question (its images included), and its reference answer as the
assistant's reply; then the question as usual. The task's inferencer is wrapped to show them, so
put ``icl`` after transforms that replace the inferencer (``likelihood``, ``strategy``).

``mode: chef`` (``icl:3:chef``) is ChEF v1's in-context desideratum (``instruction/__init__.py``,
``ice_retriever/``, the models' ``get_icl_prompt``): examples from the same set (``build_retriever
(dataset, dataset)``), random draws ``np.random.seed(seed)`` then per item in data order
``np.random.choice(N, k, replace=False)`` (the question itself can be drawn), seed 1 (the recipes'
``random_seed``); ``fixed`` one such draw for all; topk the k+1 nearest less the question itself
if among them, else the first k. Text only (``ice_with_image: False``): the system message gains
"You will now see some examples. ..." (appended to the task's system message, as ``conv.system +=``
does, or a system message of its own; also at k = 0) and the question is preceded by
``f"{question}: {answer}. "`` per example, the answer being ``(A)`` for a multiple-choice question
(the PPL recipes' ``gt_answers``) and the reference otherwise.

Which examples a question got: ``metadata["transform_details"]["icl"]`` (the record's
``details["transforms"]["icl"]``: ``examples`` ids, ``retriever``, ``mode``, ``pool``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, ClassVar, Literal, get_args

import numpy as np
from pydantic import Field, SerializeAsAny, model_validator

from mmlens.core.errors import ConfigError, DataError, SampleError
from mmlens.core.media import AbsentImage
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.options import LETTERS
from mmlens.core.parts import (
    Inferencer,
    Prediction,
    ReplayOutput,
    Rounds,
    Transform,
    TransformContext,
    register_transform,
)
from mmlens.core.requests import Request, Response
from mmlens.core.sample import BadSample, Sample
from mmlens.inferencers.embed import unit_vector
from mmlens.transforms.choices import find_options
from mmlens.transforms.options import base_id, sample_rng

Retriever = Literal["random", "fixed", "topk_text", "topk_img"]
Mode = Literal["mmlens", "chef"]
RETRIEVERS: tuple[str, ...] = get_args(Retriever)
PROMPT_KEY = "icl_prompt"  # sample metadata: what the wrapped inferencer shows (an IclPrompt)
DETAILS_KEY = "transform_details"  # sample metadata -> the record's details["transforms"]
CHEF_SYSTEM = (
    "You will now see some examples. The example has no relation to the provided image content. "
    "You need to follow the example and answer the final question based on the image content."
)
CHEF_SEED = 1  # the ChEF ICL recipes' random_seed (the retriever classes' own default, 43, is overridden)
DEFAULT_SEED = 0


@dataclass(frozen=True)
class IclPrompt:
    """What is shown before a question: earlier turns (mmlens), or ChEF's system text and prefix."""

    examples: tuple[str, ...]
    turns: tuple[Message, ...] = ()
    system: str | None = None
    prefix: str = ""

    def __str__(self) -> str:  # how the sample's content fingerprint records it (media by digest)
        data = {
            "examples": list(self.examples),
            "turns": [m.canonical() for m in self.turns],
            "system": self.system,
            "prefix": self.prefix,
        }
        return json.dumps(data, sort_keys=True)

    def show(self, messages: list[Message]) -> list[Message]:
        shown = list(messages)
        if self.system is not None:
            if shown and shown[0].role == "system":
                shown[0] = Message.system(shown[0].text + self.system)
            else:
                shown.insert(0, Message.system(self.system))
        if self.prefix:
            shown = _prefixed(shown, self.prefix)
        if self.turns:
            start = 0
            while start < len(shown) and shown[start].role == "system":
                start += 1
            shown[start:start] = self.turns
        return shown


def _prefixed(messages: list[Message], prefix: str) -> list[Message]:
    """``prefix`` before the first text of the last user message (a text part of its own if none)."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role != "user":
            continue
        parts = list(messages[index].content)
        first = next((i for i, part in enumerate(parts) if isinstance(part, TextPart)), None)
        if first is None:
            parts.append(TextPart(prefix))
        else:
            current = parts[first]
            assert isinstance(current, TextPart)
            parts[first] = TextPart(prefix + current.text)
        return [*messages[:index], Message("user", tuple(parts)), *messages[index + 1 :]]
    return [*messages, Message.user(prefix)]


class IclInferencer(Inferencer):
    """The task's inferencer, shown each sample's in-context examples first."""

    inner: SerializeAsAny[Inferencer]

    def shown(self, sample: Sample, messages: list[Message]) -> list[Message]:
        prompt = sample.metadata.get(PROMPT_KEY)
        if not isinstance(prompt, IclPrompt):
            raise SampleError(sample.id, "transform icl: the sample has no in-context examples")
        return prompt.show(messages)

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        return self.inner.plan(sample, self.shown(sample, messages))

    def combine(self, sample: Sample, requests: list[Request], responses: list[Response]) -> Prediction:
        return self.inner.combine(sample, requests, responses)

    def replay(self, sample: Sample, output: ReplayOutput) -> Prediction:
        return self.inner.replay(sample, output)


class IclRoundsInferencer(IclInferencer):
    """IclInferencer over an inferencer with rounds of its own (two_step, a strategy, ...)."""

    def rounds(self, sample: Sample, messages: list[Message]) -> Rounds[Prediction]:
        return (yield from self.inner.rounds(sample, self.shown(sample, messages)))


@cache
def wrapper_class(multi_round: bool, replay_fields: frozenset[str]) -> type[IclInferencer]:
    """The wrapper for an inner inferencer: with its rounds, and replaying what it replays."""
    base = IclRoundsInferencer if multi_round else IclInferencer
    if replay_fields == base.replay_fields:
        return base
    name = base.__name__ + "".join(field.title().replace("_", "") for field in sorted(replay_fields))
    namespace = {
        "__module__": __name__,
        "__annotations__": {"replay_fields": ClassVar[frozenset[str]]},
        "replay_fields": replay_fields,
    }
    return type(name, (base,), namespace)


@register_transform("icl")
class Icl(Transform):
    """k in-context examples: ``icl:<k>[:<retriever>][:chef][:key=value...]``; YAML
    ``{type: icl, k: 2, retriever: topk_img, split: train}``."""

    k: int = Field(ge=0)
    retriever: Retriever = "random"
    mode: Mode = "mmlens"
    split: str | None = None  # the pool: another split of the scenario (None: the task's own)
    seed: int | None = None  # None: 0, or ChEF's 1 in chef mode
    ids: tuple[str, ...] | None = None  # fixed: the examples by id (ChEF's ice_assigned_ids)
    role: str = "embedder"  # topk: the role that embeds

    @model_validator(mode="after")
    def _fields_fit(self) -> Icl:
        if self.ids is not None:
            if self.retriever != "fixed":
                raise ValueError("ids name the examples of the fixed retriever")
            if len(self.ids) != self.k:
                raise ValueError(f"ids names {len(self.ids)} examples, k is {self.k}")
        return self

    @classmethod
    def from_args(cls, args: str) -> dict[str, Any]:
        usage = "expected icl:<k>[:<retriever>][:chef][:key=value...]"
        first, *rest = args.split(":") if args else [""]
        try:
            fields: dict[str, Any] = {"k": int(first)}
        except ValueError:
            raise ValueError(f"{usage}, k a whole number (got {args!r})") from None
        for item in (part for chunk in rest for part in chunk.split(",") if part):
            key, equals, value = item.partition("=")
            if equals:
                fields[key] = value
            elif item in RETRIEVERS:
                fields["retriever"] = item
            elif item in get_args(Mode):
                fields["mode"] = item
            else:
                raise ValueError(f"{usage}; retrievers: {', '.join(RETRIEVERS)} (got {item!r})")
        return fields

    def label(self) -> str:
        changed = self.model_dump(mode="json", exclude_defaults=True)
        for key in ("k", "retriever", "mode"):
            changed.pop(key, None)
        head = f"{self.name}:{self.k}"
        head += f":{self.retriever}" if self.retriever != "random" else ""
        head += ":chef" if self.mode == "chef" else ""
        return head + "".join(f":{key}={value}" for key, value in sorted(changed.items()))

    @property
    def the_seed(self) -> int:
        if self.seed is not None:
            return self.seed
        return CHEF_SEED if self.mode == "chef" else DEFAULT_SEED

    def roles(self) -> tuple[str, ...]:
        return (self.role,) if self.retriever.startswith("topk") and self.k > 0 else ()

    def adapt_inferencer(self, inferencer: Inferencer) -> Inferencer:
        if isinstance(inferencer, IclInferencer):
            raise ConfigError(f"transform {self.label()}: the task already has in-context examples")
        multi_round = type(inferencer).rounds is not Inferencer.rounds
        return wrapper_class(multi_round, type(inferencer).replay_fields)(inner=inferencer)

    # ----- choosing the examples -----

    def apply(self, samples: list[Sample], context: TransformContext) -> list[Sample | BadSample]:
        if self.k == 0:
            pool: list[Sample] = []
        else:
            pool = context.load_split({"split": self.split} if self.split is not None else {})
        own = self.split is None
        chosen = self._retrieve(samples, pool, own, context) if self.k else [[] for _ in samples]
        result: list[Sample | BadSample] = []
        for sample, picked in zip(samples, chosen, strict=True):
            if isinstance(picked, SampleError):
                result.append(BadSample(sample.id, f"transform {self.label()}: {picked.reason}"))
                continue
            try:
                result.append(self._with_examples(sample, [pool[i] for i in picked], context))
            except SampleError as error:
                result.append(BadSample(sample.id, f"transform {self.label()}: {error.reason}"))
        return result

    def _retrieve(
        self, samples: list[Sample], pool: list[Sample], own: bool, context: TransformContext
    ) -> list[list[int] | SampleError]:
        where = f"split {self.split}" if self.split is not None else "the task"
        usable = [i for i, other in enumerate(pool) if self._usable(other)]
        need = self.k + (1 if own and self.mode == "mmlens" else 0)
        if len(usable if self.mode == "mmlens" else pool) < need:
            have = len(usable) if self.mode == "mmlens" else len(pool)
            raise DataError(
                f"task {context.task_name}: transform {self.label()}: {self.k} examples per question need "
                f"a pool of at least {need} questions with answers; {where} has {have}"
            )
        fixed: list[int] | None = None
        if self.ids is not None:
            by_id = {other.id: i for i, other in enumerate(pool)}
            missing = [i for i in self.ids if i not in by_id]
            if missing:
                raise DataError(
                    f"task {context.task_name}: transform {self.label()}: no question {missing[0]!r} "
                    f"in {where}"
                )
            fixed = [by_id[i] for i in self.ids]
        positions = self._positions(samples, pool, own)
        scores: np.ndarray | None = None
        failed: dict[int, str] = {}
        if self.retriever.startswith("topk"):
            scores, failed = self._similarities(samples, pool, context)
        if self.mode == "chef":
            chef = self._chef(samples, pool, positions, scores, fixed)
            return [
                SampleError(s.id, failed[n]) if n in failed else c
                for n, (s, c) in enumerate(zip(samples, chef, strict=True))
            ]
        if self.retriever == "fixed" and fixed is None:
            fixed = sample_rng(self.the_seed, "icl", "fixed").sample(usable, need)
        result: list[list[int] | SampleError] = []
        for number, sample in enumerate(samples):
            allowed = _Allowed(self, sample, pool, own)
            if number in failed:
                result.append(SampleError(sample.id, failed[number]))
                continue
            if self.retriever == "random":
                order = self._random_order(sample, usable, allowed)
            elif fixed is not None:
                order = fixed
            else:
                assert scores is not None
                order = [int(i) for i in np.argsort(-scores[number], kind="stable")]
            picked = [i for i in order if allowed.fits(i)][: self.k]
            if len(picked) < self.k:
                result.append(SampleError(sample.id, self._short_reason(len(picked))))
            else:
                result.append(picked)
        return result

    def _short_reason(self, found: int) -> str:
        if self.ids is not None:
            return "the fixed examples include the question itself (or one of its group)"
        return f"only {found} questions of the pool can be examples (not itself nor its group); k={self.k}"

    def _usable(self, sample: Sample) -> bool:
        if sample.target is None:
            return False
        if self.mode == "mmlens" and any(isinstance(image, AbsentImage) for image in sample.images):
            return False  # a questions-only copy: its images cannot be shown
        return not (self.retriever == "topk_img" and not sample.images)

    def _random_order(self, sample: Sample, usable: list[int], allowed: _Allowed) -> list[int]:
        """A seeded draw of the usable pool for this question: a few more than k first, the rest
        only when those hold too few allowed ones (every run draws the same)."""
        rng = sample_rng(self.the_seed, "icl", base_id(sample.id))
        first = rng.sample(usable, min(len(usable), self.k + 8))
        if sum(1 for i in first if allowed.fits(i)) >= self.k:
            return first
        return rng.sample(usable, len(usable))

    def _positions(self, samples: list[Sample], pool: list[Sample], own: bool) -> list[int | None]:
        """Each question's position in ChEF's test set: in the pool (the same set), else in the order
        the run's questions first appear."""
        if own:
            by_id = {other.id: i for i, other in enumerate(pool)}
            return [by_id.get(base_id(sample.id)) for sample in samples]
        order: dict[str, int] = {}
        for sample in samples:
            order.setdefault(base_id(sample.id), len(order))
        return [order[base_id(sample.id)] for sample in samples]

    def _chef(
        self,
        samples: list[Sample],
        pool: list[Sample],
        positions: list[int | None],
        scores: np.ndarray | None,
        given: list[int] | None,
    ) -> list[list[int] | SampleError]:
        size = len(pool)
        if self.retriever == "random":
            known = [p for p in positions if p is not None]
            draws = chef_random_draws(size, self.k, self.the_seed, (max(known) + 1) if known else 0)
        fixed = given if given is not None else chef_fixed_draw(size, self.k, self.the_seed)
        result: list[list[int] | SampleError] = []
        for number, (sample, position) in enumerate(zip(samples, positions, strict=True)):
            if self.retriever == "fixed":
                result.append(list(fixed))
            elif position is None:
                result.append(
                    SampleError(sample.id, "not a question of the pool: ChEF's draw for it is unknown")
                )
            elif self.retriever == "random":
                result.append(draws[position])
            else:
                assert scores is not None
                nearest = [int(i) for i in np.argsort(-scores[number], kind="stable")[: self.k + 1]]
                result.append(chef_minus_self(nearest, position, self.k))
        return result

    # ----- embeddings (topk) -----

    def _similarities(
        self, samples: list[Sample], pool: list[Sample], context: TransformContext
    ) -> tuple[np.ndarray, dict[int, str]]:
        """Inner products of unit vectors, one row per question, one column per pool item (-inf
        where an item has nothing to embed or the role could not embed it: it is left out of the
        pool), and why each question that could not be embedded could not."""
        if context.embed is None:
            raise ConfigError(
                f"transform {self.label()}: the {self.retriever} retriever embeds through the run's "
                f"{self.role!r} role, which only `mmlens run` (api.evaluate) loads"
            )
        indexed = [self.mode == "chef" or self._usable(other) for other in pool]  # ChEF indexes all
        requests = [self._embed_request(o) if use else None for o, use in zip(pool, indexed, strict=True)]
        requests += [self._embed_request(sample) for sample in samples]
        responses = iter(context.embed([r for r in requests if r is not None]))
        vectors: list[list[float] | None] = []
        failed: dict[int, str] = {}
        for number, request in enumerate(requests):
            response = next(responses) if request is not None else None
            vector = unit_vector(response.embedding) if response and response.embedding else None
            vectors.append(vector)
            if vector is None and number >= len(pool):
                reason = response.error if response and response.error else "no usable vector"
                failed[number - len(pool)] = f"the {self.role} role could not embed it: {reason}"
                if request is None:
                    failed[number - len(pool)] = f"nothing to retrieve by ({self.retriever}: no image)"
        known = [v for v in vectors[: len(pool)] if v is not None]
        if not known:
            raise DataError(
                f"task {context.task_name}: transform {self.label()}: the {self.role} role embedded none "
                "of the pool's questions"
            )
        width = len(known[0])
        if any(v is not None and len(v) != width for v in vectors):
            raise DataError(f"transform {self.label()}: the {self.role} role gave vectors of different sizes")
        matrix = np.array([v if v is not None else [np.nan] * width for v in vectors], dtype=np.float64)
        scores = matrix[len(pool) :] @ matrix[: len(pool)].T
        return np.where(np.isnan(scores), -np.inf, scores), failed

    def _embed_request(self, sample: Sample) -> Request | None:
        if self.retriever == "topk_text":
            return Request("embed", (Message.user(sample.question),), role=self.role)
        if not sample.images or isinstance(sample.images[0], AbsentImage):
            return None
        return Request("embed", (Message("user", (ImagePart(sample.images[0]),)),), role=self.role)

    # ----- showing them -----

    def _with_examples(self, sample: Sample, examples: list[Sample], context: TransformContext) -> Sample:
        if any(example.target is None for example in examples):
            raise SampleError(sample.id, "an example drawn has no reference answer")
        if self.mode == "chef":
            prefix = "".join(f"{example.question}: {chef_answer(example)}. " for example in examples)
            prompt = IclPrompt(tuple(e.id for e in examples), system=CHEF_SYSTEM, prefix=prefix)
        else:
            turns = [turn for example in examples for turn in example_turns(example, context)]
            prompt = IclPrompt(tuple(e.id for e in examples), turns=tuple(turns))
        info = {
            "examples": list(prompt.examples),
            "retriever": self.retriever,
            "mode": self.mode,
            "pool": self.split or "own",
        }
        details = {**sample.metadata.get(DETAILS_KEY, {}), "icl": info}
        return replace(sample, metadata={**sample.metadata, PROMPT_KEY: prompt, DETAILS_KEY: details})


class _Allowed:
    """Which pool items may be a question's examples: not the question itself nor one of its group
    (mmlens mode; in another split, an item with the question's id and text), with an answer."""

    def __init__(self, icl: Icl, sample: Sample, pool: list[Sample], own: bool) -> None:
        self.icl, self.sample, self.pool, self.own = icl, sample, pool, own
        self.base = base_id(sample.id)

    def fits(self, index: int) -> bool:
        other = self.pool[index]
        if not self.icl._usable(other):
            return False
        if other.id == self.base and (self.own or other.question == self.sample.question):
            return False
        return not (self.own and self.sample.group is not None and other.group == self.sample.group)


def example_turns(example: Sample, context: TransformContext) -> list[Message]:
    """An example as the question is shown (the task's instruction, its system message left out),
    then its reference answer as the assistant's reply."""
    built = context.instruction.build(example) if context.instruction is not None else list(example.messages)
    return [*(m for m in built if m.role != "system"), Message.assistant(str(example.target))]


def chef_answer(example: Sample) -> str:
    """ChEF's ``gt_answers`` in its PPL recipes: ``(A)`` for a multiple-choice question, else the
    reference."""
    options = find_options(example)
    if options is not None:
        return f"({LETTERS[options.answer]})"
    return str(example.target)


def chef_random_draws(size: int, k: int, seed: int, count: int) -> list[list[int]]:
    """ChEF's ``RandomRetriever.retrieve``: ``np.random.seed(seed)``, then for each of the first
    ``count`` items ``np.random.choice(size, k, replace=False)`` (a RandomState of its own: the
    same stream as the legacy global seeding, without touching the global state)."""
    state = np.random.RandomState(seed)
    return [state.choice(size, k, replace=False).tolist() for _ in range(count)]


def chef_fixed_draw(size: int, k: int, seed: int) -> list[int]:
    """ChEF's ``FixedRetriever``: one ``np.random.choice(size, k, replace=False)`` after seeding."""
    return np.random.RandomState(seed).choice(size, k, replace=False).tolist()


def chef_minus_self(nearest: list[int], position: int, k: int) -> list[int]:
    """ChEF's ``process_list``: the k+1 nearest less the question itself, else the first k."""
    if position in nearest:
        return [i for i in nearest if i != position]
    return nearest[:k]
