"""Request keys: the assembled canonical text equals the canonical JSON, byte for byte (cache keys
of stores written before must stay the same)."""

from __future__ import annotations

import hashlib

import pytest
from PIL import Image

from mmlens.core.media import PILImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.requests import GenerationSettings, Request, canonical_json

IMAGE = ImagePart(PILImageRef(Image.new("RGB", (4, 4), (1, 2, 3))))
HISTORY = (
    Message.system("Be brief. Ünïcode ✓ and \"quotes\" and \\ backslashes"),
    Message("user", (IMAGE, TextPart("What is it?\nA. cat\nB. dog"))),
    Message.assistant("A"),
    Message.user("Are you sure?"),
)

REQUESTS = [
    Request("generate", HISTORY, GenerationSettings(16, 0.7, 0.9, ("\n",), 3)),
    Request("generate", HISTORY[1:2]),
    Request("loglikelihood", HISTORY[1:2], continuation="cat"),
    Request("loglikelihood", HISTORY[1:2], continuation="dög", continuation_ends_turn=True),
    Request("embed", HISTORY[3:]),
    Request("generate", HISTORY, role="judge"),
]


@pytest.mark.parametrize("request_", REQUESTS)
def test_the_assembled_canonical_text_is_the_canonical_json(request_: Request) -> None:
    assert request_.canonical_text() == canonical_json(request_.canonical())
    expected = hashlib.sha256(("fp\n" + canonical_json(request_.canonical())).encode()).hexdigest()
    assert request_.key("fp") == expected


def test_a_key_known_from_mmlens_0_1_is_unchanged() -> None:
    """The key format is the cache's contract: this request's key, as mmlens 0.1 computed it."""
    request = Request("generate", (Message.user("Is it red?"),), GenerationSettings(8))
    text = (
        'fp\n{"kind":"generate","messages":[{"content":[{"text":"Is it red?","type":"text"}],"role":"user"}],'
        '"settings":{"max_new_tokens":8,"seed":null,"stop":[],"temperature":0.0,"top_p":1.0}}'
    )
    assert request.key("fp") == hashlib.sha256(text.encode()).hexdigest()


def test_the_role_is_not_in_the_key_the_answering_fingerprint_is() -> None:
    same_messages = Request("generate", HISTORY, role="judge")
    assert same_messages.key("fp") == Request("generate", HISTORY).key("fp")
    assert same_messages.key("judge-fp") != same_messages.key("fp")
