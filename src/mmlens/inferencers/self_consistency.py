"""Self-consistency: k sampled answers to the same messages, then a majority vote.

One round of ``k`` generation requests at ``temperature`` (defaults k=5, temperature=0.7; greedy
decoding would give k copies of one answer, so temperature must be above 0). Request i (from 0)
samples with seed ``seed * 65536 + i``; with ``seed`` unset the run's seed is used (``mmlens run
--seed``), so k and every seed are in the request keys: a run with k=5 reuses the 3 responses a k=3
run stored, and another seed asks anew (the samples of two seeds never overlap).

Each response is normalised into the answer it votes for by ``extractor``, a name from the
``mmlens.metrics.extractors`` registry (``choice_letter``, ``yes_no``, ...), or, without one, the
stripped text; a response with no answer (empty, or the extractor finds none) does not vote. The
answer with most votes wins, a tie going to the answer that came first. The prediction's text is
the first response that voted for the winner (the task's metric extracts from it as usual; with
no vote at all there is no text, a failed extraction, never a guess); ``details`` hold the votes,
every response and its answer.

``mmlens score`` replays a line's ``responses``: the k texts, in seed order.

    inferencer: {type: self_consistency, k: 5, temperature: 0.7, extractor: choice_letter}
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from pydantic import Field, field_validator

from mmlens.core.errors import MmlensError, UnknownNameError
from mmlens.core.messages import Message
from mmlens.core.parts import Prediction, ReplayError, ReplayOutput, inferencers
from mmlens.core.requests import GenerationSettings, Request, Response
from mmlens.core.sample import Sample
from mmlens.inferencers.basic import Generate
from mmlens.metrics.extractors import extractors

# Sample i of run seed s uses seed s * SEED_STRIDE + i: the samples of two run seeds never overlap
# (for k < SEED_STRIDE), and a larger k reuses every sample a smaller k stored.
SEED_STRIDE = 1 << 16


def sample_seed(seed: int, index: int) -> int:
    return seed * SEED_STRIDE + index


def majority_vote(answers: list[str | None]) -> tuple[str | None, dict[str, int]]:
    """The answer with most votes (ties: the one seen first) and the votes, in first-seen order;
    ``None`` answers do not vote."""
    votes: dict[str, int] = {}
    for answer in answers:
        if answer is not None:
            votes[answer] = votes.get(answer, 0) + 1
    winner = None
    for answer, count in votes.items():  # first-seen order: a later answer must beat, not equal
        if winner is None or count > votes[winner]:
            winner = answer
    return winner, votes


@inferencers.register("self_consistency")
class SelfConsistency(Generate):
    """k samples (seeds seed, seed+1, ...) and a majority vote over their normalised answers."""

    k: int = Field(5, ge=1)
    temperature: float = Field(0.7, gt=0.0)
    extractor: str | None = None

    @field_validator("extractor")
    @classmethod
    def _known_extractor(cls, name: str | None) -> str | None:
        """An unknown name fails when the task is loaded, naming the file and key."""
        if name is not None:
            try:
                extractors.get(name)
            except UnknownNameError as error:
                raise ValueError(str(error)) from None
        return name

    def sample_settings(self) -> list[GenerationSettings]:
        """The k samples' settings: sample i with seed ``sample_seed(seed, i)``."""
        if self.seed is None:
            raise MmlensError(
                "self_consistency needs a seed for its k samples: set inferencer.seed, or run it through "
                "mmlens run / mmlens.api.evaluate, which use the run's seed"
            )
        base = replace(self.settings(), temperature=self.temperature)
        return [replace(base, seed=sample_seed(self.seed, i)) for i in range(self.k)]

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        conversation = tuple(messages)
        return [Request("generate", conversation, settings) for settings in self.sample_settings()]

    def normalise(self, sample: Sample, text: str) -> str | None:
        if self.extractor is None:
            return text.strip() or None
        return extractors.get(self.extractor)(sample, text).answer

    def vote(self, sample: Sample, texts: list[str]) -> Prediction:
        answers = [self.normalise(sample, text) for text in texts]
        winner, votes = majority_vote(answers)
        details: dict[str, Any] = {"votes": votes, "winner": winner, "responses": texts, "answers": answers}
        if winner is None:  # nothing voted: no answer to score (never the first response as a guess)
            return Prediction(text=None, details=details)
        return Prediction(text=texts[answers.index(winner)], details=details)

    def combine(self, sample: Sample, requests: list[Request], responses: list[Response]) -> Prediction:
        errors = [r.error for r in responses if r.error]
        if errors:
            return Prediction(text=None, error=errors[0])
        texts = [r.text for r in responses]
        if any(text is None for text in texts):
            return Prediction(text=None, error="a sample returned no text")
        return self.vote(sample, [str(text) for text in texts])

    replay_fields: ClassVar[frozenset[str]] = frozenset({"responses"})

    def replay(self, sample: Sample, output: ReplayOutput) -> Prediction:
        if output.responses is None or len(output.responses) != self.k:
            given = "none" if output.responses is None else f"{len(output.responses)} texts"
            raise ReplayError(
                f'self_consistency samples k={self.k}: give "responses", {self.k} texts (got {given})'
            )
        return self.vote(sample, list(output.responses))
