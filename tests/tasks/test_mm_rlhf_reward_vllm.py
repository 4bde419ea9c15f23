"""Reward requests over HTTP: a real vLLM server (the CPU build in .venv-vllm, ``served:vllm:FOLDER``)
serving a tiny Llava reward model (``--convert classify``), whose rewards, images included, equal the
hf backend's (``kind=reward`` + the same linear head) from the same weights, request by request and
through MM-RLHF-RewardBench; the ``/classify`` body and reply (``openai_reward``); an endpoint
without rewards is told once, clearly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mmlens import api
from mmlens.core.messages import ImagePart, Message
from mmlens.core.requests import Request, Response
from mmlens.models.base import Model, ModelSpec, build_model
from mmlens.models.openai_payload import MalformedReply
from mmlens.models.openai_reward import reply_reward, rewards_missing, server_root
from mmlens.models.served import ServedModel
from tests.fixtures.images import random_image
from tests.fixtures.reward_vlm import build_vllm_llava_reward
from tests.fixtures.rewardbench_data import build_rewardbench
from tests.fixtures.scripted_server import ScriptedServer
from tests.fixtures.tiny_vllm_models import VLLM_ENV, require_vllm_venv

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def reward_folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_vllm_llava_reward(tmp_path_factory.mktemp("vllm-rm"))


@pytest.fixture(scope="module")
def vllm_reward_server(reward_folders: tuple[Path, Path]) -> Iterator[ServedModel]:
    """vLLM serving the tiny Llava as a classifier (``--convert classify``), images on."""
    require_vllm_venv()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in VLLM_ENV.items():
            patch.setenv(key, value)
        args: dict[str, Any] = {
            "dtype": "float32",
            "max_model_len": "512",
            "startup_timeout": "500",
            "image_format": "png",
            "server_args": ["--convert", "classify", "--limit-mm-per-prompt", '{"image": 1}'],
        }
        model = build_model(ModelSpec(backend="served", name=f"vllm:{reward_folders[0]}", args=args))
        assert isinstance(model, ServedModel)
        try:
            model.start()
            yield model
        finally:
            model.close()


def hf_reward_model(folder: Path) -> Model:
    return build_model(ModelSpec(backend="hf", name=str(folder), args={"kind": "reward", "dtype": "float32"}))


def answer(model: Model, requests: list[Request]) -> list[Response]:
    answers: dict[int, Response] = {}
    model.process(requests, lambda index, response: answers.__setitem__(index, response))
    return [answers[i] for i in range(len(requests))]


def test_vllm_multimodal_rewards_equal_the_hf_backend(
    reward_folders: tuple[Path, Path], vllm_reward_server: ServedModel
) -> None:
    """Images at the processor's size (32x32: no resize, whose interpolation vLLM's image processor
    does its own way), with and without a critique, and text alone."""
    images = [random_image(i, 32, 32) for i in range(2)]
    question = "Is there a cat in the image? Please answer yes or no."
    requests = [
        Request("reward", (Message.user(ImagePart(images[0]), question), Message.assistant("Yes."))),
        Request("reward", (Message.user(ImagePart(images[1]), question), Message.assistant("Yes."))),
        Request("reward", (Message.user(ImagePart(images[0]), question),)),
        Request("reward", (Message.user(question), Message.assistant("Yes."))),
    ]
    served = answer(vllm_reward_server, requests)
    hf = answer(hf_reward_model(reward_folders[1]), requests)
    for got, expected in zip(served, hf, strict=True):
        assert got.error is None and got.reward is not None and expected.reward is not None
        assert got.reward == pytest.approx(expected.reward, abs=2e-4)
        assert got.usage and expected.usage and got.usage["prompt_tokens"] == expected.usage["prompt_tokens"]
    assert abs(served[0].reward - served[1].reward) > 1e-2  # type: ignore[operator] # the image is read


@pytest.mark.parametrize("profile", ["no_critic", "reference_critic"])
def test_mm_rlhf_rewardbench_through_vllm_equals_the_hf_backend(
    tmp_path: Path, reward_folders: tuple[Path, Path], vllm_reward_server: ServedModel, profile: str
) -> None:
    """The image lines (one image each; the fixture's pictures are one colour, so resizing them
    gives the same pixels everywhere)."""
    data = build_rewardbench(tmp_path / "rb")
    common: dict[str, Any] = {"data": data, "profile": profile, "limit": 4, "output_dir": None}
    served = api.evaluate("mm_rlhf_rewardbench", vllm_reward_server, store=tmp_path / "a.sqlite", **common)
    hf = api.evaluate(
        "mm_rlhf_rewardbench",
        f"hf:{reward_folders[1]}",
        model_args="kind=reward,dtype=float32,device=cpu",
        store=tmp_path / "b.sqlite",
        **common,
    )
    assert served.results["counts"]["errors"] == 0 and served.results["counts"]["scored"] == 4
    for got, expected in zip(served.records, hf.records, strict=True):
        assert got.details["rewards"] == pytest.approx(expected.details["rewards"], abs=2e-4), got.id
    assert served.results["metrics"]["acc"]["value"] == hf.results["metrics"]["acc"]["value"]


def test_an_endpoint_without_rewards_is_told_once_and_the_body_is_vllms() -> None:
    image = random_image(0, 16, 16)
    requests = [
        Request("reward", (Message.user(ImagePart(image), "Is there a cat?"), Message.assistant("Yes."))),
        Request("reward", (Message.user("Is there a cat?"),)),
    ]
    with ScriptedServer(chat=lambda body: "no") as server:
        model = build_model(ModelSpec(backend="openai", name="rm", args={"base_url": server.base_url}))
        answers: dict[int, Response] = {}
        model.process(requests, lambda index, response: answers.__setitem__(index, response))
        bodies = server.bodies("/classify")
    root = server.base_url.removesuffix("/v1")
    for response in answers.values():
        assert response.reward is None
        assert "rewards are not supported by this endpoint" in (response.error or "")
        assert f"POST {root}/classify" in (response.error or "")
    assert len(bodies) == 1  # the probe; the other request got the same error without being sent
    body: dict[str, Any] = bodies[0]
    assert body["use_activation"] is False and body["model"] == "rm"
    if body["add_generation_prompt"]:  # whichever went first
        assert body["messages"] == [{"role": "user", "content": "Is there a cat?"}]
    else:
        user, assistant = body["messages"]
        assert [p["type"] for p in user["content"]] == ["image_url", "text"]
        assert user["content"][0]["image_url"]["url"].startswith("data:image/")
        assert assistant == {"role": "assistant", "content": "Yes."}


def test_the_classify_reply_and_the_server_root() -> None:
    assert server_root("http://h:8000/v1") == "http://h:8000"
    assert server_root("http://h:8000/v1/?api_key=k") == "http://h:8000?api_key=k"
    assert server_root("https://proxy/vllm") == "https://proxy/vllm"
    reply = {"data": [{"index": 0, "label": "LABEL_0", "probs": [-0.5], "num_classes": 1}], "usage": {}}
    assert reply_reward(reply) == -0.5
    with pytest.raises(MalformedReply, match="the model has 2 labels; a reward model has one"):
        reply_reward({"data": [{"index": 0, "probs": [0.1, 0.9], "num_classes": 2}]})
    with pytest.raises(MalformedReply, match="the reply is an error: no model"):
        reply_reward({"error": {"message": "no model"}})
    with pytest.raises(MalformedReply, match="not a number"):
        reply_reward({"data": [{"probs": ["x"]}]})
    assert rewards_missing(501, "The model does not support Classification API")
    assert rewards_missing(400, "The model does not support Classification API")
    assert not rewards_missing(400, "this model does not support images")
    assert not rewards_missing(500, "boom")
