"""Multimodal reward models in the hf backend: a tiny real VLM plus a scalar head
(``reward_head.safetensors``, ``kind=reward``), checked against the reward computed directly with
transformers and the official MM-RLHF ``RewardHead`` from the same weights."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from mmlens.core.errors import ConfigError
from mmlens.core.media import AbsentVideo
from mmlens.core.messages import ImagePart, Message, VideoPart
from mmlens.core.requests import GenerationSettings, Request, Response
from mmlens.models.base import ModelSpec, build_model
from mmlens.models.hf import HFModel
from mmlens.models.hf_media import VIDEO_NOT_SUPPORTED
from mmlens.models.hf_reward_head import REWARD_HEAD_FILE, extract_official_head, main
from tests.fixtures.images import random_image
from tests.fixtures.reward_vlm import build_reward_vlm, official_reward_head

pytest.importorskip("transformers")

QUESTION = "Is there a cat in the image? Please answer yes or no."
CRITIQUE = "The answer is A. one two three"
IMAGES = [random_image(i, 24 + 9 * i, 40 - 5 * i) for i in range(2)]


@pytest.fixture(scope="module")
def vlm_rewards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("reward-vlm")
    return {arch: build_reward_vlm(arch, root / arch) for arch in ("qwen2_vl", "llava")}


def hf_model(folder: Path, **args: Any) -> HFModel:
    spec = ModelSpec(backend="hf", name=str(folder), args={"dtype": "float32", "kind": "reward", **args})
    model = build_model(spec)
    assert isinstance(model, HFModel)
    return model


def run(model: HFModel, requests: Sequence[Request]) -> list[Response]:
    answers: dict[int, Response] = {}
    model.process(list(requests), lambda index, response: answers.__setitem__(index, response))
    return [answers[i] for i in range(len(requests))]


def reward_request(image_index: int | None, critique: str | None) -> Request:
    user = (
        Message.user(ImagePart(IMAGES[image_index]), QUESTION)
        if image_index is not None
        else Message.user(QUESTION)
    )
    return Request("reward", (user,) if critique is None else (user, Message.assistant(critique)))


def direct_reward(folder: Path, image_index: int, critique: str | None) -> float:
    """The official formula with plain transformers: rm_head(hidden_states[-1]) at the last position
    of the unpadded conversation (llava_qwen.py:120-131)."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForImageTextToText

    from mmlens.models.hf_hooks import load_processor  # Qwen2-VL's processor without torchvision

    model = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32).eval()
    processor = load_processor(str(folder))
    head = official_reward_head(model.config.get_text_config().hidden_size).eval()
    weights = load_file(str(folder / REWARD_HEAD_FILE))
    head.load_state_dict({key.removeprefix("rm_head."): value for key, value in weights.items()})
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}
    ]
    if critique is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": critique}]})
    prompt = processor.apply_chat_template(messages, add_generation_prompt=critique is None, tokenize=False)
    inputs = processor(text=[prompt], images=[[IMAGES[image_index].pil()]], return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**inputs, output_hidden_states=True, return_dict=True).hidden_states[-1]
        return float(head(hidden)[0, -1, 0])


@pytest.mark.parametrize("arch", ["qwen2_vl", "llava"])
def test_the_reward_is_the_official_head_on_the_vlm(vlm_rewards: dict[str, Path], arch: str) -> None:
    folder = vlm_rewards[arch]
    model = hf_model(folder)
    requests = [reward_request(0, CRITIQUE), reward_request(0, None), reward_request(1, CRITIQUE)]
    with_critique, without, other_image = run(model, requests)
    for response in (with_critique, without, other_image):
        assert response.error is None and response.reward is not None
    assert with_critique.reward == pytest.approx(direct_reward(folder, 0, CRITIQUE), abs=1e-5)
    assert without.reward == pytest.approx(direct_reward(folder, 0, None), abs=1e-5)
    assert other_image.reward == pytest.approx(direct_reward(folder, 1, CRITIQUE), abs=1e-5)
    # the image is read: another image, or none, gives another reward
    assert abs(other_image.reward - with_critique.reward) > 1e-3  # type: ignore[operator]
    (blind,) = run(hf_model(folder, drop_images=True), [reward_request(0, CRITIQUE)])
    assert blind.reward is not None and abs(blind.reward - with_critique.reward) > 1e-3  # type: ignore[operator]
    (text_only,) = run(model, [reward_request(None, CRITIQUE)])
    assert text_only.reward == pytest.approx(blind.reward, abs=1e-5)


def test_a_linear_score_head_and_unprefixed_names(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    linear = build_reward_vlm("qwen2_vl", tmp_path / "linear", head="score")
    (reward,) = run(hf_model(linear), [reward_request(0, CRITIQUE)])
    score = load_file(str(linear / REWARD_HEAD_FILE))["score.weight"]
    official = build_reward_vlm("qwen2_vl", tmp_path / "bare", official_names=False)
    (bare,) = run(hf_model(official), [reward_request(0, CRITIQUE)])
    assert bare.reward == pytest.approx(direct_reward(official, 0, CRITIQUE), abs=1e-5)
    # the linear head: score · h_last (no bias)
    from transformers import AutoModelForImageTextToText

    from mmlens.models.hf_hooks import load_processor

    model = AutoModelForImageTextToText.from_pretrained(linear, dtype=torch.float32).eval()
    processor = load_processor(str(linear))
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]},
        {"role": "assistant", "content": [{"type": "text", "text": CRITIQUE}]},
    ]
    prompt = processor.apply_chat_template(messages, tokenize=False)
    inputs = processor(text=[prompt], images=[[IMAGES[0].pil()]], return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**inputs, output_hidden_states=True).hidden_states[-1][0, -1]
    assert reward.reward == pytest.approx(float(score[0] @ hidden), abs=1e-5)


def test_clear_errors(tmp_path: Path, vlm_rewards: dict[str, Path]) -> None:
    import shutil

    from safetensors.torch import save_file

    folder = vlm_rewards["qwen2_vl"]
    (generated,) = run(
        hf_model(folder), [Request("generate", (Message.user(QUESTION),), GenerationSettings())]
    )
    assert "answers reward requests only" in (generated.error or "")
    # a multimodal reward model reads media: a video it cannot take gets the media's own error
    missing = AbsentVideo("clip.mp4", "the videos/ folder is not in this copy")
    (unread,) = run(hf_model(folder), [Request("reward", (Message.user(VideoPart(missing), QUESTION),))])
    assert unread.error == VIDEO_NOT_SUPPORTED  # not "reads text only ... drop_images=true"
    headless = tmp_path / "headless"
    shutil.copytree(folder, headless)
    (headless / REWARD_HEAD_FILE).unlink()
    with pytest.raises(ConfigError, match=r"needs its reward head in .*headless/reward_head\.safetensors"):
        hf_model(headless).load()
    import torch

    small = {"dense.weight": (4, 4), "dense.bias": (4,), "out_proj.weight": (1, 4), "out_proj.bias": (1,)}
    save_file({key: torch.zeros(shape) for key, shape in small.items()}, str(headless / REWARD_HEAD_FILE))
    with pytest.raises(ConfigError, match=r"dense.weight has shape \[4, 4\], expected \[32, 32\]"):
        hf_model(headless).load()
    save_file({"v_head.weight": torch.zeros(1, 32)}, str(headless / REWARD_HEAD_FILE))
    with pytest.raises(ConfigError, match=r"tensors \['v_head.weight'\] match no head kind"):
        hf_model(headless).load()


def test_extract_the_official_head(tmp_path: Path, vlm_rewards: dict[str, Path]) -> None:
    """An official checkpoint's shards (rm_head.* among the model's tensors, with an index) -> the head."""
    import torch
    from safetensors.torch import load_file, save_file

    head = load_file(str(vlm_rewards["qwen2_vl"] / REWARD_HEAD_FILE))
    official = tmp_path / "official"
    official.mkdir()
    save_file(
        {"model.embed_tokens.weight": torch.zeros(3, 32)}, str(official / "model-00001-of-00002.safetensors")
    )
    save_file(
        {"lm_head.weight": torch.zeros(3, 32), **head}, str(official / "model-00002-of-00002.safetensors")
    )
    weight_map = {"model.embed_tokens.weight": "model-00001-of-00002.safetensors"}
    weight_map |= {key: "model-00002-of-00002.safetensors" for key in ["lm_head.weight", *head]}
    (official / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    assert main([str(official), str(tmp_path / "converted")]) == 0
    extracted = load_file(str(tmp_path / "converted" / REWARD_HEAD_FILE))
    assert sorted(extracted) == ["dense.bias", "dense.weight", "out_proj.bias", "out_proj.weight"]
    assert all(torch.equal(extracted[k.removeprefix("rm_head.")], v) for k, v in head.items())
    (official / "model-00002-of-00002.safetensors").unlink()
    save_file({"lm_head.weight": torch.zeros(3, 32)}, str(official / "model-00002-of-00002.safetensors"))
    (official / "model.safetensors.index.json").unlink()
    with pytest.raises(ConfigError, match="no rm_head.. tensors"):
        extract_official_head(official, tmp_path / "again")


def test_extracting_from_a_broken_checkpoint_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    official = tmp_path / "official"
    official.mkdir()
    (official / "model-00001-of-00001.safetensors").write_bytes(b"not safetensors at all")
    assert main([str(official), str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "model-00001-of-00001.safetensors: cannot be read" in error
    assert "\n" not in error and "Traceback" not in error
    (official / "model.safetensors.index.json").write_text("{not json")
    assert main([str(official), str(tmp_path / "out")]) == 1
    assert "model.safetensors.index.json: not a safetensors index" in capsys.readouterr().err


def build_gemma3_classifier(out_dir: Path) -> Path:
    """A tiny Gemma3ForSequenceClassification (one label) with Gemma 3's processor."""
    import torch
    from transformers import AutoConfig, Gemma3ForSequenceClassification

    from tests.fixtures.tiny_models import _sharpen, build_tiny_model

    build_tiny_model("gemma3", out_dir)
    config = AutoConfig.from_pretrained(out_dir)
    config.num_labels = 1
    torch.manual_seed(2)
    model = Gemma3ForSequenceClassification(config)
    _sharpen(model)  # as the tiny builders do: Gemma 3's zero-initialised image projection gets values
    for weights in out_dir.glob("model*.safetensors"):
        weights.unlink()
    model.save_pretrained(out_dir)
    return out_dir


def test_an_image_text_sequence_classifier_reads_the_images(tmp_path: Path) -> None:
    """Gemma3ForSequenceClassification (``architectures``, no kind needed): the processor's inputs,
    images included, and the classifier's logit, as transformers computes it."""
    import torch
    from transformers import AutoProcessor, Gemma3ForSequenceClassification

    folder = build_gemma3_classifier(tmp_path / "gemma3-rm")
    model = build_model(ModelSpec(backend="hf", name=str(folder), args={"dtype": "float32"}))
    assert isinstance(model, HFModel)
    first, other, blind = run(
        model, [reward_request(0, CRITIQUE), reward_request(1, CRITIQUE), reward_request(None, CRITIQUE)]
    )
    direct_model = Gemma3ForSequenceClassification.from_pretrained(folder, dtype=torch.float32).eval()
    processor = AutoProcessor.from_pretrained(folder)
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]},
        {"role": "assistant", "content": [{"type": "text", "text": CRITIQUE}]},
    ]
    prompt = processor.apply_chat_template(messages, tokenize=False)
    inputs = processor(
        text=[prompt], images=[[IMAGES[0].pil()]], return_tensors="pt", add_special_tokens=False
    )
    with torch.inference_mode():
        expected = float(direct_model(**inputs).logits[0, 0])
    assert first.error is None and first.reward == pytest.approx(expected, abs=1e-5)
    assert other.reward is not None and blind.reward is not None
    assert abs(other.reward - first.reward) > 1e-4 and abs(blind.reward - first.reward) > 1e-4


ONE_LABEL = {"id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}}


def test_a_text_causal_lm_with_a_head_and_no_random_heads(tmp_path: Path) -> None:
    """kind=reward on a causal LM takes its head from reward_head.safetensors too; a checkpoint that
    claims a classifier but lacks its head is refused (never a random head)."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.fixtures.tiny_models import build_tiny_model

    folder = build_tiny_model("qwen2", tmp_path / "lm")
    with pytest.raises(ConfigError, match=r"needs its reward head in .*lm/reward_head\.safetensors"):
        hf_model(folder).load()
    score = torch.randn(1, 32, generator=torch.Generator().manual_seed(3))
    save_file({"score.weight": score}, str(folder / REWARD_HEAD_FILE))
    (reward,) = run(hf_model(folder), [reward_request(None, CRITIQUE)])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    messages = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": CRITIQUE}]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    with torch.inference_mode():
        hidden = model(**tokenizer(text, return_tensors="pt"), output_hidden_states=True).hidden_states[-1]
    assert reward.error is None and reward.reward == pytest.approx(float(score[0] @ hidden[0, -1]), abs=1e-5)

    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(
        json.dumps({**config, "architectures": ["Qwen2ForSequenceClassification"], **ONE_LABEL})
    )
    with pytest.raises(
        ConfigError, match=r"its weights lack score.weight; a reward model's head would be random"
    ):
        hf_model(folder, kind="auto").load()


def test_the_head_is_part_of_the_weights_identity(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    folder = build_reward_vlm("llava", tmp_path / "llava")
    before = hf_model(folder).fingerprint()
    weights = load_file(str(folder / REWARD_HEAD_FILE))
    save_file({key: value * 2 for key, value in weights.items()}, str(folder / REWARD_HEAD_FILE))
    assert hf_model(folder).fingerprint()["weights"] != before["weights"]
