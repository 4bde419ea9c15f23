"""The hf backend's native video path, end to end (run by test_hf_native_video.py, in process where
torchvision imports, else in a child process whose path adds a torchvision that does).

A tiny Qwen2-VL saved with transformers' real ``Qwen2VLVideoProcessor``, a real PyAV mp4 whose
frames show their index, and one generation and one log-likelihood request with a ``VideoPart``
through mmlens' hf backend. The same frames go through the saved processor and model directly
(``processor(text, videos=[frames])``, greedy ``generate`` / the continuation's log-probabilities):
mmlens must answer exactly that, with the video's own tokens (``<|video_pad|>``, ``video_grid_thw``)
rather than images.

    python tests/media/native_video_check.py OUT_DIR    # prints one JSON line
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def build_model(folder: Path) -> Path:
    """The fixtures' tiny Qwen2-VL, its processor saved again with a real video processor."""
    from transformers import AutoTokenizer, Qwen2VLImageProcessorPil, Qwen2VLProcessor, Qwen2VLVideoProcessor

    from tests.fixtures.tiny_models import QWEN_CHAT_TEMPLATE, build_qwen2_vl

    build_qwen2_vl(folder)
    sizes = {"min_pixels": 28 * 28, "max_pixels": 112 * 112, "patch_size": 14, "merge_size": 2}
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessorPil(**sizes, temporal_patch_size=2),
        tokenizer=AutoTokenizer.from_pretrained(folder),
        video_processor=Qwen2VLVideoProcessor(**sizes, temporal_patch_size=2),
        chat_template=QWEN_CHAT_TEMPLATE,
    )
    processor.save_pretrained(folder)
    return folder


def direct(folder: Path, frames: list[Any], question: str, continuation: str) -> dict[str, Any]:
    """What the saved processor and model give for the frames as one video, without mmlens."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32).eval()
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": question}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[prompt], videos=[frames], return_tensors="pt")
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    text = processor.tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    scored = processor(text=[prompt + continuation], videos=[frames], return_tensors="pt")
    start = inputs["input_ids"].shape[1]
    with torch.no_grad():
        logits = model(**scored).logits[0]
    targets = scored["input_ids"][0, start:]
    logprob = torch.log_softmax(logits[start - 1 : -1], dim=-1).gather(1, targets[:, None]).sum()
    video_id = processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    ids = inputs["input_ids"][0].tolist()
    return {
        "text": text,
        "logprob": float(logprob),
        "video_grid_thw": inputs["video_grid_thw"].tolist(),
        "video_tokens": ids.count(video_id),
        "image_tokens": ids.count(image_id),
        "processor": type(processor.video_processor).__name__,
    }


def check(out: Path) -> dict[str, Any]:
    from mmlens.core.media import VideoRef
    from mmlens.core.messages import Message, VideoPart
    from mmlens.core.requests import GenerationSettings, Request
    from mmlens.media.sampling import FrameSampling, decode_frames
    from mmlens.models.base import ModelSpec
    from mmlens.models.base import build_model as build_mmlens_model
    from tests.fixtures.videos import frame_index, make_video

    folder = build_model(out / "qwen2_vl_video")
    clip = make_video(out / "clip.mp4", 60, fps=10)
    sampling = FrameSampling("videomme", 4)
    frames = decode_frames(clip, sampling)
    question, continuation = "What happens?", " yes"
    part = VideoPart(VideoRef(clip), sampling=sampling)
    requests = [
        Request("generate", (Message.user(part, question),), GenerationSettings(max_new_tokens=6)),
        Request("loglikelihood", (Message.user(part, question),), continuation=continuation),
    ]
    model = build_mmlens_model(ModelSpec(backend="hf", name=str(folder), args={"dtype": "float32"}))
    answers: dict[int, Any] = {}
    model.process(requests, lambda index, response: answers.__setitem__(index, response))
    native = model._media_settings(model.load()).native_video  # type: ignore[attr-defined]
    model.close()
    return {
        "frames": [frame_index(frame) for frame in frames],
        "mmlens": {
            "text": answers[0].text,
            "logprob": answers[1].logprob,
            "errors": [answers[0].error, answers[1].error],
            "native_video": native,
        },
        "direct": direct(folder, frames, question, continuation),
    }


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    print(json.dumps(check(Path(sys.argv[1]))))
