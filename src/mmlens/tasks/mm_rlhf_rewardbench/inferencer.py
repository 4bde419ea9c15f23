"""``reward_pair``: the chosen and the rejected answer of a pair, each scored by a reward model
through ``reward`` requests, as ``llava/eval/eval_mm_reward_bench.py`` does.

Each answer goes into the critic prompt (``critic_prompt.txt``, ``make_conv_rm``): with media,
``<image>`` tags are removed from the text, it is stripped, and the media come first (the
official ``<image>\\n`` prefix). The reward request is that user turn plus, by ``critic``:

- ``generated`` (official default): a critique the model under test generates first for the
  same user turn (temperature 0, ``max_new_tokens`` 4096, stripped), as the assistant's turn;
- ``reference`` (``--use_gt_critic``): the line's ``chosen_reason`` / ``rejected_reason``;
- ``none`` (``--wo_critic``): no assistant turn (the prompt ends with the generation prompt).

A system turn from the instruction (``--system-prompt``) goes first in every request.

``--num_critic`` > 1 (the mean reward over several critiques) is not offered: one critique.
Predictions made elsewhere (``mmlens score``): ``{"id": "<id>/<k>", "rewards": [chosen,
rejected]}``; or ``"response"``: ``"chosen"``, ``"rejected"`` or ``"tie"``, a preference decided
elsewhere (a generative judge), read as rewards (1, 0), (0, 1) and (0, 0).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import ClassVar, Literal

from mmlens.core.messages import ContentPart, ImagePart, Message, TextPart
from mmlens.core.parts import Inferencer, Prediction, ReplayError, ReplayOutput, Rounds, inferencers
from mmlens.core.requests import GenerationSettings, Request, Response
from mmlens.core.sample import Sample

CRITIC_PROMPT_FILE = Path(__file__).resolve().parent / "critic_prompt.txt"
IMAGE_TOKEN = "<image>"
ANSWERS = ("chosen", "rejected")
REASONS = {"chosen": "chosen_reason", "rejected": "rejected_reason"}
VERDICT_REWARDS = {"chosen": (1.0, 0.0), "rejected": (0.0, 1.0), "tie": (0.0, 0.0)}


@cache
def critic_template() -> str:
    return CRITIC_PROMPT_FILE.read_text(encoding="utf-8")


def critic_text(question: str, answer: str, has_media: bool) -> str:
    """``make_conv_rm`` without the image token (the media parts stand for it)."""
    text = critic_template().format(question=question, answer=answer)
    return text.replace(IMAGE_TOKEN, "").strip() if has_media else text


def media_details(sample: Sample) -> dict[str, object]:
    """The media paths the metric's category quirks read (kept on every record, errors too)."""
    return {"image": sample.metadata.get("image"), "video": sample.metadata.get("video")}


def with_critique(turn: tuple[Message, ...], critique: str) -> tuple[Message, ...]:
    """The conversation with the critique as the assistant's turn. An empty critique is no turn: the
    official ``conv.append_message(roles[1], critic)`` renders a falsy message as the bare generation
    prompt (``conversation.py:88-94``: ``if message: ... else: ret += role + "\\n"``)."""
    return (*turn, Message.assistant(critique)) if critique else turn


@inferencers.register("reward_pair")
class RewardPair(Inferencer):
    """Fields: critic (generated, reference, none), critic_max_new_tokens (4096)."""

    critic: Literal["generated", "reference", "none"] = "generated"
    critic_max_new_tokens: int = 4096

    replay_fields: ClassVar[frozenset[str]] = frozenset({"rewards", "response"})

    def user_turn(self, sample: Sample, answer: str) -> Message:
        media: list[ContentPart] = [p for m in sample.messages for p in m.content if isinstance(p, ImagePart)]
        text = critic_text(sample.metadata["prompt"], answer, bool(sample.metadata.get("has_media")))
        return Message("user", (*media, TextPart(text)))

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        # --system-prompt: the instruction's system turn goes first (the official qwen_1_5 conversation
        # has "You are a helpful assistant."; a chat template without a default system turn needs it)
        system = tuple(message for message in messages if message.role == "system")
        turns = [(*system, self.user_turn(sample, sample.metadata[name])) for name in ANSWERS]
        if self.critic == "generated":
            settings = GenerationSettings(max_new_tokens=self.critic_max_new_tokens, temperature=0.0)
            return [Request("generate", turn, settings) for turn in turns]
        if self.critic == "reference":
            return [
                Request("reward", with_critique(turn, str(sample.metadata.get(REASONS[name]) or "")))
                for turn, name in zip(turns, ANSWERS, strict=True)
            ]
        return [Request("reward", turn) for turn in turns]

    def rounds(self, sample: Sample, messages: list[Message]) -> Rounds[Prediction]:
        requests = self.plan(sample, messages)
        responses = yield requests
        critiques: list[str] = []
        if self.critic == "generated":
            failed = next(
                (r.error or "no critique text" for r in responses if r.error or r.text is None), None
            )
            if failed is not None:
                return Prediction(text=None, error=failed, details=media_details(sample))
            critiques = [(r.text or "").strip() for r in responses]
            requests = [
                Request("reward", with_critique(request.messages, critique))
                for request, critique in zip(requests, critiques, strict=True)
            ]
            responses = yield requests
        return self.combine_rewards(sample, responses, critiques)

    @staticmethod
    def combine_rewards(sample: Sample, responses: list[Response], critiques: list[str]) -> Prediction:
        errors = [r.error or "no reward in the response" for r in responses if r.error or r.reward is None]
        if errors:
            return Prediction(text=None, error=errors[0], details=media_details(sample))
        rewards = [float(r.reward) for r in responses if r.reward is not None]
        details: dict[str, object] = {**media_details(sample), "rewards": rewards}
        if critiques:
            details["critic"] = critiques
        return Prediction(text=" ".join(repr(r) for r in rewards), details=details)

    def replay(self, sample: Sample, output: ReplayOutput) -> Prediction:
        if "rewards" in output.fields:
            if output.rewards is None or len(output.rewards) != 2:
                raise ReplayError('"rewards" must be [chosen reward, rejected reward] (two numbers)')
            details = {**media_details(sample), "rewards": list(output.rewards)}
            return Prediction(text=" ".join(repr(r) for r in output.rewards), details=details)
        if "response" in output.fields:
            verdict = (output.response or "").strip().lower()
            if verdict not in VERDICT_REWARDS:
                raise ReplayError('"response" must be "chosen", "rejected" or "tie" (or give "rewards")')
            rewards = list(VERDICT_REWARDS[verdict])
            return Prediction(
                text=verdict, details={**media_details(sample), "rewards": rewards, "verdict": verdict}
            )
        raise ReplayError('this task scores reward pairs: give "rewards": [chosen, rejected]')
