"""A dialogue with the model's own history: each turn's answer goes back as the assistant's message.

Turns, in order:

1. the sample's own messages, as the Instruction built them (a system message if any, then the
   first user message with the sample's images or video: media stay in this first message);
2. ``sample.metadata["turns"]``: a list of user turn texts (the follow-up questions the sample
   carries; the jsonl scenario puts a line's ``"turns": [...]`` there);
3. the inferencer's own ``follow_ups`` (asked of every sample after its own turns, e.g.
   ``["Are you sure? Answer again."]``).

Round k sends ``[system], user 1, assistant (answer 1), ..., assistant (answer k-1), user k``, with
answers the model itself gave in the rounds before, under the same generation settings each round
(those of ``generate``: max_new_tokens, temperature, top_p, stop, seed). A sample with no further
turns is a one-turn dialogue (the same request ``generate`` sends, so the two share the cache).

The prediction's text is the last answer; ``details["turns"]`` holds every answer in order. A round
whose request fails ends the sample as an error (the runner's rule); a killed run resumes from the
first round not yet in the store. ``mmlens score`` replays a line's ``responses`` (one text per turn,
in order) or, for a one-turn dialogue, its ``response``.

With ``turns_in_messages: true`` the turns are the sample's own user messages instead (each with
its own media, e.g. MMDU's images per turn): round 1 sends the messages up to the first user
message, round k adds the k-th user message; the instruction must pass the messages through (the
default template).

A task file::

    scenario: {type: jsonl, path: dialogues.jsonl}   # {"id": ..., "question": ..., "turns": [...]}
    inferencer: {type: multi_turn, max_new_tokens: 32, follow_ups: ["Are you sure?"]}
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import field_validator

from mmlens.core.errors import SampleError
from mmlens.core.messages import Message
from mmlens.core.parts import Prediction, ReplayError, ReplayOutput, Rounds, inferencers
from mmlens.core.requests import Request
from mmlens.core.sample import Sample
from mmlens.inferencers.basic import Generate

TURNS_KEY = "turns"


def sample_turns(sample: Sample, key: str = TURNS_KEY) -> list[str]:
    """The follow-up user turns a sample carries (``metadata[key]``); a bad value is a bad sample."""
    value: Any = sample.metadata.get(key)
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(turn, str) for turn in value):
        raise SampleError(sample.id, f'metadata "{key}" must be a list of user turn texts, got {value!r}')
    empty = [index for index, turn in enumerate(value, start=2) if not turn.strip()]
    if empty:
        raise SampleError(sample.id, f'metadata "{key}": turn {empty[0]} is empty')
    return list(value)


@inferencers.register("multi_turn")
class MultiTurn(Generate):
    """A dialogue: the sample's messages, then its ``turns`` and the ``follow_ups``, each answered in
    a round of its own with the model's previous answers as the assistant's messages."""

    follow_ups: tuple[str, ...] = ()
    turns_key: str = TURNS_KEY
    turns_in_messages: bool = False  # the sample's user messages after the first are its turns

    @field_validator("follow_ups")
    @classmethod
    def _no_empty_turn(cls, turns: tuple[str, ...]) -> tuple[str, ...]:
        if any(not turn.strip() for turn in turns):
            raise ValueError("a follow-up turn is empty")
        return turns

    def user_turns(self, sample: Sample) -> list[str]:
        """The user turns after the first one, in order."""
        if self.turns_in_messages:
            later = [m.text for m in sample.messages if m.role == "user"][1:]
            return [*later, *self.follow_ups]
        return [*sample_turns(sample, self.turns_key), *self.follow_ups]

    def _first_and_later(
        self, sample: Sample, messages: list[Message]
    ) -> tuple[list[Message], list[Message]]:
        if not self.turns_in_messages:
            return messages, [Message.user(text) for text in self.user_turns(sample)]
        users = [index for index, message in enumerate(messages) if message.role == "user"]
        if not users or any(m.role == "assistant" for m in messages):
            raise SampleError(
                sample.id, "turns_in_messages: the messages must be user turns (no assistant message)"
            )
        first = users[0]
        follow_ups = [Message.user(text) for text in self.follow_ups]
        return messages[: first + 1], [*messages[first + 1 :], *follow_ups]

    def rounds(self, sample: Sample, messages: list[Message]) -> Rounds[Prediction]:
        first, later_turns = self._first_and_later(sample, messages)  # checked before the first round
        settings = self.settings()
        history = tuple(first)
        answers: list[str] = []
        for turn, message in enumerate([None, *later_turns], start=1):
            if message is not None:
                history = (*history, Message.assistant(answers[-1]), message)
            (response,) = yield [Request("generate", history, settings)]
            if response.error is not None or response.text is None:
                error = response.error or f"turn {turn}: the model returned no text"
                return Prediction(text=None, error=error, details=_turns(answers))
            answers.append(response.text)
        return Prediction(text=answers[-1], details=_turns(answers))

    replay_fields: ClassVar[frozenset[str]] = frozenset({"response", "responses"})

    def replay(self, sample: Sample, output: ReplayOutput) -> Prediction:
        expected = 1 + len(self.user_turns(sample))
        if output.responses is None:
            if output.option_logprobs is not None and output.response is None:
                raise ReplayError('this task generates text: give "responses", not "option_logprobs"')
            if expected != 1:
                raise ReplayError(f'a dialogue of {expected} turns: give "responses", one text per turn')
            answers = [] if output.response is None else [output.response]
            return Prediction(text=output.response, details=_turns(answers))
        if len(output.responses) != expected:
            raise ReplayError(
                f'"responses" has {len(output.responses)} texts; the dialogue has {expected} turns '
                "(one text each)"
            )
        return Prediction(text=output.responses[-1], details=_turns(output.responses))


def _turns(answers: list[str]) -> dict[str, Any]:
    return {"turns": list(answers)}
