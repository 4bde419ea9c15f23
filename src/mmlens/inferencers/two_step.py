"""Reason first, then answer: two rounds (zero-shot chain of thought with answer extraction).

Round 1 sends the Instruction's messages with ``reasoning_prompt`` added to the end of the last
user message's text (after a newline; an empty ``reasoning_prompt`` adds nothing), under the
generation settings of ``generate`` (max_new_tokens, temperature, top_p, stop, seed).

Round 2 sends the same conversation, then the reasoning as the assistant's message and
``answer_prompt`` as a new user message, with at most ``answer_max_new_tokens`` new tokens (the
other settings as in round 1).

The prediction's text is the final answer, which the task's metric extracts from as usual;
``details["reasoning"]`` keeps the reasoning. ``mmlens score`` replays a line's
``responses``: ``[reasoning, answer]``.

    inferencer: {type: two_step, max_new_tokens: 256, answer_max_new_tokens: 8}
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from pydantic import Field

from mmlens.core.messages import Message, TextPart
from mmlens.core.parts import Prediction, ReplayError, ReplayOutput, Rounds, inferencers
from mmlens.core.requests import GenerationSettings, Request
from mmlens.core.sample import Sample
from mmlens.inferencers.basic import Generate

DEFAULT_REASONING_PROMPT = "Let's think step by step."
DEFAULT_ANSWER_PROMPT = "Therefore, the final answer (only the option's letter or the short answer) is:"


def add_to_last_user_message(messages: list[Message], text: str) -> list[Message]:
    """``text`` appended to the last user message's last text part (after a newline), or as a text
    part of its own when that message has none (only media); a new user message when there is none."""
    if not text:
        return list(messages)
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.role != "user":
            continue
        parts = list(message.content)
        last_text = max((i for i, part in enumerate(parts) if isinstance(part, TextPart)), default=None)
        if last_text is None:
            parts.append(TextPart(text))
        else:
            current = parts[last_text]
            assert isinstance(current, TextPart)
            parts[last_text] = TextPart(f"{current.text}\n{text}" if current.text else text)
        return [*messages[:index], Message("user", tuple(parts)), *messages[index + 1 :]]
    return [*messages, Message.user(text)]


@inferencers.register("two_step")
class TwoStep(Generate):
    """Round 1: the question with ``reasoning_prompt``; round 2: the reasoning as the assistant's
    message, then ``answer_prompt``; the prediction is round 2's answer."""

    max_new_tokens: int = 256
    reasoning_prompt: str = DEFAULT_REASONING_PROMPT
    answer_prompt: str = DEFAULT_ANSWER_PROMPT
    answer_max_new_tokens: int = Field(16, ge=1)

    def answer_settings(self) -> GenerationSettings:
        return replace(self.settings(), max_new_tokens=self.answer_max_new_tokens)

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        """The reasoning request (round 1)."""
        asked = add_to_last_user_message(messages, self.reasoning_prompt)
        return [Request("generate", tuple(asked), self.settings())]

    def rounds(self, sample: Sample, messages: list[Message]) -> Rounds[Prediction]:
        (reasoning_request,) = self.plan(sample, messages)
        (reasoning,) = yield [reasoning_request]
        if reasoning.error is not None or reasoning.text is None:
            return Prediction(text=None, error=reasoning.error or "reasoning: the model returned no text")
        conversation = (
            *reasoning_request.messages,
            Message.assistant(reasoning.text),
            Message.user(self.answer_prompt),
        )
        (answer,) = yield [Request("generate", conversation, self.answer_settings())]
        details = {"reasoning": reasoning.text}
        if answer.error is not None or answer.text is None:
            error = answer.error or "answer: the model returned no text"
            return Prediction(text=None, error=error, details=details)
        return Prediction(text=answer.text, details=details)

    replay_fields: ClassVar[frozenset[str]] = frozenset({"responses"})

    def replay(self, sample: Sample, output: ReplayOutput) -> Prediction:
        if output.responses is None or len(output.responses) != 2:
            given = "none" if output.responses is None else f"{len(output.responses)} texts"
            raise ReplayError(f'two_step has two rounds: give "responses": [reasoning, answer] (got {given})')
        reasoning, answer = output.responses
        return Prediction(text=answer, details={"reasoning": reasoning})
