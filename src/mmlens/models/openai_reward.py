"""``reward`` requests over HTTP: vLLM's classification endpoint for reward models.

vLLM serves a sequence-classification model (``...ForSequenceClassification``, one label, a
reward model; ``--runner pooling``, which vLLM picks by itself for such an architecture, or
``--convert classify``) at ``POST /classify`` on the server's root (not under ``/v1``;
``vllm/entrypoints/pooling/classify/api_router.py``). Its chat form
(``ClassificationChatRequest``: ``messages`` with ``image_url`` parts, the model's chat template
applied by the server) is what is sent::

    {"model": M, "messages": [...], "add_generation_prompt": <last turn not the assistant's>,
     "use_activation": false}

``use_activation: false`` keeps the head's raw logit (vLLM's default for one label is a sigmoid),
so the reward is the one the hf backend reads from the same weights; ``add_generation_prompt`` is
given explicitly, as the hf backend decides it. The reply (``ClassificationResponse``) is
``{"data": [{"index": 0, "label": ..., "probs": [reward], "num_classes": 1}], "usage": {...}}``.
"""

from __future__ import annotations

from typing import Any

from mmlens.core.messages import Message
from mmlens.models.openai_payload import ImageEncoder, MalformedReply, chat_messages, merge_extra_body

REWARD_PATH = "/classify"
API_VERSION_SEGMENT = "/v1"


def server_root(base_url: str) -> str:
    """The server's root for routes that vLLM mounts there: ``base_url`` without a final ``/v1``
    (its query, ``?api_key=...``, kept)."""
    before, mark, query = base_url.partition("?")
    before = before.rstrip("/")
    if before.endswith(API_VERSION_SEGMENT):
        before = before[: -len(API_VERSION_SEGMENT)]
    return before + mark + query


def reward_body(
    model_name: str, messages: tuple[Message, ...], encoder: ImageEncoder, extra_body: dict[str, Any]
) -> dict[str, Any]:
    """The ``/classify`` body of one reward request (chat form, raw logit)."""
    body: dict[str, Any] = {
        "model": model_name,
        "messages": chat_messages(messages, encoder),
        "add_generation_prompt": not messages or messages[-1].role != "assistant",
        "use_activation": False,
    }
    return merge_extra_body(body, extra_body)


def reply_reward(data: Any) -> float:
    """``data[0].probs[0]`` of a ``/classify`` reply of one label; MalformedReply otherwise."""
    if not isinstance(data, dict):
        raise MalformedReply("the reply is not a JSON object")
    items = data.get("data")
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            raise MalformedReply(f"the reply is an error: {str(error['message'])[:200]}")
        raise MalformedReply("the reply has no single data[0] classification")
    scores = items[0].get("probs")
    if not isinstance(scores, list) or not scores:
        raise MalformedReply("the reply's data[0].probs is not a list of numbers")
    if len(scores) != 1:
        raise MalformedReply(
            f"the model has {len(scores)} labels; a reward model has one (data[0].probs holds one number)"
        )
    value = scores[0]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedReply("the reply's data[0].probs[0] is not a number")
    return float(value)


def rewards_missing(status: int | None, message: str) -> bool:
    """Whether a failed ``/classify`` says the endpoint has no classification (reward) model: no
    route (404, 405), vLLM's "does not support Classification API" (501, or 400 in some versions)."""
    if status in (404, 405, 501):
        return True
    lowered = message.lower()
    return status == 400 and "not support" in lowered and "classif" in lowered
