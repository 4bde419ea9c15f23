"""``strategy:<name>``: prompting strategies on any task, inspired by the strategies compared in "The
Future of MLLM Prompting is Adaptive" (arXiv 2504.10179). That study published no code or prompt
texts, so each strategy here takes the standard published form of its own paper (cited on each
prompt below); it is *inspired by* the study, not a reproduction of it.

A strategy adapts the task's inferencer into a multi-round one where it needs more than one call.
After any reasoning, the answer is asked for in a round of its own (Kojima et al.'s answer trigger,
"Therefore, the answer is", as ``two_step`` does), under the task's own generation settings, and
the task's own metric extracts from that final answer. Every round is cached like any request, so a
rerun sends nothing, and ``provenance.requests.rounds`` counts the rounds (the record's
``details["strategy"]`` has the strategy's name and the rounds its sample took; its ``exchanges``
every prompt and reply). Seconds: the store keeps no per-request timing; the run's
``provenance.requests.by_role.model.seconds`` is the model's time over all rounds.

=====================  ======  ================================================================
strategy               rounds  requests
=====================  ======  ================================================================
zero_shot              1       the task's own prompt, unchanged (shares the plain run's cache)
one_shot, few_shot     1       k solved examples of the task (k = 1; few_shot k = 3) as earlier
                               user/assistant turns, then the question
chain_of_thought       2       question + "Let's think step by step."; then the answer trigger
analogical             2       question + "recall three relevant problems ..."; then the trigger
generated_knowledge    2       question + "Generate some knowledge ..."; then the question with
                               the knowledge before it, answered under the task's settings
tree_of_thought        3       ``breadth`` sampled thoughts; a vote for the best one; the best
                               thought as the assistant's reply, then the answer trigger
self_consistency       2       ``k`` sampled chains of thought; an answer trigger after each; the
                               majority vote of the k answers (``self_consistency``'s vote)
=====================  ======  ================================================================

The answer trigger follows Kojima et al.'s per-format triggers: "Therefore, among A through D, the
answer is" for a multiple-choice question (its last letter), "Therefore, the answer (Yes or No) is"
for a yes/no question, "Therefore, the answer is" otherwise.

On a task that ranks options by likelihood (``rank_choices``, ``rank_choices_token_mean``,
``chef_ppl`` from the ``likelihood`` transform) the reasoning is generated as above and then
prefixes every option's continuation, as ChEF's PPL chain of thought does
(``InstructionHandler.generate_CoT_query``: ``question + "\\nLet's think step by step."`` with 256
new tokens; the models' ``ppl_inference``: ``CoT + "\\n" + answer``): each option is scored as
``reasoning + "\\n" + option`` after the question, less the score of ``reasoning + "\\n"`` alone
(one more request), so only the option's own tokens count, as ChEF scores them. self_consistency
votes on generated answers and is refused there in one line.

Examples (one_shot, few_shot) come from the run's own samples, drawn per question with the
transform's seed and the question's id, never the question itself nor a question of its group
(``icl:<k>`` is the full in-context transform, with other pools and retrievers); an example is its
benchmark question as published (media included) and its reference answer as the assistant's
reply. A question with too few other samples is a bad sample.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal, get_args

from pydantic import Field, SerializeAsAny, model_validator

from mmlens.core.errors import ConfigError, SampleError
from mmlens.core.messages import Message, TextPart
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
from mmlens.core.requests import GenerationSettings, Request, Response
from mmlens.core.sample import BadSample, Sample
from mmlens.inferencers.basic import Generate
from mmlens.inferencers.ranking import TOKEN_COUNT_KEY, RankingInferencer
from mmlens.inferencers.self_consistency import SelfConsistency, sample_seed
from mmlens.inferencers.two_step import add_to_last_user_message
from mmlens.transforms.choices import find_options
from mmlens.transforms.likelihood import is_yes_no
from mmlens.transforms.options import base_id

StrategyName = Literal[
    "zero_shot",
    "one_shot",
    "few_shot",
    "chain_of_thought",
    "analogical",
    "generated_knowledge",
    "tree_of_thought",
    "self_consistency",
]
STRATEGIES: tuple[str, ...] = get_args(StrategyName)
SHOT_STRATEGIES = ("one_shot", "few_shot")
DEFAULT_SHOTS = {"one_shot": 1, "few_shot": 3}

# Kojima et al., "Large Language Models are Zero-Shot Reasoners" (NeurIPS 2022, arXiv 2205.11916):
# the reasoning trigger, and the answer triggers of its two-stage answer extraction.
CHAIN_OF_THOUGHT_PROMPT = "Let's think step by step."
ANSWER_TRIGGER = "Therefore, the answer is"
YES_NO_ANSWER_TRIGGER = "Therefore, the answer (Yes or No) is"
CHOICE_ANSWER_TRIGGER = "Therefore, among A through {last}, the answer is"

# Yasunaga et al., "Large Language Models as Analogical Reasoners" (ICLR 2024, arXiv 2310.01714):
# the self-generated exemplars prompt (recall relevant problems, then solve the initial one), in
# the task-general wording of its instructions.
ANALOGICAL_PROMPT = (
    'Recall three relevant and distinct problems. For each problem, describe it after "Q: " and '
    'explain its solution after "A: ". Then solve the initial problem step by step.'
)

# Liu et al., "Generated Knowledge Prompting for Commonsense Reasoning" (ACL 2022, arXiv
# 2110.08387): the knowledge generation instruction; knowledge integration puts the generated
# statement before the question.
KNOWLEDGE_PROMPT = "Generate some knowledge about the concepts in the input."
KNOWLEDGE_PREFIX = "Knowledge: "

# Yao et al., "Tree of Thoughts: Deliberate Problem Solving with Large Language Models" (NeurIPS
# 2023, arXiv 2305.10601), breadth-first search of depth 1: i.i.d. sampled thoughts, the vote
# prompt of its text task, then the answer from the best thought.
TREE_PROPOSE_PROMPT = (
    "Think of one possible line of reasoning towards the answer. Do not give the final answer yet."
)
TREE_VOTE_PROMPT = (
    "Given an instruction and several choices, decide which choice is most promising. Analyze each "
    'choice in detail, then conclude in the last line "The best choice is {s}", where s the integer '
    "id of the choice."
)
TREE_VOTE_PATTERN = re.compile(r"best choice is\s*\{?(\d+)", re.I)

EXAMPLES_KEY = "strategy_examples"  # sample metadata: the in-context examples (one_shot, few_shot)


def answer_trigger(sample: Sample) -> str:
    """Kojima et al.'s answer trigger for the sample's kind of question."""
    options = find_options(sample)
    count = len(options.choices) if options is not None else len(sample.choices or [])
    if count:
        return CHOICE_ANSWER_TRIGGER.format(last=LETTERS[count - 1])
    if is_yes_no(sample):
        return YES_NO_ANSWER_TRIGGER
    return ANSWER_TRIGGER


def vote_prompt(thoughts: list[str]) -> str:
    choices = "\n".join(f"Choice {i}:\n{thought}" for i, thought in enumerate(thoughts, start=1))
    return f"{TREE_VOTE_PROMPT}\n\n{choices}"


def parse_vote(text: str, breadth: int) -> int | None:
    """The 0-based index of the thought the vote names last ("The best choice is 2"), or None."""
    matches = [int(m.group(1)) for m in TREE_VOTE_PATTERN.finditer(text)]
    return matches[-1] - 1 if matches and 1 <= matches[-1] <= breadth else None


def with_knowledge(messages: list[Message] | tuple[Message, ...], knowledge: str) -> list[Message]:
    """The messages with ``Knowledge: ...`` before the last user message's first text."""
    messages = list(messages)
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.role != "user":
            continue
        parts = list(message.content)
        first = next((i for i, part in enumerate(parts) if isinstance(part, TextPart)), None)
        statement = f"{KNOWLEDGE_PREFIX}{knowledge.strip()}"
        if first is None:
            parts.append(TextPart(statement))
        else:
            current = parts[first]
            assert isinstance(current, TextPart)
            parts[first] = TextPart(f"{statement}\n{current.text}")
        return [*messages[:index], Message("user", tuple(parts)), *messages[index + 1 :]]
    return [*messages, Message.user(f"{KNOWLEDGE_PREFIX}{knowledge.strip()}")]


@dataclass(frozen=True)
class Example:
    """One in-context example: a benchmark question as published and its reference answer."""

    id: str
    messages: tuple[Message, ...]
    answer: str

    def turns(self) -> list[Message]:
        return [*self.messages, Message.assistant(self.answer)]

    def __str__(self) -> str:  # how the sample's content fingerprint records it (media by digest)
        canonical = {"id": self.id, "messages": [m.canonical() for m in self.messages], "answer": self.answer}
        return json.dumps(canonical, sort_keys=True)


def with_examples(messages: list[Message], examples: list[Example]) -> list[Message]:
    """The examples' turns after any leading system message, then the question's messages."""
    start = 0
    while start < len(messages) and messages[start].role == "system":
        start += 1
    turns = [turn for example in examples for turn in example.turns()]
    return [*messages[:start], *turns, *messages[start:]]


@dataclass
class Reasoned:
    """What a reasoning phase leaves for the answer round: the messages to answer (or rank) on,
    and the model's reasoning with the messages that asked for it (None: no reasoning to show)."""

    answer_messages: list[Message]
    reasoning: str | None = None
    asked: tuple[Message, ...] = ()
    details: dict[str, Any] | None = None


class ReasoningFailed(Exception):
    def __init__(self, error: str, details: dict[str, Any]) -> None:
        super().__init__(error)
        self.details = details


def single_text(responses: list[Response], what: str) -> str:
    (response,) = responses
    if response.error is not None or response.text is None:
        raise ReasoningFailed(f"{what}: {response.error or 'the model returned no text'}", {})
    return response.text


class StrategyBase(Inferencer):
    """The fields every strategy inferencer shares; ``inner`` is the task's own inferencer."""

    inner: SerializeAsAny[Inferencer]
    strategy: StrategyName
    reasoning_max_new_tokens: int = Field(256, ge=1)
    breadth: int = Field(3, ge=1)
    k: int = Field(5, ge=1)
    temperature: float = 0.0  # above 0 only for the sampling strategies: the run's seed fills seed
    seed: int | None = None

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        """The first round's requests (what ``mmlens plan`` shows)."""
        return next(self.rounds(sample, messages))

    def sampled(self, settings: GenerationSettings, count: int) -> list[GenerationSettings]:
        """``count`` sampled settings, seed ``sample_seed(seed, i)`` each (as self_consistency)."""
        if self.seed is None:
            raise ConfigError(
                f"strategy {self.strategy} samples: set a seed, or run it through mmlens run / "
                "mmlens.api.evaluate, which use the run's seed"
            )
        base = replace(settings, temperature=self.temperature)
        return [replace(base, seed=sample_seed(self.seed, i)) for i in range(count)]

    def reason(
        self, sample: Sample, base: list[Message], settings: GenerationSettings
    ) -> Generator[list[Request], list[Response], Reasoned]:
        """The reasoning rounds of chain_of_thought, analogical, generated_knowledge and
        tree_of_thought, asked on ``base`` under ``settings`` (the reasoning budget)."""
        if self.strategy in ("chain_of_thought", "analogical"):
            prompt = CHAIN_OF_THOUGHT_PROMPT if self.strategy == "chain_of_thought" else ANALOGICAL_PROMPT
            asked = tuple(add_to_last_user_message(base, prompt))
            reasoning = single_text((yield [Request("generate", asked, settings)]), "reasoning")
            return Reasoned(base, reasoning, asked, {"reasoning": reasoning})
        if self.strategy == "generated_knowledge":
            asked = tuple(add_to_last_user_message(base, KNOWLEDGE_PROMPT))
            knowledge = single_text((yield [Request("generate", asked, settings)]), "knowledge")
            return Reasoned(with_knowledge(base, knowledge), details={"knowledge": knowledge})
        if self.strategy == "tree_of_thought":
            asked = tuple(add_to_last_user_message(base, TREE_PROPOSE_PROMPT))
            proposals = [Request("generate", asked, s) for s in self.sampled(settings, self.breadth)]
            responses = yield proposals
            thoughts = [single_text([response], f"thought {i + 1}") for i, response in enumerate(responses)]
            vote_request = Request(
                "generate", tuple(add_to_last_user_message(base, vote_prompt(thoughts))), settings
            )
            vote = single_text((yield [vote_request]), "vote")
            chosen = parse_vote(vote, self.breadth)
            best = 0 if chosen is None else chosen  # no readable vote: the first thought (recorded)
            details = {
                "thoughts": thoughts,
                "vote": vote,
                "best": best + 1,
                "vote_parsed": chosen is not None,
            }
            return Reasoned(base, thoughts[best], asked, details)
        raise AssertionError(self.strategy)  # pragma: no cover - the others have no reasoning phase

    def rounds_count(self) -> int:
        return {"generated_knowledge": 2, "tree_of_thought": 3}.get(self.strategy, 2)

    def tag(self, details: dict[str, Any] | None) -> dict[str, Any]:
        return {"strategy": {"name": self.strategy, "rounds": self.rounds_count()}, **(details or {})}


class GenerationStrategy(StrategyBase):
    """A strategy on a task that generates its answer (``generate``, ``blind``, or any one-round
    inferencer sending one generation request): reasoning rounds, then the answer round."""

    def rounds(self, sample: Sample, messages: list[Message]) -> Rounds[Prediction]:
        planned = self.inner.plan(sample, messages)
        if len(planned) != 1 or planned[0].kind != "generate" or planned[0].settings is None:
            raise SampleError(
                sample.id, f"strategy {self.strategy} needs one generation request per question"
            )
        base, answer_settings = list(planned[0].messages), planned[0].settings
        reasoning_settings = replace(answer_settings, max_new_tokens=self.reasoning_max_new_tokens)
        if self.strategy == "self_consistency":
            return (yield from self.self_consistency(sample, base, reasoning_settings, answer_settings))
        try:
            reasoned = yield from self.reason(sample, base, reasoning_settings)
        except ReasoningFailed as failure:
            return Prediction(text=None, error=str(failure), details=self.tag(failure.details))
        if reasoned.reasoning is None:
            conversation = tuple(reasoned.answer_messages)
        else:
            conversation = (
                *reasoned.asked,
                Message.assistant(reasoned.reasoning),
                Message.user(answer_trigger(sample)),
            )
        (answer,) = yield [Request("generate", conversation, answer_settings)]
        details = self.tag(reasoned.details)
        if answer.error is not None or answer.text is None:
            return Prediction(
                text=None, error=f"answer: {answer.error or 'the model returned no text'}", details=details
            )
        return Prediction(text=answer.text, details=details)

    def self_consistency(
        self, sample: Sample, base: list[Message], reasoning: GenerationSettings, answer: GenerationSettings
    ) -> Rounds[Prediction]:
        """Wang et al., "Self-Consistency Improves Chain of Thought Reasoning in Language Models"
        (ICLR 2023, arXiv 2203.11171): k sampled chains of thought (Kojima's trigger), an answer
        trigger after each, and ``self_consistency``'s majority vote over the answers."""
        asked = tuple(add_to_last_user_message(base, CHAIN_OF_THOUGHT_PROMPT))
        paths = yield [Request("generate", asked, settings) for settings in self.sampled(reasoning, self.k)]
        try:
            chains = [single_text([path], f"chain {i + 1}") for i, path in enumerate(paths)]
        except ReasoningFailed as failure:
            return Prediction(text=None, error=str(failure), details=self.tag(None))
        trigger = Message.user(answer_trigger(sample))
        answers = yield [
            Request("generate", (*asked, Message.assistant(chain), trigger), answer) for chain in chains
        ]
        errors = [a.error or "the model returned no text" for a in answers if a.error or a.text is None]
        if errors:
            return Prediction(text=None, error=f"answer: {errors[0]}", details=self.tag({"chains": chains}))
        voter = SelfConsistency(
            k=self.k, temperature=max(self.temperature, 0.7), extractor=vote_extractor(sample)
        )
        voted = voter.vote(sample, [str(a.text) for a in answers])
        return replace(voted, details=self.tag({"chains": chains, **voted.details}))


def vote_extractor(sample: Sample) -> str | None:
    """How a self-consistency answer is normalised before the vote: the option letter of a
    multiple-choice question, yes/no of a yes/no one, the stripped text otherwise."""
    if find_options(sample) is not None or sample.choices:
        return "choice_letter"
    return "yes_no" if is_yes_no(sample) else None


class RankingStrategy(StrategyBase):
    """A strategy on a task that ranks its options by likelihood: the reasoning (ChEF's PPL chain
    of thought for chain_of_thought) prefixes every option's continuation."""

    inner: SerializeAsAny[RankingInferencer]

    def rounds(self, sample: Sample, messages: list[Message]) -> Rounds[Prediction]:
        settings = GenerationSettings(max_new_tokens=self.reasoning_max_new_tokens)
        try:
            reasoned = yield from self.reason(sample, list(messages), settings)
        except ReasoningFailed as failure:
            return Prediction(text=None, error=str(failure), details=self.tag(failure.details))
        options = self.inner.plan(sample, reasoned.answer_messages)
        if reasoned.reasoning is None:
            responses = yield options
            prediction = self.inner.combine(sample, options, responses)
            return replace(prediction, details={**prediction.details, **self.tag(reasoned.details)})
        prefix = reasoned.reasoning + "\n"
        alone = Request("loglikelihood", tuple(reasoned.answer_messages), continuation=prefix)
        prefixed = [replace(option, continuation=prefix + (option.continuation or "")) for option in options]
        base, *scored = yield [alone, *prefixed]
        details = {**self.tag(reasoned.details)}
        if base.error is not None or base.logprob is None:
            error = f"reasoning prefix: {base.error or 'the backend gave no log-probability'}"
            return Prediction(text=None, error=error, details=details)
        prediction = self.inner.combine(sample, options, [less(response, base) for response in scored])
        return replace(prediction, details={**prediction.details, **details})

    replay_fields: ClassVar[frozenset[str]] = frozenset({"option_logprobs"})

    def replay(self, sample: Sample, output: ReplayOutput) -> Prediction:
        return self.inner.replay(sample, output)


def less(response: Response, base: Response) -> Response:
    """An option's score after the reasoning prefix: its log-probability (and scored tokens) less
    the prefix's alone, so only the option's own tokens count."""
    if response.error is not None or response.logprob is None or base.logprob is None:
        return response
    usage = dict(response.usage or {})
    tokens, base_tokens = usage.get(TOKEN_COUNT_KEY), (base.usage or {}).get(TOKEN_COUNT_KEY)
    if tokens is not None and base_tokens is not None:
        usage[TOKEN_COUNT_KEY] = tokens - base_tokens
    else:
        usage.pop(TOKEN_COUNT_KEY, None)  # a per-token mean then fails in one line, never a guess
    return replace(response, logprob=response.logprob - base.logprob, usage=usage or None)


class ExamplesStrategy(Inferencer):
    """one_shot / few_shot: the sample's examples as earlier turns, then the task's own inferencer."""

    inner: SerializeAsAny[Inferencer]
    strategy: StrategyName

    def shown(self, sample: Sample, messages: list[Message]) -> list[Message]:
        examples = sample.metadata.get(EXAMPLES_KEY)
        if not isinstance(examples, list) or not all(isinstance(e, Example) for e in examples):
            raise SampleError(sample.id, f"strategy {self.strategy}: the sample has no examples")
        return with_examples(messages, examples)

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        return self.inner.plan(sample, self.shown(sample, messages))

    def combine(self, sample: Sample, requests: list[Request], responses: list[Response]) -> Prediction:
        prediction = self.inner.combine(sample, requests, responses)
        examples = [example.id for example in sample.metadata.get(EXAMPLES_KEY, [])]
        details = {"strategy": {"name": self.strategy, "rounds": 1, "examples": examples}}
        return replace(prediction, details={**prediction.details, **details})

    def replay(self, sample: Sample, output: ReplayOutput) -> Prediction:
        return self.inner.replay(sample, output)


class ExamplesRankingStrategy(ExamplesStrategy):
    """one_shot / few_shot on a likelihood ranking (replays ``option_logprobs``, as it does)."""

    replay_fields: ClassVar[frozenset[str]] = frozenset({"option_logprobs"})


@register_transform("strategy")
class Strategy(Transform):
    """A prompting strategy (chain of thought, few-shot, tree of thought, ...), rounds as it needs.

    ``--transform strategy:chain_of_thought``, ``strategy:few_shot:5``,
    ``strategy:self_consistency:k=10``; in YAML ``{type: strategy, strategy: tree_of_thought}``."""

    strategy: StrategyName
    shots: int | None = Field(None, ge=1)  # one_shot: 1; few_shot: 3 by default
    k: int = Field(5, ge=1)  # self_consistency: chains sampled
    breadth: int = Field(3, ge=1)  # tree_of_thought: thoughts sampled
    temperature: float = Field(0.7, gt=0.0)  # self_consistency and tree_of_thought sampling
    reasoning_max_new_tokens: int = Field(256, ge=1)
    seed: int = 1  # one_shot / few_shot: which examples

    @model_validator(mode="after")
    def _fields_fit(self) -> Strategy:
        if self.strategy == "one_shot" and self.shots not in (None, 1):
            raise ValueError("one_shot shows one example (use few_shot for more)")
        if self.shots is not None and self.strategy not in SHOT_STRATEGIES:
            raise ValueError(f"shots is for one_shot and few_shot, not {self.strategy}")
        return self

    @classmethod
    def from_args(cls, args: str) -> dict[str, Any]:
        """``NAME[:N][:KEY=VALUE...]``; a bare number N is few_shot's shots, self_consistency's k
        or tree_of_thought's breadth."""
        name, *rest = args.split(":") if args else [""]
        if name not in STRATEGIES:
            known = ", ".join(STRATEGIES)
            raise ValueError(f"expected strategy:<name>, one of {known} (got {args!r})")
        fields: dict[str, Any] = {"strategy": name}
        numbered = {"few_shot": "shots", "self_consistency": "k", "tree_of_thought": "breadth"}
        for item in (part for chunk in rest for part in chunk.split(",") if part):
            key, equals, value = item.partition("=")
            if not equals:
                if name not in numbered:
                    raise ValueError(f"strategy {name} takes no number (got {item!r})")
                key, value = numbered[name], item
            fields[key] = value
        return fields

    def label(self) -> str:
        changed = self.model_dump(mode="json", exclude_defaults=True)
        changed.pop("strategy", None)
        return f"{self.name}:{self.strategy}" + "".join(f":{k}={v}" for k, v in sorted(changed.items()))

    @property
    def shot_count(self) -> int:
        return self.shots or DEFAULT_SHOTS.get(self.strategy, 0)

    def adapt_inferencer(self, inferencer: Inferencer) -> Inferencer:
        if self.strategy == "zero_shot":
            return inferencer
        if isinstance(inferencer, StrategyBase | ExamplesStrategy):
            raise ConfigError(
                f"transform {self.label()}: the task already has a strategy ({inferencer.strategy})"
            )
        if type(inferencer).rounds is not Inferencer.rounds:
            raise ConfigError(
                f"transform {self.label()}: the task's inferencer {type(inferencer).__name__} already has "
                "rounds of its own; a strategy adapts a one-round inferencer (generate, rank_choices, ...)"
            )
        ranking = isinstance(inferencer, RankingInferencer)
        if self.strategy in SHOT_STRATEGIES:
            cls = ExamplesRankingStrategy if ranking else ExamplesStrategy
            return cls(inner=inferencer, strategy=self.strategy)
        sampling = self.strategy in ("self_consistency", "tree_of_thought")
        fields: dict[str, Any] = {
            "inner": inferencer,
            "strategy": self.strategy,
            "reasoning_max_new_tokens": self.reasoning_max_new_tokens,
            "breadth": self.breadth,
            "k": self.k,
            "temperature": self.temperature if sampling else 0.0,
        }
        if ranking:
            if self.strategy == "self_consistency":
                raise ConfigError(
                    f"transform {self.label()}: self_consistency votes on generated answers; this task ranks "
                    f"options by likelihood ({type(inferencer).__name__}); chain_of_thought there is ChEF's "
                    "PPL chain of thought"
                )
            return RankingStrategy(**fields)
        if not isinstance(inferencer, Generate):
            raise ConfigError(
                f"transform {self.label()}: the task's inferencer {type(inferencer).__name__} does not "
                "generate text; a strategy needs generation or a likelihood ranking"
            )
        return GenerationStrategy(**fields)

    def apply(self, samples: list[Sample], context: TransformContext) -> list[Sample | BadSample]:
        if self.strategy not in SHOT_STRATEGIES:
            return list(samples)
        result: list[Sample | BadSample] = []
        for sample in samples:
            try:
                examples = self.examples_for(sample, samples)
            except SampleError as error:
                result.append(BadSample(sample.id, f"transform {self.label()}: {error.reason}"))
                continue
            result.append(replace(sample, metadata={**sample.metadata, EXAMPLES_KEY: examples}))
        return result

    def examples_for(self, sample: Sample, pool: list[Sample]) -> list[Example]:
        """``shots`` examples for ``sample``, drawn by the seed and the sample's id from the other
        samples with an answer (never the sample itself nor one of its group)."""

        def usable(other: Sample) -> bool:
            same_group = sample.group is not None and other.group == sample.group
            return other.id != sample.id and not same_group and other.target is not None

        rng = random.Random(f"{self.seed}:{base_id(sample.id)}")
        wanted = self.shot_count
        chosen: list[int] = []
        for index in rng.sample(range(len(pool)), min(len(pool), wanted + 8)):
            if usable(pool[index]) and len(chosen) < wanted:
                chosen.append(index)
        if len(chosen) < wanted:  # many unusable candidates: draw from the usable ones
            candidates = [i for i, other in enumerate(pool) if usable(other)]
            if len(candidates) < wanted:
                raise SampleError(
                    sample.id,
                    f"needs {wanted} other samples with answers as examples, the run has {len(candidates)}",
                )
            chosen = rng.sample(candidates, wanted)
        return [Example(pool[i].id, tuple(pool[i].messages), str(pool[i].target)) for i in chosen]
