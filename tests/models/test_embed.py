"""Embed requests (messages -> vector) on real parts: tiny transformers models built offline (a causal
LM, a VLM, a CLIP and a SigLIP dual encoder), a real HTTP server on 127.0.0.1 for the openai backend,
a real SQLite store behind the Responder, and the ``embed`` inferencer."""

from __future__ import annotations

import asyncio
import base64
import math
import re
import struct
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmlens import api
from mmlens.core.errors import ConfigError, MmlensError
from mmlens.core.media import ImageRef
from mmlens.core.messages import ImagePart, Message
from mmlens.core.parts import ReplayError, ReplayOutput, inferencers
from mmlens.core.requests import Request, Response
from mmlens.core.sample import Sample
from mmlens.models.base import Model, ModelSpec, build_model
from mmlens.models.hf import HFModel, last_real_token_positions
from mmlens.models.openai import OpenAIModel
from mmlens.runner.execute import Responder
from mmlens.store.sqlite import Store
from tests.fixtures.images import random_image
from tests.fixtures.tiny_models import (  # noqa: F401 - pytest fixtures
    TRAINING_SENTENCES,
    TinyModelFactory,
    build_tiny_clip,
    build_tiny_siglip,
    tiny_model_factory,
)

pytestmark = pytest.mark.timeout(120)

TEXTS = [
    "Is there a cat in the image?",
    "one",
    "Describe this photo in a few words: a person riding a horse on the beach at sunset.",
    "What color is the ball?",
    "Hint: look at the left side. Which object is bigger, the chair or the table?",
]


IMAGES = [random_image(i, 24 + 11 * i, 60 - 7 * i) for i in range(len(TEXTS))]


def embed_text(text: str) -> Request:
    return Request("embed", (Message.user(text),))


def embed_image(image: ImageRef, text: str | None = None) -> Request:
    parts: tuple[Any, ...] = (ImagePart(image),) if text is None else (ImagePart(image), text)
    return Request("embed", (Message.user(*parts),))


def run(model: Model, requests: Sequence[Request]) -> list[Response]:
    answers: dict[int, Response] = {}

    def emit(index: int, response: Response) -> None:
        assert index not in answers, f"request {index} answered twice"
        answers[index] = response

    model.process(list(requests), emit)
    assert sorted(answers) == list(range(len(requests)))
    return [answers[i] for i in range(len(requests))]


def vectors(responses: Sequence[Response]) -> np.ndarray:
    assert all(r.ok for r in responses), [r.error for r in responses if not r.ok]
    assert all(r.embedding is not None and r.text is None and r.logprob is None for r in responses)
    return np.array([r.embedding for r in responses], dtype=np.float64)


def hf(folder: Path, **args: Any) -> HFModel:
    model = build_model(ModelSpec(backend="hf", name=str(folder), args={"dtype": "float32", **args}))
    assert isinstance(model, HFModel)
    return model


def normalised(tensor: Any) -> np.ndarray:
    array = tensor.detach().float().numpy().astype(np.float64)
    return array / np.linalg.norm(array, axis=-1, keepdims=True)


# ----- hf, last_token: a causal LM and a VLM -----


@pytest.fixture(scope="session")
def qwen2(tiny_model_factory: TinyModelFactory) -> Path:  # noqa: F811
    pytest.importorskip("transformers")
    return tiny_model_factory("qwen2")


@pytest.fixture(scope="session")
def llava(tiny_model_factory: TinyModelFactory) -> Path:  # noqa: F811
    pytest.importorskip("transformers")
    return tiny_model_factory("llava")


def test_last_token_vector_is_the_normalised_final_hidden_state_of_the_prompt(qwen2: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    got = vectors(run(hf(qwen2, batch_size=1), [embed_text(TEXTS[0])]))[0]
    # The oracle: transformers itself, the full model's last layer at the chat prompt's last token.
    tokenizer = AutoTokenizer.from_pretrained(qwen2)
    model = AutoModelForCausalLM.from_pretrained(qwen2, dtype=torch.float32).eval()
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": TEXTS[0]}], add_generation_prompt=True, tokenize=False
    )
    assert isinstance(prompt, str) and prompt.endswith("<|im_start|>assistant\n")
    with torch.inference_mode():
        output = model(**tokenizer(prompt, return_tensors="pt"), output_hidden_states=True)
    np.testing.assert_allclose(got, normalised(output.hidden_states[-1][0, -1]), atol=1e-5)
    assert np.linalg.norm(got) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("arch", ["qwen2", "llava"])
def test_last_token_batched_equals_unbatched_and_is_normalised(
    arch: str,
    tiny_model_factory: TinyModelFactory,  # noqa: F811
) -> None:
    folder = tiny_model_factory(arch)
    if arch == "qwen2":
        requests = [embed_text(text) for text in TEXTS]
    else:  # images and text-only requests mixed: batched apart, answered in place
        requests = [embed_image(image, text) for image, text in zip(IMAGES, TEXTS, strict=True)]
        requests += [embed_text(text) for text in TEXTS[:3]]
    batched = vectors(run(hf(folder, batch_size=8), requests))
    unbatched = vectors(run(hf(folder, batch_size=1), requests))
    np.testing.assert_allclose(batched, unbatched, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-6)
    # different prompts, different vectors (nothing constant, no padding state leaking in)
    distinct = {tuple(np.round(row, 4)) for row in batched}
    assert len(distinct) == len(requests)


@pytest.mark.parametrize("arch", ["qwen2", "llava"])
def test_left_padding_picks_the_last_real_token(
    arch: str,
    tiny_model_factory: TinyModelFactory,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batches pad on the right; padded on the left, the pooling still finds each row's last real
    token (not a pad at the end), so the vectors stay those of the rows run alone."""
    import mmlens.models.hf as hf_module

    folder = tiny_model_factory(arch)
    if arch == "qwen2":
        requests = [embed_text(text) for text in TEXTS]
    else:
        requests = [embed_image(image, text) for image, text in zip(IMAGES, TEXTS, strict=True)]
    alone = vectors(run(hf(folder, batch_size=1), requests))
    monkeypatch.setattr(hf_module, "EMBED_PADDING_SIDE", "left")
    left = vectors(run(hf(folder, batch_size=8), requests))
    np.testing.assert_allclose(left, alone, atol=1e-5)


def test_last_real_token_positions_on_either_padding_side(qwen2: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(qwen2)
    lengths = [len(tokenizer(text)["input_ids"]) for text in TEXTS]
    assert len(set(lengths)) > 1
    width = max(lengths)
    for side, expected in (("left", [width - 1] * len(TEXTS)), ("right", [n - 1 for n in lengths])):
        encoded = tokenizer(TEXTS, padding=True, padding_side=side, return_tensors="pt")
        positions = last_real_token_positions(encoded["attention_mask"]).tolist()
        assert positions == expected, side
        for row, position in enumerate(positions):  # the token there is the text's own last token
            own_last = tokenizer(TEXTS[row])["input_ids"][-1]
            assert int(encoded["input_ids"][row, position]) == own_last


def test_generate_and_embed_in_one_call_and_bad_requests_fail_alone(qwen2: Path) -> None:
    from mmlens.core.requests import GenerationSettings

    model = hf(qwen2, batch_size=4)
    requests = [
        embed_text(TEXTS[0]),
        Request("generate", (Message.user(TEXTS[1]),), GenerationSettings(max_new_tokens=3)),
        embed_image(IMAGES[0], "a text-only model cannot see this"),
        embed_text(TEXTS[2]),
    ]
    answers = run(model, requests)
    assert answers[0].embedding is not None and answers[3].embedding is not None
    assert answers[1].text is not None and answers[1].embedding is None
    assert answers[2].error is not None and "text-only" in answers[2].error
    assert answers[0].usage is not None and answers[0].usage["prompt_tokens"] > 0


def test_embedding_option_is_validated_and_kept_out_of_the_fingerprint_when_auto(qwen2: Path) -> None:
    with pytest.raises(ConfigError, match="embedding"):
        build_model(ModelSpec(backend="hf", name=str(qwen2), args={"embedding": "mean"}))
    auto = hf(qwen2).fingerprint()
    assert "embedding" not in auto["args"]  # the keys of models that predate the option stay the same
    assert hf(qwen2, embedding="last_token").fingerprint()["args"]["embedding"] == "last_token"


# ----- hf, dual_encoder: CLIP and SigLIP built here -----


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def siglip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    return build_tiny_siglip(tmp_path_factory.mktemp("tiny-siglip"))


def test_clip_embeds_texts_and_images_as_its_own_feature_functions_do(clip: Path) -> None:
    import torch
    from transformers import AutoProcessor, CLIPModel

    model = hf(clip, batch_size=8)  # embedding=auto: a CLIP config is a dual encoder
    requests = [embed_text(text) for text in TEXTS] + [embed_image(image) for image in IMAGES]
    answers = run(model, requests)
    got = vectors(answers)
    assert model.load().embedding == "dual_encoder"
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)
    assert got.shape == (len(requests), 16)  # the projection's size: text and image share a space

    reference = CLIPModel.from_pretrained(clip, dtype=torch.float32).eval()
    processor = AutoProcessor.from_pretrained(clip)
    with torch.inference_mode():
        text_features = reference.get_text_features(**processor.tokenizer(TEXTS[2], return_tensors="pt"))
        image_features = reference.get_image_features(
            **processor.image_processor(images=[IMAGES[1].pil()], return_tensors="pt")
        )
    np.testing.assert_allclose(got[2], normalised(text_features.pooler_output[0]), atol=1e-5)
    np.testing.assert_allclose(got[len(TEXTS) + 1], normalised(image_features.pooler_output[0]), atol=1e-5)

    unbatched = vectors(run(hf(clip, batch_size=1), requests))
    np.testing.assert_allclose(got, unbatched, atol=1e-5)


def test_a_dual_encoder_refuses_what_it_cannot_embed_one_request_at_a_time(clip: Path) -> None:
    from mmlens.core.requests import GenerationSettings

    requests = [
        embed_image(IMAGES[0], "an image and a text at once"),
        Request("embed", (Message.user(ImagePart(IMAGES[0]), ImagePart(IMAGES[1])),)),
        embed_text("word " * 100),  # longer than the 77 positions of the text tower
        Request("generate", (Message.user("hello"),), GenerationSettings(max_new_tokens=2)),
        Request("loglikelihood", (Message.user("hello"),), continuation="yes"),
        embed_text(TEXTS[0]),
    ]
    answers = run(hf(clip), requests)
    assert "either a text or one image" in (answers[0].error or "")
    assert "one image at a time" in (answers[1].error or "")
    assert re.search(
        r"request too long: \d+ prompt tokens exceed the model's context of 77 tokens", answers[2].error or ""
    )
    assert "answers embed requests only, not generate" in (answers[3].error or "")
    assert "not loglikelihood" in (answers[4].error or "")
    assert answers[5].ok and answers[5].embedding is not None


def test_embedding_mode_can_be_forced(clip: Path, qwen2: Path) -> None:
    with pytest.raises(ConfigError, match="neither image-text-to-text nor a causal"):
        hf(clip, embedding="last_token").load()
    with pytest.raises(ConfigError, match="is not a dual encoder"):
        hf(qwen2, embedding="dual_encoder").load()


def test_siglip_texts_are_padded_to_full_length_so_a_vector_does_not_depend_on_its_batch(
    siglip: Path,
) -> None:
    import torch
    from transformers import AutoProcessor, SiglipModel

    requests = [embed_text(text) for text in TEXTS[:4]] + [embed_image(image) for image in IMAGES[:2]]
    batched = vectors(run(hf(siglip, batch_size=8), requests))
    unbatched = vectors(run(hf(siglip, batch_size=1), requests))
    np.testing.assert_allclose(batched, unbatched, atol=1e-5)
    reference = SiglipModel.from_pretrained(siglip, dtype=torch.float32).eval()
    tokenizer = AutoProcessor.from_pretrained(siglip).tokenizer
    encoded = tokenizer([TEXTS[1]], padding="max_length", max_length=64, return_tensors="pt")
    assert set(encoded) == {"input_ids"}
    with torch.inference_mode():
        expected = reference.get_text_features(**encoded).pooler_output[0]
    np.testing.assert_allclose(batched[1], normalised(expected), atol=1e-5)


# ----- the store keeps vectors exactly; the Responder caches them and refuses non-embedders -----


def test_embeddings_round_trip_through_the_store_exactly(tmp_path: Path, qwen2: Path) -> None:
    computed = run(hf(qwen2), [embed_text(TEXTS[0])])[0]
    assert computed.embedding is not None
    special = [0.1, 1 / 3, -0.0, 5e-324, 1.7976931348623157e308, -2.5e-10, 123456789.123456789]
    responses = {
        "computed": computed,
        "special": Response(embedding=special, usage={"prompt_tokens": 3}),
    }
    with Store(tmp_path / "s.sqlite") as store:
        for key, response in responses.items():
            store.put_response(key, "fingerprint", "embed", response)
        store.flush()
    with Store(tmp_path / "s.sqlite") as store:
        back = store.get_responses(list(responses))
    for key, response in responses.items():
        assert back[key] == response
        stored, original = back[key].embedding, response.embedding
        assert stored is not None and original is not None
        # bit for bit, the sign of -0.0 included
        assert [struct.pack("<d", x) for x in stored] == [struct.pack("<d", x) for x in original]


def keyed(model: Model, requests: Sequence[Request]) -> dict[str, Request]:
    return {request.key(model.fingerprint_key()): request for request in requests}


def test_the_responder_answers_caches_and_refuses_embed_requests(tmp_path: Path, qwen2: Path) -> None:
    model = hf(qwen2, batch_size=4)
    unique = keyed(model, [embed_text(text) for text in TEXTS])
    with Store(tmp_path / "s.sqlite") as store:
        first = Responder({"model": model}, store)(unique)
        assert first.keys() == unique.keys() and all(r.ok and r.embedding for r in first.values())
        direct = vectors(run(model, list(unique.values())))  # the same batches: the same floats
        assert vectors([first[key] for key in unique]).tolist() == direct.tolist()
        again = Responder({"model": model}, store)
        second = again(unique)
        assert (again.stats["model"].cached, again.stats["model"].computed) == (len(TEXTS), 0)
        assert second == first

        constant = build_model(ModelSpec(backend="constant"))
        refusing = Responder({"model": constant}, store)
        refused = refusing(keyed(constant, [embed_text(TEXTS[0])]))
        (answer,) = refused.values()
        assert answer.error == "model constant (model) cannot answer embed requests"
        assert refusing.stats["model"].errors == 1 and refusing.stats["model"].computed == 0


def test_backends_that_cannot_embed_are_refused_up_front(tmp_path: Path) -> None:
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "data.jsonl").write_text('{"id": "a", "question": "a red square", "answer": "x"}\n')
    (bench / "toy_embed.yaml").write_text(
        "name: toy_embed\nscenario: {type: jsonl, path: data.jsonl}\ninferencer: {type: embed}\n"
        "metric: {type: accuracy, extractor: exact}\n"
    )
    for backend in ("constant", "reference"):
        with pytest.raises(MmlensError, match=f"model {backend} cannot answer embed requests"):
            api.evaluate("toy_embed", backend, include=[bench], store=tmp_path / "s.sqlite", output_dir=None)


# ----- the embed inferencer -----


def test_the_embed_inferencer_sends_one_request_and_puts_the_vector_on_the_prediction() -> None:
    inferencer = inferencers.get("embed")()
    messages = [Message.user(ImagePart(IMAGES[0]), "Represent the given image.")]
    sample = Sample(id="s", messages=messages, target="x")
    (request,) = inferencer.plan(sample, messages)
    assert request.kind == "embed" and request.messages == tuple(messages)
    prediction = inferencer.combine(sample, [request], [Response(embedding=[0.6, 0.8])])
    assert prediction.embedding == [0.6, 0.8] and prediction.text is None and prediction.error is None
    failed = inferencer.combine(sample, [request], [Response(error="HTTP 500")])
    assert failed.error == "HTTP 500" and failed.embedding is None
    empty = inferencer.combine(sample, [request], [Response(text="not a vector")])
    assert empty.error is not None and "without a vector" in empty.error

    unnormalised = inferencer.combine(sample, [request], [Response(embedding=[3.0, 4.0])])
    assert unnormalised.embedding == [0.6, 0.8]  # every backend's vector is L2-normalised alike
    zero = inferencer.combine(sample, [request], [Response(embedding=[0.0, 0.0])])
    assert zero.error is not None and zero.embedding is None
    assert inferencer.replay(sample, ReplayOutput(embedding=[2, 0])).embedding == [1.0, 0.0]
    with pytest.raises(ReplayError, match='give "embedding"'):
        inferencer.replay(sample, ReplayOutput(response="text"))
    with pytest.raises(ReplayError, match="NaN"):
        inferencer.replay(sample, ReplayOutput(embedding=[math.nan]))


# ----- openai: POST {base_url}/embeddings on a real server -----


class EmbeddingServer:
    """An OpenAI-compatible ``/v1/embeddings`` on 127.0.0.1 (aiohttp, in a thread).

    The vector of a text is made from it (``vector_of``), so answers can be matched to requests.
    ``#fault=500,503`` in a text: the first request for it gets 500, the second 503, later ones the
    vector. ``mode``: "ok"; "missing" (no /embeddings route: aiohttp's 404); "unsupported" (vLLM's
    501 for a model that does not pool; "unsupported400": its older 400); "base64" (the vector as
    base64 float32)."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.bodies: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self.paths: Counter[str] = Counter()
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @staticmethod
    def vector_of(text: str) -> list[float]:
        codes = [ord(c) for c in text] or [0]
        return [float(len(text)), sum(codes) / 7, 1 / 3, -0.0, min(codes) * 1e-7]

    async def embeddings(self, request: Any) -> Any:
        from aiohttp import web

        self.paths[request.path] += 1
        body = await request.json()
        self.bodies.append(body)
        if self.mode.startswith("unsupported"):  # vLLM's answer for a model that does not pool
            error = {"message": "The model does not support Embeddings API", "type": "NotImplementedError"}
            return web.json_response({"error": error}, status=400 if self.mode.endswith("400") else 501)
        if "input" in body:
            text = body["input"]
        else:
            text = " | ".join(
                part["text"]
                for message in body["messages"]
                for part in message["content"]
                if isinstance(part, dict) and part.get("type") == "text"
            )
        attempt = self.counts[text]
        self.counts[text] += 1
        plan = re.search(r"#fault=([\d,]+)", text)
        faults = plan.group(1).split(",") if plan else []
        if attempt < len(faults):
            status = int(faults[attempt])
            return web.json_response({"error": {"message": f"injected {status}"}}, status=status)
        vector: Any = self.vector_of(text)
        if self.mode == "base64":
            vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        return web.json_response(
            {
                "object": "list",
                "model": body["model"],
                "data": [{"object": "embedding", "index": 0, "embedding": vector}],
                "usage": {"prompt_tokens": len(text.split()), "total_tokens": len(text.split())},
            }
        )

    def __enter__(self) -> EmbeddingServer:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the embedding server did not start"
        return self

    async def _serve(self) -> None:
        from aiohttp import web

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = web.Application()
        if self.mode != "missing":
            app.router.add_post("/v1/embeddings", self.embeddings)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server: Any = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[EmbeddingServer]:
    with EmbeddingServer(getattr(request, "param", "ok")) as running:
        yield running


def openai(server: EmbeddingServer, **args: Any) -> OpenAIModel:
    settings = {"base_url": server.base_url, "timeout": 5, "retry_backoff": 0.01, "max_retries": 3, **args}
    model = build_model(ModelSpec(backend="openai", name="tiny-embedder", args=settings))
    assert isinstance(model, OpenAIModel)
    return model


def test_openai_embeds_text_as_input_and_images_as_chat_messages(server: EmbeddingServer) -> None:
    requests = [embed_text(text) for text in TEXTS] + [
        Request("embed", (Message.system("Represent the user's text."), Message.user("a cat"))),
        embed_image(IMAGES[0], "Represent the given image."),
    ]
    answers = run(openai(server, concurrency=4), requests)
    for text, answer in zip(TEXTS, answers, strict=False):
        assert answer.embedding == EmbeddingServer.vector_of(text)  # exactly, -0.0 and 1/3 included
    assert answers[len(TEXTS)].embedding == EmbeddingServer.vector_of("Represent the user's text.\na cat")
    assert answers[-1].embedding == EmbeddingServer.vector_of("Represent the given image.")
    assert answers[0].usage == {"prompt_tokens": 7, "total_tokens": 7}  # words, as the server counts
    assert server.paths == {"/v1/embeddings": len(requests)}

    by_kind = defaultdict(list)
    for body in server.bodies:
        by_kind["messages" in body].append(body)
    assert len(by_kind[True]) == 1 and len(by_kind[False]) == len(requests) - 1
    text_body = next(b for b in by_kind[False] if b["input"] == TEXTS[1])
    assert text_body == {"model": "tiny-embedder", "input": "one", "encoding_format": "float"}
    (image_body,) = by_kind[True]
    assert set(image_body) == {"model", "messages", "encoding_format"}
    (message,) = image_body["messages"]
    assert message["role"] == "user"
    image_part, text_part = message["content"]
    assert image_part["type"] == "image_url" and image_part["image_url"]["url"].startswith("data:image/png;")
    assert text_part == {"type": "text", "text": "Represent the given image."}


def test_openai_drop_images_embeds_the_text_alone(server: EmbeddingServer) -> None:
    (answer,) = run(openai(server, drop_images=True), [embed_image(IMAGES[0], "only this")])
    assert answer.embedding == EmbeddingServer.vector_of("only this")
    assert server.bodies == [{"model": "tiny-embedder", "input": "only this", "encoding_format": "float"}]


def test_openai_embed_retries_server_errors_then_succeeds(server: EmbeddingServer) -> None:
    model = openai(server)
    requests = [embed_text("flaky #fault=500"), embed_text("flakier #fault=500,503"), embed_text("fine")]
    answers = run(model, requests)
    assert [a.embedding for a in answers] == [EmbeddingServer.vector_of(r.messages[0].text) for r in requests]
    assert server.counts == {"flaky #fault=500": 2, "flakier #fault=500,503": 3, "fine": 1}
    assert model.last_stats.retries == 3 and model.last_stats.errors == 0

    (gave_up,) = run(openai(server, max_retries=1), [embed_text("broken #fault=500,500,500")])
    assert gave_up.error is not None and gave_up.error.startswith("gave up after 2 attempts: HTTP 500")
    assert "/v1/embeddings" in gave_up.error and gave_up.embedding is None


@pytest.mark.parametrize(
    ("server", "reason"),
    [("missing", "HTTP 404 from"), ("unsupported", "HTTP 501 from"), ("unsupported400", "HTTP 400 from")],
    indirect=["server"],
)
def test_an_endpoint_without_embeddings_is_one_clear_error_per_request(
    server: EmbeddingServer, reason: str
) -> None:
    requests = [embed_text(text) for text in TEXTS]
    answers = run(openai(server, concurrency=8), requests)
    errors = {answer.error for answer in answers}
    assert len(errors) == 1 and all(answer.embedding is None for answer in answers)
    (error,) = errors
    assert error is not None and error.startswith("embeddings are not supported by this endpoint")
    assert reason in error and f"POST {server.base_url}/embeddings" in error
    if server.mode.startswith("unsupported"):
        assert "does not support Embeddings API" in error  # the server's own words
        assert len(server.bodies) == 1  # one probe, not retried; the rest were not sent


@pytest.mark.parametrize("server", ["base64"], indirect=True)
def test_a_base64_vector_is_read_as_little_endian_float32(server: EmbeddingServer) -> None:
    (answer,) = run(openai(server), [embed_text("abc")])
    expected = struct.unpack("<5f", struct.pack("<5f", *EmbeddingServer.vector_of("abc")))
    assert answer.embedding == list(expected)


def test_openai_embed_through_the_responder_is_cached(tmp_path: Path, server: EmbeddingServer) -> None:
    model = openai(server)
    unique = keyed(model, [embed_text(text) for text in TEXTS])
    with Store(tmp_path / "s.sqlite") as store:
        first = Responder({"model": model}, store)(unique)
        again = Responder({"model": model}, store)
        assert again(unique) == first
    assert again.stats["model"].computed == 0 and len(server.bodies) == len(TEXTS)
    assert [first[key].embedding for key in unique] == [EmbeddingServer.vector_of(t) for t in TEXTS]
