"""The hf backend on tiny, randomly initialised models of real architectures (built offline)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mmlens.core.errors import ConfigError
from mmlens.core.media import BytesImage, ImageRef, PILImageRef, VideoRef
from mmlens.core.messages import ImagePart, Message, VideoPart
from mmlens.core.requests import GenerationSettings, Request, Response
from mmlens.models.base import ModelSpec, build_model, parse_model_spec
from mmlens.models.hf import HFModel, truncate_at_stop
from mmlens.models.hf_media import VIDEO_NOT_SUPPORTED, sample_video_frames, shrink_to_max_pixels
from tests.fixtures.images import random_image
from tests.fixtures.tiny_models import (  # noqa: F401 - pytest fixtures
    TinyModelFactory,
    tiny_model_factory,
    tiny_text_lm_dir,
    tiny_vlm_dir,
)

pytest.importorskip("transformers")

# transformers' PaliGemma processor calls np.array() in a way numpy 2 warns about; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

QUESTIONS = [
    "Is there a cat in the image? Please answer yes or no.",
    "What color is the ball?",
    "Count the apples in the picture.",
    "Describe this photo in a few words: a person riding a horse on the beach at sunset.",
    "Hint: look at the left side. Which object is bigger, the chair or the table?",
    "one two three",
]


IMAGES = [random_image(i, 20 + 13 * i, 70 - 9 * i) for i in range(len(QUESTIONS))]


def hf_model(folder: Path, **args: Any) -> HFModel:
    model = build_model(ModelSpec(backend="hf", name=str(folder), args={"dtype": "float32", **args}))
    assert isinstance(model, HFModel)
    return model


def run(model: HFModel, requests: Sequence[Request]) -> list[Response]:
    answers: dict[int, Response] = {}

    def emit(index: int, response: Response) -> None:
        assert index not in answers, f"request {index} answered twice"
        answers[index] = response

    model.process(list(requests), emit)
    assert sorted(answers) == list(range(len(requests)))
    return [answers[i] for i in range(len(requests))]


def image_requests(max_new_tokens: int = 8) -> list[Request]:
    requests = []
    for question, image in zip(QUESTIONS, IMAGES, strict=True):
        messages = (Message.user(ImagePart(image), question),)
        requests.append(Request("generate", messages, GenerationSettings(max_new_tokens=max_new_tokens)))
        requests.append(Request("loglikelihood", messages, continuation=" yes"))
    return requests


def assert_ok(responses: Sequence[Response]) -> None:
    errors = [r.error for r in responses if not r.ok]
    assert not errors, errors


def assert_same_answers(first: Sequence[Response], second: Sequence[Response]) -> None:
    for a, b in zip(first, second, strict=True):
        assert a.text == b.text
        assert a.usage == b.usage
        assert a.is_greedy == b.is_greedy
        if a.logprob is not None or b.logprob is not None:
            assert a.logprob is not None and b.logprob is not None
            assert abs(a.logprob - b.logprob) < 1e-4


# -- every architecture ---------------------------------------------------------------------------


def test_batched_answers_equal_unbatched_ones(tiny_vlm_dir: Path) -> None:  # noqa: F811
    requests = image_requests()
    unbatched = run(hf_model(tiny_vlm_dir, batch_size=1), requests)
    batched = run(hf_model(tiny_vlm_dir, batch_size=4), requests)
    assert_ok(unbatched)
    assert_same_answers(unbatched, batched)
    texts = [r.text for r in unbatched if r.text is not None]
    logprobs = [r.logprob for r in unbatched if r.logprob is not None]
    assert len(texts) == len(logprobs) == len(QUESTIONS)
    assert all(r.usage and r.usage["completion_tokens"] <= 8 for r in unbatched if r.text is not None)
    assert len(set(texts)) > 1, "answers should depend on the prompt and the image"
    assert all(lp is not None and lp < 0 for lp in logprobs)
    assert len({round(lp, 4) for lp in logprobs if lp is not None}) == len(logprobs)


def test_the_image_changes_the_answer_and_drop_images_removes_it(tiny_vlm_dir: Path) -> None:  # noqa: F811
    question = QUESTIONS[0]
    with_image = Request("loglikelihood", (Message.user(ImagePart(IMAGES[0]), question),), continuation=" no")
    other_image = Request(
        "loglikelihood", (Message.user(ImagePart(IMAGES[3]), question),), continuation=" no"
    )
    text_only = Request("loglikelihood", (Message.user(question),), continuation=" no")
    seen, other, blind = run(hf_model(tiny_vlm_dir), [with_image, other_image, text_only])
    dropped, dropped_text_only = run(hf_model(tiny_vlm_dir, drop_images=True), [with_image, text_only])
    if tiny_vlm_dir.name == "paligemma":  # its processor refuses a prompt without an image
        assert_ok([seen, other])
        for response in (blind, dropped, dropped_text_only):
            assert response.error is not None and "images" in response.error
        assert seen.logprob != other.logprob
        return
    assert_ok([seen, other, blind, dropped, dropped_text_only])
    assert seen.logprob != other.logprob
    assert dropped.logprob == pytest.approx(blind.logprob, abs=1e-5)
    assert dropped_text_only.logprob == pytest.approx(blind.logprob, abs=1e-5)
    assert seen.usage and dropped.usage
    assert dropped.usage["prompt_tokens"] < seen.usage["prompt_tokens"]


@pytest.mark.parametrize("arch", ["qwen2_vl", "idefics3", "llava", "gemma3"])
def test_several_images_in_one_message(tiny_model_factory: TinyModelFactory, arch: str) -> None:  # noqa: F811
    folder = tiny_model_factory(arch)
    question = "Which picture is brighter?"

    def ask(*images: ImageRef) -> Request:
        parts = [ImagePart(image) for image in images]
        return Request("loglikelihood", (Message.user(*parts, question),), continuation=" The first")

    one, two, swapped = run(
        hf_model(folder), [ask(IMAGES[1]), ask(IMAGES[1], IMAGES[2]), ask(IMAGES[2], IMAGES[1])]
    )
    assert_ok([one, two, swapped])
    assert one.usage and two.usage
    assert two.usage["prompt_tokens"] > one.usage["prompt_tokens"]
    assert two.logprob != swapped.logprob, "the order of the images should matter"


# -- text-only language model ---------------------------------------------------------------------


def test_text_only_model_answers_and_rejects_images(tiny_text_lm_dir: Path) -> None:  # noqa: F811
    blind_requests = [
        Request("generate", (Message.user(q),), GenerationSettings(max_new_tokens=6)) for q in QUESTIONS
    ]
    blind_requests.append(Request("loglikelihood", (Message.user(QUESTIONS[0]),), continuation=" yes"))
    with_image = Request(
        "loglikelihood", (Message.user(ImagePart(IMAGES[0]), QUESTIONS[0]),), continuation=" yes"
    )

    responses = run(hf_model(tiny_text_lm_dir, batch_size=3), [*blind_requests, with_image])
    assert_ok(responses[:-1])
    assert responses[-1].error is not None and "drop_images=true" in responses[-1].error
    unbatched = run(hf_model(tiny_text_lm_dir, batch_size=1), blind_requests)
    assert_same_answers(unbatched, responses[:-1])

    (dropped,) = run(hf_model(tiny_text_lm_dir, drop_images=True), [with_image])
    assert dropped.logprob == pytest.approx(responses[-2].logprob, abs=1e-5)


# -- generation details ---------------------------------------------------------------------------


def test_stop_strings_cut_the_answer(tiny_model_factory: TinyModelFactory) -> None:  # noqa: F811
    folder = tiny_model_factory("llava")
    messages = (Message.user(ImagePart(IMAGES[0]), QUESTIONS[1]),)
    (free,) = run(hf_model(folder), [Request("generate", messages, GenerationSettings(max_new_tokens=12))])
    word = re.search(r"[A-Za-z]{3,}", free.text or "")
    assert word and word.start() > 0, free.text
    stop = word.group()
    expected = (free.text or "")[: word.start()]
    settings = GenerationSettings(max_new_tokens=12, stop=("never seen", stop))
    (stopped,) = run(hf_model(folder), [Request("generate", messages, settings)])
    assert stopped.text == expected
    assert stopped.usage and free.usage
    assert stopped.usage["completion_tokens"] < free.usage["completion_tokens"], "generation stops early"


def test_truncate_at_stop_uses_the_earliest_stop() -> None:
    assert truncate_at_stop("a. b\nc", ["\n", "."]) == "a"
    assert truncate_at_stop("abc", []) == "abc"
    assert truncate_at_stop("abc", ["x", ""]) == "abc"


def test_sampling_is_reproducible_per_request_seed(tiny_model_factory: TinyModelFactory) -> None:  # noqa: F811
    folder = tiny_model_factory("qwen2_vl")

    def sampled(index: int, seed: int) -> Request:
        settings = GenerationSettings(max_new_tokens=10, temperature=1.0, top_p=0.95, seed=seed)
        return Request("generate", (Message.user(ImagePart(IMAGES[index]), QUESTIONS[index]),), settings)

    requests = [sampled(i, seed=7) for i in range(4)] + [sampled(0, seed=8)]
    alone = run(hf_model(folder, batch_size=1), requests)
    together = run(hf_model(folder, batch_size=8), requests)
    greedy = run(
        hf_model(folder), [Request("generate", requests[0].messages, GenerationSettings(max_new_tokens=10))]
    )
    assert_ok(alone + together + greedy)
    assert [r.text for r in alone] == [r.text for r in together]
    assert alone[0].text != alone[4].text, "another seed should give another sample"
    assert alone[0].text != greedy[0].text


def test_loglikelihood_of_the_greedy_answer_is_greedy(tiny_model_factory: TinyModelFactory) -> None:  # noqa: F811
    from transformers import AutoTokenizer

    folder = tiny_model_factory("idefics3")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    messages = (Message.user(ImagePart(IMAGES[2]), QUESTIONS[2]),)
    (answer,) = run(hf_model(folder), [Request("generate", messages, GenerationSettings(max_new_tokens=3))])
    assert answer.text and answer.usage and answer.usage["completion_tokens"] == 3
    ids = tokenizer(answer.text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == answer.text  # the answer re-tokenizes to the same text
    other = answer.text[:-1] + ("a" if answer.text[-1] != "a" else "b")
    greedy, not_greedy = run(
        hf_model(folder),
        [
            Request("loglikelihood", messages, continuation=answer.text),
            Request("loglikelihood", messages, continuation=other),
        ],
    )
    assert greedy.is_greedy is True
    assert not_greedy.is_greedy is False
    assert greedy.logprob is not None and not_greedy.logprob is not None
    assert greedy.logprob > not_greedy.logprob


# Answer tokens' token_type_ids: Gemma 3 marks images with 1, PaliGemma marks its causal suffix with 1.
@pytest.mark.parametrize(("arch", "answer_token_type"), [("gemma3", 0), ("paligemma", 1)])
def test_loglikelihood_matches_a_direct_forward_pass(
    tiny_model_factory: TinyModelFactory,  # noqa: F811
    arch: str,
    answer_token_type: int,
) -> None:
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    folder = tiny_model_factory(arch)
    messages = (Message.user(ImagePart(IMAGES[4]), QUESTIONS[4]),)
    continuation = "The chair"
    (response,) = run(hf_model(folder), [Request("loglikelihood", messages, continuation=continuation)])

    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32)
    chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTIONS[4]}]}]
    prompt = processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    inputs = processor(
        text=[prompt],
        images=[[IMAGES[4].pil()]],
        return_tensors="pt",
        add_special_tokens=not prompt.startswith(processor.tokenizer.bos_token),
    )
    answer_ids = processor.tokenizer(continuation, add_special_tokens=False)["input_ids"]
    ids = torch.cat([inputs["input_ids"], torch.tensor([answer_ids])], dim=1)
    start = inputs["input_ids"].shape[1]

    def answer_logprob(token_type: int) -> float:
        answer_types = torch.full((1, len(answer_ids)), token_type, dtype=torch.long)
        token_types = torch.cat([inputs["token_type_ids"], answer_types], dim=1)
        with torch.no_grad():
            logits = model(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                token_type_ids=token_types,
                pixel_values=inputs["pixel_values"],
            ).logits
        log_probs = torch.log_softmax(logits[0, start - 1 : -1].float(), dim=-1)
        return float(log_probs.gather(1, torch.tensor(answer_ids)[:, None]).sum().item())

    assert response.logprob == pytest.approx(answer_logprob(answer_token_type), abs=1e-4)
    if arch == "paligemma":  # the answer in the bidirectional prefix would see its own future
        assert response.logprob != pytest.approx(answer_logprob(0), abs=1e-3)


# -- failures stay with their request ---------------------------------------------------------------


def test_a_bad_image_fails_only_its_request(tiny_model_factory: TinyModelFactory) -> None:  # noqa: F811
    folder = tiny_model_factory("llava")
    good = image_requests(max_new_tokens=5)[:6]
    bad_image = BytesImage(b"this is not an image", label="broken.png")
    bad = Request(
        "generate", (Message.user(ImagePart(bad_image), "What is it?"),), GenerationSettings(max_new_tokens=5)
    )
    responses = run(hf_model(folder, batch_size=8), [good[0], good[1], bad, *good[2:]])
    assert responses[2].error is not None and "broken.png" in responses[2].error
    others = [responses[0], responses[1], *responses[3:]]
    assert_ok(others)
    assert_same_answers(others, run(hf_model(folder, batch_size=1), good))


def test_a_request_that_breaks_its_batch_fails_alone(tiny_model_factory: TinyModelFactory) -> None:  # noqa: F811
    folder = tiny_model_factory("llava")
    good = image_requests(max_new_tokens=5)
    # A literal image placeholder in the text: two placeholders for one image, so the processor
    # rejects the whole batch and the backend retries its requests one at a time.
    breaking = Request(
        "loglikelihood", (Message.user(ImagePart(IMAGES[0]), "Look at <image> here"),), continuation=" yes"
    )
    responses = run(hf_model(folder, batch_size=16), [*good[:5], breaking, *good[5:]])
    assert responses[5].error is not None and "image" in responses[5].error
    others = responses[:5] + responses[6:]
    assert_ok(others)
    assert_same_answers(others, run(hf_model(folder, batch_size=1), good))


def test_a_request_longer_than_the_context_fails_alone(tiny_model_factory: TinyModelFactory) -> None:  # noqa: F811
    folder = tiny_model_factory("llava")  # context: 512 positions
    long_question = "count the apples " * 400
    requests = [
        Request(
            "generate",
            (Message.user(ImagePart(IMAGES[0]), QUESTIONS[0]),),
            GenerationSettings(max_new_tokens=4),
        ),
        Request(
            "generate",
            (Message.user(ImagePart(IMAGES[1]), long_question),),
            GenerationSettings(max_new_tokens=4),
        ),
        Request("loglikelihood", (Message.user(long_question),), continuation=" yes"),
        Request("loglikelihood", (Message.user(QUESTIONS[1]),), continuation=" yes"),
    ]
    responses = run(hf_model(folder, batch_size=4), requests)
    assert_ok([responses[0], responses[3]])
    for response in responses[1:3]:
        assert response.error is not None and "too long" in response.error and "512" in response.error


def test_video_input_is_refused_unless_frames_are_asked_for(
    tiny_model_factory: TinyModelFactory,  # noqa: F811
    tmp_path: Path,
) -> None:
    folder = tiny_model_factory("qwen2_vl")
    video = VideoRef(write_test_video(tmp_path / "clip.mp4"))
    request = Request(
        "loglikelihood", (Message.user(VideoPart(video), "What happens?"),), continuation=" yes"
    )
    (refused,) = run(hf_model(folder), [request])
    assert refused.error == VIDEO_NOT_SUPPORTED

    frames = sample_video_frames(VideoPart(video), 3)
    brightness = [float(np.asarray(frame).mean()) for frame in frames]
    assert brightness == sorted(brightness) and brightness[2] - brightness[0] > 100
    as_images = Request(
        "loglikelihood",
        (Message.user(*[ImagePart(PILImageRef(f)) for f in frames], "What happens?"),),
        continuation=" yes",
    )
    from_video, from_images = run(hf_model(folder, video_frames=3), [request, as_images])
    assert_ok([from_video, from_images])
    assert from_video.logprob == pytest.approx(from_images.logprob, abs=1e-5)


def write_test_video(path: Path, frames: int = 30) -> Path:
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for i in range(frames):
            pixels = np.full((24, 32, 3), i * 8, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_keyboard_interrupt_propagates(tiny_model_factory: TinyModelFactory) -> None:  # noqa: F811
    model = hf_model(tiny_model_factory("llava"), batch_size=2)

    def emit(index: int, response: Response) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model.process(image_requests(max_new_tokens=2), emit)


# -- images are shrunk before the processor -------------------------------------------------------


def test_shrink_to_max_pixels_keeps_the_aspect_ratio() -> None:
    image = Image.new("RGB", (400, 100))
    small = shrink_to_max_pixels(image, 10_000)
    assert small.size[0] * small.size[1] <= 10_000
    assert small.size == (200, 50)
    assert shrink_to_max_pixels(image, None) is image
    assert shrink_to_max_pixels(image, 40_000) is image


def test_max_pixels_reaches_the_model(tiny_model_factory: TinyModelFactory) -> None:  # noqa: F811
    folder = tiny_model_factory("qwen2_vl")  # dynamic resolution: fewer pixels, fewer image tokens
    big = random_image(42, 112, 112)
    request = Request("loglikelihood", (Message.user(ImagePart(big), QUESTIONS[0]),), continuation=" yes")
    (full,) = run(hf_model(folder), [request])
    (shrunk,) = run(hf_model(folder, max_pixels=56 * 56), [request])
    assert full.usage and shrunk.usage
    assert shrunk.usage["prompt_tokens"] < full.usage["prompt_tokens"]


# -- identity -------------------------------------------------------------------------------------


def test_fingerprint_follows_answer_changing_options_and_weights(
    tiny_model_factory: TinyModelFactory,  # noqa: F811
    tmp_path: Path,
) -> None:
    folder = tiny_model_factory("llava")
    base = hf_model(folder).fingerprint_key()
    assert hf_model(folder, batch_size=3, device="cpu").fingerprint_key() == base
    for changed in ({"max_pixels": 1000}, {"dtype": "bfloat16"}, {"drop_images": True}, {"video_frames": 4}):
        assert hf_model(folder, **changed).fingerprint_key() != base, changed

    copy = tmp_path / "copied-model"
    shutil.copytree(folder, copy)
    assert hf_model(copy).fingerprint_key() == base, "the same files elsewhere are the same model"
    config = copy / "config.json"
    config.write_text(
        config.read_text().replace('"projector_hidden_act": "gelu"', '"projector_hidden_act": "relu"')
    )
    assert hf_model(copy).fingerprint_key() != base


def test_bfloat16_runs(tiny_model_factory: TinyModelFactory) -> None:  # noqa: F811
    folder = tiny_model_factory("qwen2_vl")
    responses = run(hf_model(folder, dtype="bfloat16"), image_requests(max_new_tokens=3)[:4])
    assert_ok(responses)


def test_bad_options_and_missing_models_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        build_model(parse_model_spec("hf:some/model", "batch_size=0"))
    with pytest.raises(ConfigError, match="flash"):
        build_model(parse_model_spec("hf:some/model", "flash=yes"))
    with pytest.raises(ConfigError, match="needs a model"):
        build_model(parse_model_spec("hf"))
    spec = parse_model_spec(f"hf:{tmp_path / 'missing'}", "dtype=bfloat16,max_pixels=802816,drop_images=true")
    model = build_model(spec)
    assert isinstance(model, HFModel) and model.hf_args.max_pixels == 802816 and model.hf_args.drop_images
    with pytest.raises(ConfigError, match="does not exist"):
        model.fingerprint()


def test_importing_the_backend_does_not_import_torch() -> None:
    code = (
        "import sys, mmlens.models.hf; sys.exit(int('torch' in sys.modules or 'transformers' in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_a_hub_id_is_identified_by_its_cached_commit_offline(tmp_path: Path) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--tiny-org--tiny-vlm"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "config.json").write_text('{"model_type": "llava"}')
    code = (
        "import json\n"
        "from mmlens.core.errors import ConfigError\n"
        "from mmlens.models.base import parse_model_spec, build_model\n"
        "print(json.dumps(build_model(parse_model_spec('hf:tiny-org/tiny-vlm')).fingerprint()['weights']))\n"
        "try:\n"
        "    build_model(parse_model_spec('hf:tiny-org/not-downloaded')).fingerprint()\n"
        "except ConfigError as error:\n"
        "    print('ConfigError', error)\n"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path),
        "HF_HUB_CACHE": str(tmp_path / "hub"),
    }
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    weights_line, error_line = result.stdout.strip().splitlines()[-2:]
    assert json.loads(weights_line) == {"hub": "tiny-org/tiny-vlm", "commit": commit}
    assert error_line.startswith("ConfigError") and "tiny-org/not-downloaded" in error_line


# -- the token that closes the assistant's turn (continuation_ends_turn) ----------------------------


def _closing_token_case(arch: str, folder: Path) -> tuple[tuple[Message, ...], str, int]:
    """Messages, continuation, and the closing token id the model's template implies, found by hand:
    Qwen's template closes a turn with <|im_end|>; the tiny LLaVA template writes only a space, so the
    tokenizer's EOS (</s>, as LLaVA-1.5's llava_v1 conversation) closes it."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    if arch == "qwen2":
        return (Message.user(QUESTIONS[1]),), "red", tokenizer.convert_tokens_to_ids("<|im_end|>")
    return (Message.user(ImagePart(IMAGES[4]), QUESTIONS[4]),), "The chair", tokenizer.eos_token_id


@pytest.mark.parametrize("arch", ["llava", "qwen2"])
def test_end_of_turn_logprob_matches_a_direct_forward_pass(
    tiny_model_factory: TinyModelFactory,  # noqa: F811
    arch: str,
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor, AutoTokenizer

    folder = tiny_model_factory(arch)
    messages, continuation, closing_id = _closing_token_case(arch, folder)
    open_reply, whole_reply = run(
        hf_model(folder),
        [
            Request("loglikelihood", messages, continuation=continuation),
            Request("loglikelihood", messages, continuation=continuation, continuation_ends_turn=True),
        ],
    )
    assert_ok([open_reply, whole_reply])

    if arch == "qwen2":
        processor: Any = AutoTokenizer.from_pretrained(folder)
        model: Any = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        chat: list[dict[str, Any]] = [{"role": "user", "content": QUESTIONS[1]}]
        prompt = processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        inputs = processor([prompt], return_tensors="pt")
        tokenizer = processor
    else:
        processor = AutoProcessor.from_pretrained(folder)
        model = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32)
        chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTIONS[4]}]}]
        prompt = processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        inputs = processor(text=[prompt], images=[[IMAGES[4].pil()]], return_tensors="pt")
        tokenizer = processor.tokenizer
    answer_ids = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    scored = [*answer_ids, closing_id]
    ids = torch.cat([inputs["input_ids"], torch.tensor([scored])], dim=1)
    start = inputs["input_ids"].shape[1]
    extra = {"pixel_values": inputs["pixel_values"]} if "pixel_values" in inputs else {}
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), **extra).logits
    log_probs = torch.log_softmax(logits[0, start - 1 : -1].float(), dim=-1)
    per_token = log_probs.gather(1, torch.tensor(scored)[:, None])[:, 0]

    assert open_reply.logprob == pytest.approx(float(per_token[:-1].sum()), abs=1e-4)
    assert whole_reply.logprob == pytest.approx(float(per_token.sum()), abs=1e-4)
    assert whole_reply.logprob != pytest.approx(open_reply.logprob, abs=1e-3)
    assert open_reply.usage and whole_reply.usage
    assert whole_reply.usage["completion_tokens"] == open_reply.usage["completion_tokens"] + 1 == len(scored)


def test_end_of_turn_batched_equals_unbatched(tiny_model_factory: TinyModelFactory) -> None:  # noqa: F811
    folder = tiny_model_factory("llava")
    requests = [
        Request("loglikelihood", messages, continuation=answer, continuation_ends_turn=ends)
        for question, image in zip(QUESTIONS[:4], IMAGES[:4], strict=True)
        if (messages := (Message.user(ImagePart(image), question),))
        for answer in ("yes", "a red ball on the street")
        for ends in (False, True)
    ]
    batched = run(hf_model(folder, batch_size=16), requests)
    assert_ok(batched)
    assert_same_answers(batched, run(hf_model(folder, batch_size=1), requests))


def test_the_closing_token_can_change_the_ranking(tiny_model_factory: TinyModelFactory) -> None:  # noqa: F811
    from mmlens.core.sample import Sample
    from mmlens.inferencers.ranking import RankChoices

    model = hf_model(tiny_model_factory("qwen2"))
    sample = Sample(id="q", messages=[Message.user(QUESTIONS[4])], target="A", choices=["A", "B", "C", "D"])
    predictions = {}
    for ends in (False, True):
        inferencer = RankChoices(include_end_of_turn=ends)
        requests = inferencer.plan(sample, sample.messages)
        assert all(r.continuation_ends_turn is ends for r in requests)
        responses = run(model, requests)
        assert_ok(responses)
        predictions[ends] = inferencer.combine(sample, requests, responses)
    # this seeded tiny model prefers "B" as an open reply, "A" as a whole reply (closing token included)
    assert (predictions[False].answer, predictions[True].answer) == ("B", "A")
