"""MM-RLHF-RewardBench end to end with a multimodal reward model in the hf backend: ``mmlens run`` on a
tiny synthetic ``mm_reward_bench.jsonl`` + images and a video (frame folder), with a tiny Qwen2-VL plus
MM-RLHF's ``RewardHead`` (``kind=reward``); each reward equals the official formula computed directly
with transformers from the same weights, and the images change the rewards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mmlens.tasks.mm_rlhf_rewardbench.inferencer import critic_text
from mmlens.tasks.mm_rlhf_rewardbench.scenario import sampled_frames
from tests.fixtures.images import random_image
from tests.fixtures.reward_vlm import build_reward_vlm, official_reward_head
from tests.fixtures.rewardbench_data import LINES, build_rewardbench

pytest.importorskip("transformers")

MODEL_ARGS = "kind=reward,dtype=float32,device=cpu"


@pytest.fixture(scope="module")
def reward_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_reward_vlm("qwen2_vl", tmp_path_factory.mktemp("rvlm") / "tiny-qwen2-vl-rm")


def run_cli(tmp_path: Path, model: Path, data: Path, name: str) -> dict[str, dict[str, Any]]:
    """``mmlens run`` with the reference critiques; the records by sample id."""
    from mmlens.cli import main

    out = tmp_path / name
    args = ["--store", str(tmp_path / "s.sqlite"), "run", "mm_rlhf_rewardbench", "--model", f"hf:{model}"]
    args += ["--model-args", MODEL_ARGS, "--profile", "reference_critic", "--data", str(data)]
    assert main([*args, "--output-dir", str(out), "--no-progress"]) == 0
    (samples,) = out.rglob("samples.jsonl")
    records = [json.loads(line) for line in samples.read_text().splitlines()]
    return {record["id"]: record for record in records}


def direct_rewards(model_dir: Path, line: dict[str, Any], images: list[Path]) -> list[float]:
    """eval_mm_reward_bench.py with --use_gt_critic, the official formula on the same weights: the
    media then make_conv_rm's text as the user turn, the reason as the assistant's, and
    rm_head(hidden_states[-1]) at the last position."""
    import torch
    from PIL import Image
    from safetensors.torch import load_file
    from transformers import AutoModelForImageTextToText

    from mmlens.models.hf_hooks import load_processor

    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).eval()
    processor = load_processor(str(model_dir))
    head = official_reward_head(model.config.get_text_config().hidden_size).eval()
    weights = load_file(str(model_dir / "reward_head.safetensors"))
    head.load_state_dict({key.removeprefix("rm_head."): value for key, value in weights.items()})
    pictures = [Image.open(path).convert("RGB") for path in images]
    rewards = []
    for answer, reason in [(line["chosen"], "good"), (line["rejected"], "bad")]:
        user = [{"type": "image"} for _ in pictures] + [
            {"type": "text", "text": critic_text(line["prompt"], answer, True)}
        ]
        messages = [
            {"role": "user", "content": user},
            {"role": "assistant", "content": [{"type": "text", "text": reason}]},
        ]
        prompt = processor.apply_chat_template(messages, tokenize=False)
        inputs = processor(text=[prompt], images=[pictures], return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**inputs, output_hidden_states=True).hidden_states[-1]
            rewards.append(float(head(hidden)[0, -1, 0]))
    return rewards


def test_mmlens_run_with_a_multimodal_reward_model(tmp_path: Path, reward_vlm: Path) -> None:
    data = build_rewardbench(tmp_path / "rb")
    records = run_cli(tmp_path, reward_vlm, data, "first")
    assert len(records) == 6 and all(r.get("error") is None for r in records.values())
    media = data / "images"
    image_line, video_line = LINES[0], LINES[4]
    assert records["m1/0"]["details"]["rewards"] == pytest.approx(
        direct_rewards(reward_vlm, image_line, [media / image_line["image"]]), abs=1e-5
    )
    frames = sampled_frames(media / video_line["video"])  # 32 frames of the 3, as process_video samples
    assert records["v1/0"]["details"]["rewards"] == pytest.approx(
        direct_rewards(reward_vlm, video_line, frames), abs=1e-5
    )
    for record in records.values():
        chosen, rejected = record["details"]["rewards"]
        assert record["correct"] == (chosen > rejected)

    # the same questions and answers with other pictures: other rewards, so the images are read
    for index, line in enumerate(LINES):
        if "image" in line:
            random_image(index, 8, 8).pil().save(media / line["image"])
    changed = run_cli(tmp_path, reward_vlm, data, "other-images")
    for sample_id, record in changed.items():
        before, after = records[sample_id]["details"]["rewards"], record["details"]["rewards"]
        if sample_id.startswith("v1/"):
            assert after == before  # the video did not change (and its rewards come from the store)
        else:
            assert all(abs(a - b) > 1e-4 for a, b in zip(after, before, strict=True)), sample_id


@pytest.mark.parametrize("profile", [None, "reference_critic", "no_critic"])
def test_a_system_prompt_goes_first(tmp_path: Path, profile: str | None) -> None:
    """--system-prompt (the official qwen_1_5 conversation's "You are a helpful assistant.") reaches
    every request, ahead of the user turn; without it the requests are unchanged."""
    from mmlens import api
    from mmlens.core.generation import GenerationOverrides

    data = build_rewardbench(tmp_path / "rb")
    system = GenerationOverrides(system_prompt="You are a helpful assistant.")
    with_system = api.plan("mm_rlhf_rewardbench", data=data, profile=profile, generation=system).to_dict()
    plain = api.plan("mm_rlhf_rewardbench", data=data, profile=profile).to_dict()
    for request, bare in zip(
        with_system["samples"][0]["requests"], plain["samples"][0]["requests"], strict=True
    ):
        roles = [message["role"] for message in request["messages"]]
        assert (
            roles[0] == "system"
            and request["messages"][0]["content"][0]["text"] == "You are a helpful assistant."
        )
        assert request["messages"][1:] == bare["messages"] and "system" not in [
            m["role"] for m in bare["messages"]
        ]


def test_an_empty_reason_is_no_assistant_turn(tmp_path: Path) -> None:
    """conversation.py:88-94 renders a falsy message as the bare generation prompt: so does an empty
    (or missing) reason here, as the no_critic request."""
    from mmlens import api

    data = build_rewardbench(tmp_path / "rb")
    file = data / "mm_reward_bench.jsonl"
    lines = [json.loads(line) for line in file.read_text().splitlines()]
    lines[0]["chosen_reason"] = ""
    del lines[0]["rejected_reason"]
    file.write_text("".join(json.dumps(line) + "\n" for line in lines))
    reference = api.plan("mm_rlhf_rewardbench", data=data, profile="reference_critic").to_dict()
    bare = api.plan("mm_rlhf_rewardbench", data=data, profile="no_critic").to_dict()
    assert reference["samples"][0]["requests"] == bare["samples"][0]["requests"]
    roles = [m["role"] for m in reference["samples"][1]["requests"][0]["messages"]]
    assert roles == ["user", "assistant"]
