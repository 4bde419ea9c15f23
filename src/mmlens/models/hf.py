"""The ``hf`` backend: Hugging Face transformers models, in process, batched.

``--model hf:<hub id or local folder> --model-args dtype=bfloat16,max_pixels=802816``

Any model that ``AutoModelForImageTextToText`` / ``AutoProcessor`` load is driven through its own
chat template and processor (no wrapper class per model); a text-only causal LM goes through
``AutoModelForCausalLM`` / ``AutoTokenizer`` (detected from the config, or ``kind=text``).

Batching: requests are grouped by settings, sorted by prompt length and run ``batch_size`` at a
time. Generation pads on the left; loglikelihood pads on the right, so that a row's positions and
causal attention are exactly those of the same row run alone. A batch that fails is retried one
request at a time, so one bad request gets an error response and the rest still complete.

Decoding: temperature 0 is greedy; otherwise each row samples with its own generator seeded by
its request's seed (``SeededSampler``), so a sample does not depend on which batch it ran in. The
model's generation_config is kept for everything else (e.g. a repetition penalty); its files are
part of the weights identity. Stop strings end a row early and are cut from the text.

Options (``HFArgs``): dtype, device, device_map, max_pixels (images shrunk to at most that many
pixels, aspect ratio kept, before the processor), batch_size, drop_images (strip images and
videos: the "same model without images" baseline), video_frames (pass N uniformly sampled frames
of a video as images; 0 refuses video), trust_remote_code, revision, attn_implementation, kind,
embedding (see below). All but device, device_map and batch_size are in the fingerprint (embedding
only when it is not ``auto``, so that the keys of models that predate it stay the same), with the
weights' identity (content hash of a local folder, cached by file size and mtime; the resolved
commit of a hub id).

Loglikelihood boundary: the prompt (chat template with the generation prompt) is encoded by the
processor exactly as for generation, the continuation is tokenized on its own (no special
tokens) and its ids are appended (the lm-evaluation-harness convention). This keeps the prompt's
tokens identical to what the model sees when generating, and scores the continuation tokens the
model would emit for that text. A request with ``continuation_ends_turn`` also scores the token
that closes the assistant's turn, found from the model's own chat template (``end_of_turn_token``).

Embeddings (``embed`` requests), by the ``embedding`` option:

- ``last_token`` (a causal LM or VLM, as VLM2Vec and E5-V do): the prompt is chat-formatted and
  encoded exactly as for generation (generation prompt included), run through the model's base
  (no LM head), and the final hidden state of the last real token, L2-normalised, is the vector.
  Batches pad on the right, like loglikelihood, so that every row's positions are those of the row
  alone; the last real token is found from the attention mask whichever side was padded
  (``last_real_token_positions``), so batched vectors equal unbatched ones.
- ``dual_encoder`` (CLIP, SigLIP and other zero-shot image classification models, through
  ``AutoModel`` + ``AutoProcessor``): a text-only request (its text parts joined by newlines, no
  chat template) goes through ``get_text_features``, a request of exactly one image and no text
  through ``get_image_features``; the features are L2-normalised. A text longer than the text tower
  takes is an error, not truncated. Such a model answers embed requests only.
- ``auto`` (default): ``dual_encoder`` when the config is neither image-text-to-text nor a causal
  LM but a zero-shot image classification (CLIP/SigLIP-like) model, ``last_token`` otherwise.

Rewards (``reward`` requests), from one of two kinds of reward model:

- a sequence-classification model with one label (``architectures`` names a
  ``...ForSequenceClassification``, or ``kind=reward``), loaded with
  ``AutoModelForSequenceClassification``: the head's logit is the reward. A text model's (Qwen2,
  Llama, ...) requests are text only (``drop_images=true`` strips the media); one of an image-text
  family (``Gemma3ForSequenceClassification``) gets the model's processor and reads the images.
- an image-text model (or a causal LM) with ``kind=reward`` and a scalar head in
  ``reward_head.safetensors`` beside its weights (``hf_reward_head``: MM-RLHF's dense-tanh-out_proj
  ``RewardHead``, or a linear ``score``): the head applied to the final hidden state (after the
  final norm) of the last token, as MM-RLHF's ``rm_forward`` reads it.

The request's messages are chat-formatted (with the generation prompt only when the last message is
not the assistant's) and encoded with their images as for generation. Each request runs unpadded on
its own, so that the head reads the row's true last token whatever the padding token is. A reward
model answers reward requests only.
"""

from __future__ import annotations

import copy
import inspect
import math
import random
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import NonNegativeInt, PositiveInt

from mmlens.core.errors import ConfigError, DataError, MmlensError
from mmlens.core.requests import GenerationSettings, Request, RequestKind, Response
from mmlens.models.base import Emit, Model, ModelArgs, models
from mmlens.models.hf_identity import library_versions, weights_identity
from mmlens.models.hf_media import ChatInput, MediaSettings, to_chat

if TYPE_CHECKING:
    import torch
    from PIL import Image as PILImage

    from mmlens.models.hf_reward_head import RewardHead

Kind = Literal["auto", "image-text", "text", "reward"]
EmbeddingMode = Literal["auto", "last_token", "dual_encoder"]
# last_token embeddings pad on the right (see the module docstring); the pooling reads either side.
EMBED_PADDING_SIDE: Literal["left", "right"] = "right"

# Options that never change an answer (batched results equal unbatched ones): kept out of the fingerprint.
ANSWER_NEUTRAL_ARGS = frozenset({"device", "device_map", "batch_size"})

# Per-token processor outputs, and the value given to appended continuation tokens (``None``: from hooks).
PER_TOKEN_INPUTS: dict[str, int | None] = {
    "input_ids": None,  # the continuation's own ids
    "attention_mask": 1,
    "token_type_ids": None,  # hf_hooks.CONTINUATION_TOKEN_TYPE
    "mm_token_type_ids": 0,
}
DROPPED_INPUTS = frozenset({"labels"})


class HFArgs(ModelArgs):
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: str = "auto"
    device_map: str | None = None
    max_pixels: PositiveInt | None = None
    batch_size: PositiveInt = 8
    drop_images: bool = False
    video_frames: NonNegativeInt = 0
    trust_remote_code: bool = False
    revision: str | None = None
    attn_implementation: str | None = None
    kind: Kind = "auto"
    embedding: EmbeddingMode = "auto"
    gguf_file: str | None = None  # a GGUF file in the model folder (or hub repo): transformers' gguf_file


@dataclass
class _Loaded:
    model: Any
    processor: Any  # a ProcessorMixin, or the tokenizer for a text-only model
    tokenizer: Any
    text_only: bool
    model_type: str
    context_limit: int | None
    stop_token_ids: frozenset[int]
    supports_logits_to_keep: bool
    embedding: Literal["last_token", "dual_encoder"] = "last_token"
    reward_model: bool = False
    reward_head: RewardHead | None = None  # an image-text model's scalar head (kind=reward)


@dataclass
class _Item:
    """One request, prepared: its chat-templated prompt, and its images once its batch is due."""

    index: int
    request: Request
    prompt: str
    chat: ChatInput
    add_special_tokens: bool = True
    end_of_turn: int | None = None  # the id scored after the continuation (continuation_ends_turn)
    images: list[PILImage.Image] = field(default_factory=list)
    videos: list[list[PILImage.Image]] = field(default_factory=list)  # a video processor's input


@models.register("hf")
class HFModel(Model):
    """Hugging Face transformers models in process (image-text-to-text or text-only causal LMs)."""

    backend = "hf"
    Args = HFArgs
    supported_kinds: ClassVar[frozenset[RequestKind]] = frozenset(
        {"generate", "loglikelihood", "embed", "reward"}
    )

    def __init__(self, name: str, args: ModelArgs) -> None:
        if not name:
            raise ConfigError("the hf backend needs a model: --model hf:<hub id or local folder>")
        missing = missing_hf_libraries()
        if missing:
            raise ConfigError(
                f"the hf backend needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
                "not installed: pip install 'mmlens[hf]'"
            )
        assert isinstance(args, HFArgs)
        path = Path(name).expanduser()
        if path.suffix == ".gguf" and args.gguf_file is None:  # hf:path/to/model.gguf
            if not path.is_file():
                raise ConfigError(f"hf model {name}: no such GGUF file")
            name, args = str(path.parent), args.model_copy(update={"gguf_file": path.name})
        if args.gguf_file is not None and "gguf" in missing_hf_libraries(("gguf",)):
            raise ConfigError("hf: loading a GGUF file needs the gguf package: pip install 'mmlens[hf]'")
        super().__init__(name, args)
        self._loaded: _Loaded | None = None
        self._weights_identity: dict[str, Any] | None = None

    @property
    def hf_args(self) -> HFArgs:
        assert isinstance(self.args, HFArgs)
        return self.args

    # -- identity -----------------------------------------------------------------------------

    def fingerprint(self) -> dict[str, Any]:
        if self._weights_identity is None:
            args = self.hf_args
            self._weights_identity = weights_identity(self.name, args.revision, args.gguf_file)
        answer_args = {
            key: value
            for key, value in self.hf_args.model_dump(mode="json").items()
            if key not in ANSWER_NEUTRAL_ARGS
        }
        if answer_args.get("embedding") == "auto":
            del answer_args["embedding"]  # only when set: the keys of models that predate it stay the same
        if answer_args.get("gguf_file") is None:
            answer_args.pop("gguf_file", None)
        return {
            "backend": self.backend,
            "weights": self._weights_identity,
            "args": answer_args,
            # the libraries that compute the answers: an upgrade is another model, never a stale answer
            "versions": library_versions(),
        }

    # -- loading ------------------------------------------------------------------------------

    def load(self) -> _Loaded:
        if self._loaded is None:
            self._loaded = _load(self.name, self.hf_args)
        return self._loaded

    def close(self) -> None:
        if self._loaded is not None:
            self._loaded = None
            import gc

            gc.collect()
            _release_accelerator_memory()

    # -- processing ---------------------------------------------------------------------------

    def process(self, requests: Sequence[Request], emit: Emit) -> None:
        loaded = self.load()
        by_kind: dict[RequestKind, list[_Item]] = {
            "generate": [],
            "loglikelihood": [],
            "embed": [],
            "reward": [],
        }
        for index, request in enumerate(requests):
            try:
                if loaded.reward_model or request.kind == "reward":
                    item = self._prepare_reward(loaded, index, request)
                elif loaded.embedding == "dual_encoder":
                    item = self._prepare_dual_encoder(loaded, index, request)
                else:
                    item = self._prepare(loaded, index, request)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as error:
                emit(index, Response(error=describe_error(error)))
                continue
            by_kind[request.kind].append(item)
        generate, loglikelihood = by_kind["generate"], by_kind["loglikelihood"]

        for batch in self._batches(generate, _generation_group):
            self._run_safely(
                self._with_images(batch, emit), lambda items: _generate_batch(loaded, items), emit
            )
        for batch in self._batches(loglikelihood, _loglikelihood_group):
            self._run_safely(
                self._with_images(batch, emit), lambda items: _loglikelihood_batch(loaded, items), emit
            )
        if loaded.embedding == "dual_encoder":
            embed_group, embed_batch = _dual_encoder_group, _dual_encoder_batch
        else:
            embed_group, embed_batch = _embed_group, _embed_batch
        for batch in self._batches(by_kind["embed"], embed_group):
            self._run_safely(self._with_images(batch, emit), lambda items: embed_batch(loaded, items), emit)
        for item in by_kind["reward"]:
            self._run_safely(
                self._with_images([item], emit), lambda items: _reward_batch(loaded, items), emit
            )

    @staticmethod
    def _with_images(batch: list[_Item], emit: Emit) -> list[_Item]:
        """The batch's items with their images decoded; an unreadable one gets its error response."""
        ready = []
        for item in batch:
            try:
                item.images = item.chat.load_images()
                item.videos = item.chat.load_videos()
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as error:
                emit(item.index, Response(error=describe_error(error)))
                continue
            ready.append(item)
        return ready

    def _prepare(self, loaded: _Loaded, index: int, request: Request) -> _Item:
        if request.kind == "loglikelihood" and not request.continuation:
            raise DataError("loglikelihood request without a continuation")
        chat = to_chat(request.messages, self._media_settings(loaded))
        prompt = loaded.processor.apply_chat_template(
            chat.messages,
            add_generation_prompt=True,
            tokenize=False,
            **dict(request.settings.chat_template_kwargs),  # --gen-args enable_thinking=false
        )
        bos = loaded.tokenizer.bos_token
        # Like transformers' own apply_chat_template(tokenize=True): a template that writes the BOS
        # itself must not get a second one from the tokenizer.
        add_special_tokens = not (bos is not None and prompt.startswith(bos))
        end_of_turn = None
        if request.kind == "loglikelihood" and request.continuation_ends_turn:
            assert request.continuation is not None
            end_of_turn = end_of_turn_token(loaded, chat.messages, request.continuation)
        return _Item(index, request, prompt, chat, add_special_tokens, end_of_turn)

    def _prepare_reward(self, loaded: _Loaded, index: int, request: Request) -> _Item:
        if not loaded.reward_model:
            raise MmlensError(
                f"hf model {self.name!r} ({loaded.model_type}) is not a reward model: a reward request needs "
                "a sequence-classification model with one label, or an image-text model with a "
                "reward_head.safetensors (kind=reward)"
            )
        if request.kind != "reward":
            raise MmlensError(f"hf model {self.name!r} is a reward model: it answers reward requests only")
        try:
            chat = to_chat(request.messages, self._media_settings(loaded))
        except DataError:
            if not loaded.text_only:  # a multimodal reward model: the media's own error (a video, a decoder)
                raise
            raise DataError(
                f"the hf reward model {self.name!r} ({loaded.model_type}) reads text only and this request "
                "has images or video: set drop_images=true to score without them, or use a multimodal reward "
                "model (an image-text model with reward_head.safetensors, kind=reward)"
            ) from None
        add_generation_prompt = not request.messages or request.messages[-1].role != "assistant"
        prompt = loaded.processor.apply_chat_template(
            chat.messages, add_generation_prompt=add_generation_prompt, tokenize=False
        )
        bos = loaded.tokenizer.bos_token
        add_special_tokens = not (bos is not None and prompt.startswith(bos))
        return _Item(index, request, prompt, chat, add_special_tokens)

    def _media_settings(self, loaded: _Loaded) -> MediaSettings:
        return MediaSettings(
            max_pixels=self.hf_args.max_pixels,
            drop_images=self.hf_args.drop_images,
            video_frames=self.hf_args.video_frames,
            text_only_model=loaded.text_only,
            native_video=getattr(loaded.processor, "video_processor", None) is not None,
        )

    def _prepare_dual_encoder(self, loaded: _Loaded, index: int, request: Request) -> _Item:
        """A dual encoder embeds a text (the request's text parts, joined) or one image, not both."""
        if request.kind != "embed":
            raise MmlensError(
                f"hf model {self.name!r} is a dual encoder (embedding=dual_encoder, {loaded.model_type}): "
                f"it answers embed requests only, not {request.kind}"
            )
        chat = to_chat(request.messages, self._media_settings(loaded))
        text = chat.text()
        if chat.media and text.strip():
            raise DataError(
                "a dual encoder embeds either a text or one image; this request has both (send the image "
                "alone, or use an embedding model that reads both, with embedding=last_token)"
            )
        if chat.image_count > 1:
            raise DataError(f"a dual encoder embeds one image at a time; this request has {chat.image_count}")
        if not chat.media and not text.strip():
            raise DataError("embed request with nothing to embed (no text and no image)")
        return _Item(index, request, "" if chat.media else text, chat)

    def _batches(
        self, items: list[_Item], group_key: Callable[[_Item], tuple[Any, ...]]
    ) -> Iterator[list[_Item]]:
        """Batches of requests with the same settings and similar prompt lengths."""
        groups: dict[tuple[Any, ...], list[_Item]] = defaultdict(list)
        for item in items:
            groups[group_key(item)].append(item)
        size = self.hf_args.batch_size
        for group in groups.values():
            group.sort(key=lambda item: (item.chat.image_count, len(item.prompt)))
            for start in range(0, len(group), size):
                yield group[start : start + size]

    @staticmethod
    def _run_safely(batch: list[_Item], run: Callable[[list[_Item]], list[Response]], emit: Emit) -> None:
        """Run a batch; if it fails, run its requests one by one so only the bad ones get errors."""
        if not batch:
            return
        try:
            responses = run(batch)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as error:
            if len(batch) == 1:
                emit(batch[0].index, Response(error=describe_error(error)))
                return
            _release_accelerator_memory()
            for item in batch:
                HFModel._run_safely([item], run, emit)
            return
        for item, response in zip(batch, responses, strict=True):
            item.images, item.videos = [], []  # answered: let the decoded images go
            emit(item.index, response)


# -- batches ----------------------------------------------------------------------------------


def _generation_group(item: _Item) -> tuple[Any, ...]:
    settings = item.request.settings
    return ("generate", _settings_key(settings), item.add_special_tokens, bool(item.chat.media))


def _loglikelihood_group(item: _Item) -> tuple[Any, ...]:
    return ("loglikelihood", item.add_special_tokens, bool(item.chat.media))


def _embed_group(item: _Item) -> tuple[Any, ...]:
    return ("embed", item.add_special_tokens, bool(item.chat.media))


def _dual_encoder_group(item: _Item) -> tuple[Any, ...]:
    return ("embed", bool(item.chat.media))


def _settings_key(settings: GenerationSettings) -> tuple[Any, ...]:
    # The seed is not part of the key: each row samples with its own generator.
    return (settings.max_new_tokens, settings.temperature, settings.top_p, settings.stop)


def _encode(loaded: _Loaded, items: list[_Item], padding_side: Literal["left", "right"]) -> Any:
    kwargs: dict[str, Any] = {
        "text": [item.prompt for item in items],
        "padding": True,
        "padding_side": padding_side,
        "return_tensors": "pt",
        "add_special_tokens": items[0].add_special_tokens,
    }
    if any(item.images for item in items):
        kwargs["images"] = [item.images for item in items]
    if any(item.videos for item in items):
        kwargs["videos"] = [video for item in items for video in item.videos]
    encoded = loaded.processor(**kwargs)
    return encoded


def _split_too_long(
    loaded: _Loaded, items: list[_Item], lengths: list[int], budgets: list[int]
) -> tuple[list[_Item], dict[int, Response]]:
    """Requests that fit the model's context, and error responses for those that don't."""
    if loaded.context_limit is None:
        return items, {}
    fitting: list[_Item] = []
    errors: dict[int, Response] = {}
    for item, length, budget in zip(items, lengths, budgets, strict=True):
        if length + budget > loaded.context_limit:
            wanted = (
                f"{length} prompt tokens + {budget} to generate or score exceed"
                if budget
                else (f"{length} prompt tokens exceed")
            )
            errors[item.index] = Response(
                error=f"request too long: {wanted} the model's context of {loaded.context_limit} tokens"
            )
        else:
            fitting.append(item)
    return fitting, errors


def _with_errors_split(
    loaded: _Loaded,
    items: list[_Item],
    encoded: Any,
    budgets: list[int],
    run_again: Callable[[list[_Item]], list[Response]],
) -> list[Response] | None:
    """If some rows are too long: their errors plus the others run again; else None."""
    lengths = encoded["attention_mask"].sum(dim=1).tolist()
    fitting, errors = _split_too_long(loaded, items, lengths, budgets)
    if not errors:
        return None
    answered = dict(zip((item.index for item in fitting), run_again(fitting) if fitting else [], strict=True))
    return [errors.get(item.index) or answered[item.index] for item in items]


def _generate_batch(loaded: _Loaded, items: list[_Item]) -> list[Response]:
    import torch
    from transformers import LogitsProcessorList

    settings = items[0].request.settings
    encoded = _encode(loaded, items, "left")
    split = _with_errors_split(
        loaded,
        items,
        encoded,
        [settings.max_new_tokens] * len(items),
        lambda rest: _generate_batch(loaded, rest),
    )
    if split is not None:
        return split
    inputs = _model_inputs(loaded, encoded)
    prompt_width = inputs["input_ids"].shape[1]

    generation_config = copy.deepcopy(loaded.model.generation_config)
    # The request decides decoding: greedy, or our per-row seeded sampler (see SeededSampler).
    generation_config.update(
        do_sample=False,
        num_beams=1,
        temperature=None,
        top_p=None,
        top_k=None,
        min_p=None,
        max_new_tokens=settings.max_new_tokens,
        pad_token_id=loaded.tokenizer.pad_token_id,
        stop_strings=list(settings.stop) or None,
    )
    logits_processor = LogitsProcessorList()
    if settings.temperature > 0:
        seeds = [_seed_for(item.request.settings) for item in items]
        logits_processor.append(SeededSampler(settings.temperature, settings.top_p, seeds))
    with torch.inference_mode():
        output = loaded.model.generate(
            **inputs,
            generation_config=generation_config,
            logits_processor=logits_processor,
            tokenizer=loaded.tokenizer if settings.stop else None,
        )
    new_tokens = output[:, prompt_width:].tolist()
    prompt_tokens = encoded["attention_mask"].sum(dim=1).tolist()
    return [
        _generation_response(loaded, ids, settings.stop, int(count))
        for ids, count in zip(new_tokens, prompt_tokens, strict=True)
    ]


def _generation_response(
    loaded: _Loaded, ids: list[int], stop: tuple[str, ...], prompt_tokens: int
) -> Response:
    end = next((i for i, token in enumerate(ids) if token in loaded.stop_token_ids), None)
    kept = ids if end is None else ids[:end]
    completion_tokens = len(ids) if end is None else end + 1
    text = loaded.tokenizer.decode(kept, skip_special_tokens=True)
    text = truncate_at_stop(text, stop)
    return Response(text=text, usage={"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens})


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """The text before the earliest occurrence of any stop string."""
    cut = min((position for s in stop if s and (position := text.find(s)) >= 0), default=len(text))
    return text[:cut]


def _loglikelihood_batch(loaded: _Loaded, items: list[_Item]) -> list[Response]:
    import torch

    encoded = _encode(loaded, items, "right")
    continuations = [
        loaded.tokenizer(item.request.continuation, add_special_tokens=False)["input_ids"]
        + ([] if item.end_of_turn is None else [item.end_of_turn])
        for item in items
    ]
    split = _with_errors_split(
        loaded,
        items,
        encoded,
        [len(c) for c in continuations],
        lambda rest: _loglikelihood_batch(loaded, rest),
    )
    if split is not None:
        return split
    prompt_lengths = [int(n) for n in encoded["attention_mask"].sum(dim=1).tolist()]
    inputs = _append_continuations(loaded, encoded, prompt_lengths, continuations)
    width = inputs["input_ids"].shape[1]
    # Logits only from the earliest position that predicts a continuation token to the end.
    keep = width - min(prompt_lengths) + 1
    extra = {"logits_to_keep": keep} if loaded.supports_logits_to_keep else {}
    with torch.inference_mode():
        logits = loaded.model(**_model_inputs(loaded, inputs), use_cache=False, **extra).logits
    offset = width - logits.shape[1]
    responses = []
    for row, (start, tokens) in enumerate(zip(prompt_lengths, continuations, strict=True)):
        positions = torch.arange(start - 1, start - 1 + len(tokens), device=logits.device) - offset
        row_logits = logits[row, positions].float()
        log_probs = torch.log_softmax(row_logits, dim=-1)
        targets = torch.tensor(tokens, device=logits.device)
        total = log_probs.gather(1, targets[:, None]).sum().item()
        is_greedy = bool((row_logits.argmax(dim=-1) == targets).all().item())
        responses.append(
            Response(
                logprob=float(total),
                is_greedy=is_greedy,
                usage={"prompt_tokens": start, "completion_tokens": len(tokens)},
            )
        )
    return responses


def last_real_token_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Each row's last position whose attention mask is 1, whether the batch was padded left or right."""
    width = attention_mask.shape[1]
    return width - 1 - attention_mask.flip(dims=[1]).long().argmax(dim=1)


def _embed_batch(loaded: _Loaded, items: list[_Item]) -> list[Response]:
    """last_token embeddings: the final hidden state of each row's last real token, L2-normalised."""
    import torch

    encoded = _encode(loaded, items, EMBED_PADDING_SIDE)
    split = _with_errors_split(
        loaded, items, encoded, [0] * len(items), lambda rest: _embed_batch(loaded, rest)
    )
    if split is not None:
        return split
    hidden = _last_hidden_state(loaded, _model_inputs(loaded, encoded))
    mask = encoded["attention_mask"]
    positions = last_real_token_positions(mask).to(hidden.device)
    rows = torch.arange(len(items), device=hidden.device)
    vectors = _normalised(hidden[rows, positions])
    lengths = mask.sum(dim=1).tolist()
    return [
        Response(embedding=vector, usage={"prompt_tokens": int(length)})
        for vector, length in zip(vectors, lengths, strict=True)
    ]


def _reward_batch(loaded: _Loaded, items: list[_Item]) -> list[Response]:
    """Each request's reward, run unpadded one at a time: a sequence-classification model's logit,
    or an image-text model's reward head on the last token's final hidden state."""
    import torch

    responses = []
    for item in items:
        if loaded.text_only:
            encoded = loaded.tokenizer(
                item.prompt, return_tensors="pt", add_special_tokens=item.add_special_tokens
            )
        else:
            encoded = _encode(loaded, [item], "right")  # one row: nothing is padded
        length = int(encoded["input_ids"].shape[1])
        if loaded.context_limit is not None and length > loaded.context_limit:
            raise DataError(
                f"the reward prompt has {length} tokens, more than the model's {loaded.context_limit}"
            )
        inputs = _model_inputs(loaded, encoded)
        if loaded.reward_head is not None:
            # MM-RLHF rm_forward: rm_head(hidden_states[-1]) read at the last position (llava_qwen.py:120-131)
            hidden = _last_hidden_state(loaded, inputs)[0, -1]
            with torch.inference_mode():
                reward = loaded.reward_head(hidden)[0]
        else:
            with torch.inference_mode():
                reward = loaded.model(**inputs, use_cache=False).logits[0, 0]
        responses.append(Response(reward=float(reward.float()), usage={"prompt_tokens": length}))
    return responses


def _last_hidden_state(loaded: _Loaded, inputs: dict[str, Any]) -> torch.Tensor:
    """The final layer's output (after the final norm) at every position.

    The model's base (without the LM head) gives it as ``last_hidden_state``; equal to the full
    model's ``hidden_states[-1]``, which is the fallback for a model whose base does not say."""
    import torch

    model = loaded.model
    with torch.inference_mode():
        base = getattr(model, "base_model", model)
        if base is not model:
            hidden = getattr(base(**inputs, use_cache=False), "last_hidden_state", None)
            if isinstance(hidden, torch.Tensor):
                return hidden
        extra = {"logits_to_keep": 1} if loaded.supports_logits_to_keep else {}
        output = model(**inputs, use_cache=False, output_hidden_states=True, **extra)
        return output.hidden_states[-1]


def _normalised(features: torch.Tensor) -> list[list[float]]:
    import torch

    vectors = torch.nn.functional.normalize(features.float(), dim=-1)
    result: list[list[float]] = vectors.cpu().tolist()
    return result


def _features(output: Any) -> torch.Tensor:
    """``get_*_features`` returns the projected features (transformers 4) or an output holding them
    as ``pooler_output`` (transformers 5)."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    features = getattr(output, "pooler_output", None)
    if not isinstance(features, torch.Tensor):
        raise MmlensError("dual encoder: get_text_features/get_image_features returned no features")
    return features


def _dual_encoder_batch(loaded: _Loaded, items: list[_Item]) -> list[Response]:
    """Dual-encoder embeddings of a batch of images or of texts (never mixed: see the group key)."""
    import torch

    if items[0].chat.media:
        encoded = loaded.processor.image_processor(
            images=[item.images[0] for item in items], return_tensors="pt"
        )
        with torch.inference_mode():
            features = _features(loaded.model.get_image_features(**_model_inputs(loaded, encoded)))
        return [Response(embedding=vector) for vector in _normalised(features)]

    from mmlens.models.hf_hooks import DUAL_ENCODER_TEXT_PADDING

    texts = [item.prompt for item in items]
    lengths = [len(ids) for ids in loaded.tokenizer(texts, verbose=False)["input_ids"]]
    fitting, errors = _split_too_long(loaded, items, lengths, [0] * len(items))
    length_of = {item.index: length for item, length in zip(items, lengths, strict=True)}
    answered: dict[int, Response] = {}
    if fitting:
        padding = DUAL_ENCODER_TEXT_PADDING.get(loaded.model_type, True)
        kwargs: dict[str, Any] = {"padding": padding, "return_tensors": "pt"}
        if padding == "max_length":
            kwargs["max_length"] = loaded.context_limit
        encoded = loaded.tokenizer([item.prompt for item in fitting], **kwargs)
        with torch.inference_mode():
            features = _features(loaded.model.get_text_features(**_model_inputs(loaded, encoded)))
        for item, vector in zip(fitting, _normalised(features), strict=True):
            answered[item.index] = Response(embedding=vector, usage={"prompt_tokens": length_of[item.index]})
    return [errors.get(item.index) or answered[item.index] for item in items]


def end_of_turn_token(loaded: _Loaded, messages: list[dict[str, Any]], continuation: str) -> int:
    """The first token that closes the assistant's turn after ``continuation``, per the chat template.

    The conversation is rendered with the continuation as the assistant's (closed) message; what the
    template writes after the continuation's text is tokenized and its first token taken. Leading
    whitespace is skipped: templates such as llava-hf's write a space after every message's text,
    which is layout, not the token the model was trained to end its reply with. A template that
    writes nothing after the reply (or a text not found in the rendering) gives the tokenizer's EOS.
    """
    content: Any = continuation if loaded.text_only else [{"type": "text", "text": continuation}]
    rendered = loaded.processor.apply_chat_template(
        [*messages, {"role": "assistant", "content": content}], add_generation_prompt=False, tokenize=False
    )
    closing = _text_after(rendered, continuation).lstrip()
    ids = loaded.tokenizer(closing, add_special_tokens=False)["input_ids"] if closing else []
    if ids:
        return int(ids[0])
    if loaded.tokenizer.eos_token_id is None:
        raise MmlensError(
            "end-of-turn likelihood: the chat template writes nothing after the assistant's reply and "
            "the tokenizer has no EOS token"
        )
    return int(loaded.tokenizer.eos_token_id)


def _text_after(rendered: str, continuation: str) -> str:
    """What follows the last occurrence of the continuation (templates may trim it) in ``rendered``."""
    for text in (continuation, continuation.strip()):
        position = rendered.rfind(text) if text else -1
        if position >= 0:
            return rendered[position + len(text) :]
    return ""


def _append_continuations(
    loaded: _Loaded, encoded: Any, prompt_lengths: list[int], continuations: list[list[int]]
) -> dict[str, Any]:
    """Right-padded inputs with each row's continuation ids right after its prompt."""
    import torch

    input_ids = encoded["input_ids"]
    batch, prompt_width = input_ids.shape
    width = max(p + len(c) for p, c in zip(prompt_lengths, continuations, strict=True))
    result: dict[str, Any] = {}
    for key, value in encoded.items():
        if key in DROPPED_INPUTS:
            continue
        is_per_token = isinstance(value, torch.Tensor) and tuple(value.shape) == (batch, prompt_width)
        if key not in PER_TOKEN_INPUTS:
            if is_per_token:
                raise MmlensError(
                    f"hf backend: don't know how to extend the processor's {key!r} for loglikelihood"
                )
            result[key] = value
            continue
        pad = loaded.tokenizer.pad_token_id if key == "input_ids" else 0
        extended = value.new_full((batch, width), pad)
        for row, (start, tokens) in enumerate(zip(prompt_lengths, continuations, strict=True)):
            extended[row, :start] = value[row, :start]
            extended[row, start : start + len(tokens)] = torch.tensor(
                tokens if key == "input_ids" else [_continuation_value(loaded, key)] * len(tokens),
                dtype=value.dtype,
            )
        result[key] = extended
    return result


def _continuation_value(loaded: _Loaded, key: str) -> int:
    if key == "token_type_ids":
        from mmlens.models.hf_hooks import CONTINUATION_TOKEN_TYPE

        return CONTINUATION_TOKEN_TYPE.get(loaded.model_type, 0)
    value = PER_TOKEN_INPUTS[key]
    assert value is not None
    return value


def _model_inputs(loaded: _Loaded, encoded: Any) -> dict[str, Any]:
    """Processor outputs on the model's device, floating point ones in the model's dtype."""
    import torch

    device = loaded.model.device
    dtype = loaded.model.dtype
    inputs: dict[str, Any] = {}
    for key, value in dict(encoded).items():
        if key in DROPPED_INPUTS:
            continue
        if isinstance(value, torch.Tensor):
            value = value.to(device=device, dtype=dtype) if value.is_floating_point() else value.to(device)
        inputs[key] = value
    return inputs


# -- sampling ---------------------------------------------------------------------------------


def _seed_for(settings: GenerationSettings) -> int:
    return settings.seed if settings.seed is not None else random.SystemRandom().getrandbits(63)


class SeededSampler:
    """Samples each row with its own seeded generator, so a request's sample does not depend on its batch.

    Used as the last logits processor with greedy decoding: it draws a token per row (temperature,
    nucleus top_p) and leaves only that token possible.
    """

    def __init__(self, temperature: float, top_p: float, seeds: list[int]) -> None:
        self.temperature = temperature
        self.top_p = top_p
        self.seeds = seeds
        self._generators: list[torch.Generator] | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        if self._generators is None:
            self._generators = [torch.Generator(device=scores.device).manual_seed(s) for s in self.seeds]
        logits = scores.float() / self.temperature
        if self.top_p < 1.0:
            sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
            cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
            # Drop a token when the tokens ranked above it already reach top_p (the first always stays).
            drop_sorted = (cumulative - torch.softmax(sorted_logits, dim=-1)) >= self.top_p
            drop = drop_sorted.scatter(1, order, drop_sorted)
            logits = logits.masked_fill(drop, -math.inf)
        probs = torch.softmax(logits, dim=-1)
        chosen = torch.cat(
            [torch.multinomial(probs[row], 1, generator=gen) for row, gen in enumerate(self._generators)]
        )
        result = torch.full_like(scores, -math.inf)
        result.scatter_(1, chosen[:, None], 0.0)
        return result


# -- loading ----------------------------------------------------------------------------------


def _torch_if_imported() -> Any:
    import sys

    return sys.modules.get("torch")


def _release_accelerator_memory() -> None:
    torch_module = _torch_if_imported()
    if torch_module is not None and torch_module.cuda.is_available():
        torch_module.cuda.empty_cache()


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def detect_kind(config: Any) -> Literal["image-text", "text"] | None:
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES,
    )

    auto_map = getattr(config, "auto_map", None) or {}
    if (
        config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
        or "AutoModelForImageTextToText" in auto_map
    ):
        return "image-text"
    if config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or "AutoModelForCausalLM" in auto_map:
        return "text"
    return None


def is_dual_encoder_config(config: Any) -> bool:
    """A CLIP/SigLIP-like model: text and image towers with ``get_text_features``/``get_image_features``
    (transformers files them as zero-shot image classification models)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_ZERO_SHOT_IMAGE_CLASSIFICATION_MAPPING_NAMES

    auto_map = getattr(config, "auto_map", None) or {}
    return (
        config.model_type in MODEL_FOR_ZERO_SHOT_IMAGE_CLASSIFICATION_MAPPING_NAMES
        or "AutoModelForZeroShotImageClassification" in auto_map
    )


def embedding_mode(config: Any, args: HFArgs) -> Literal["last_token", "dual_encoder"]:
    """How this model embeds: the ``embedding`` option, or for ``auto`` what the config says."""
    if args.embedding != "auto":
        return args.embedding
    if args.kind == "auto" and detect_kind(config) is None and is_dual_encoder_config(config):
        return "dual_encoder"
    return "last_token"


def is_reward_config(config: Any, args: HFArgs) -> bool:
    """A sequence-classification model with one label (``kind=reward``, or what ``auto`` reads)."""
    if args.kind == "reward":
        return True
    return args.kind == "auto" and _is_sequence_classification(config)


def _is_sequence_classification(config: Any) -> bool:
    architectures = getattr(config, "architectures", None) or []
    return any(str(a).endswith("ForSequenceClassification") for a in architectures)


def head_reward_kind(config: Any, args: HFArgs) -> Literal["image-text", "text"] | None:
    """With ``kind=reward`` on an image-text model or a causal LM that is not a sequence classifier:
    its kind (the model plus its ``reward_head.safetensors``, ``hf_reward_head``); else None."""
    if args.kind != "reward" or _is_sequence_classification(config):
        return None
    return detect_kind(config)


def _load_reward(
    name: str, config: Any, args: HFArgs, hub_kwargs: dict[str, Any], model_kwargs: dict[str, Any]
) -> _Loaded:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from mmlens.models.hf_hooks import load_processor

    if getattr(config, "num_labels", 1) != 1:
        raise ConfigError(
            f"hf model {name!r}: a reward model has one label; this one has {config.num_labels}"
        )
    try:
        model: Any
        model, loading = AutoModelForSequenceClassification.from_pretrained(
            name, output_loading_info=True, **model_kwargs
        )
        # an image-text family's classifier (Gemma 3) reads images through the model's processor
        image_text = detect_kind(config) == "image-text"
        processor: Any = load_processor(name, **hub_kwargs) if image_text else None
        tokenizer = processor.tokenizer if image_text else AutoTokenizer.from_pretrained(name, **hub_kwargs)
    except (OSError, ValueError, ImportError, KeyError, RuntimeError, TypeError) as error:
        raise ConfigError(f"hf model {name!r}: cannot load it as a reward model: {one_line(error)}") from None
    missing = sorted(loading.get("missing_keys") or [])
    if missing:  # e.g. kind=reward on a checkpoint without a classification head: a random one
        shown = ", ".join(missing[:4]) + (" ..." if len(missing) > 4 else "")
        raise ConfigError(
            f"hf model {name!r}: its weights lack {shown}; "
            "a reward model's head would be random (a causal LM or VLM takes its head from "
            "reward_head.safetensors, see mmlens.models.hf_reward_head)"
        )
    if not args.device_map:
        model.to(resolve_device(args.device))
    model.eval()
    if getattr(processor or tokenizer, "chat_template", None) is None:
        raise ConfigError(f"hf model {name!r} has no chat template; mmlens sends chat messages")
    text_config = config.get_text_config()
    return _Loaded(
        model=model,
        processor=processor or tokenizer,
        tokenizer=tokenizer,
        text_only=not image_text,
        model_type=config.model_type,
        context_limit=getattr(text_config, "max_position_embeddings", None),
        stop_token_ids=frozenset(),
        supports_logits_to_keep=False,
        reward_model=True,
    )


def _load_dual_encoder(
    name: str, config: Any, args: HFArgs, hub_kwargs: dict[str, Any], model_kwargs: dict[str, Any]
) -> _Loaded:
    from transformers import AutoModel

    from mmlens.models.hf_hooks import load_processor

    model: Any = AutoModel.from_pretrained(name, **model_kwargs)
    if not (hasattr(model, "get_text_features") and hasattr(model, "get_image_features")):
        raise ConfigError(
            f"hf model {name!r} ({config.model_type}) is not a dual encoder: it has no get_text_features/"
            "get_image_features (use embedding=last_token for a causal LM or VLM)"
        )
    if not args.device_map:
        model.to(resolve_device(args.device))
    model.eval()
    processor = load_processor(name, **hub_kwargs)
    tokenizer = getattr(processor, "tokenizer", None)
    if tokenizer is None or getattr(processor, "image_processor", None) is None:
        raise ConfigError(
            f"hf model {name!r}: a dual encoder needs a processor with a tokenizer and an image processor"
        )
    text_config = config.get_text_config()
    return _Loaded(
        model=model,
        processor=processor,
        tokenizer=tokenizer,
        text_only=False,
        model_type=config.model_type,
        context_limit=getattr(text_config, "max_position_embeddings", None),
        stop_token_ids=frozenset(),
        supports_logits_to_keep=False,
        embedding="dual_encoder",
    )


def _load(name: str, args: HFArgs) -> _Loaded:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    from mmlens.models.hf_hooks import load_processor

    if not sys.stderr.isatty():  # no "Loading weights" bars in logs and pipes (mmlens has its own)
        transformers_logging.disable_progress_bar()
    hub_kwargs: dict[str, Any] = {"trust_remote_code": args.trust_remote_code}
    if args.revision:
        hub_kwargs["revision"] = args.revision
    if args.gguf_file:
        hub_kwargs["gguf_file"] = args.gguf_file
    try:
        config = AutoConfig.from_pretrained(name, **hub_kwargs)
    except (OSError, ValueError, ImportError) as error:
        raise ConfigError(f"hf model {name!r}: cannot load its config: {one_line(error)}") from None
    model_kwargs: dict[str, Any] = dict(hub_kwargs)
    model_kwargs["dtype"] = args.dtype if args.dtype == "auto" else getattr(torch, args.dtype)
    if args.attn_implementation:
        model_kwargs["attn_implementation"] = args.attn_implementation
    if args.device_map:
        model_kwargs["device_map"] = args.device_map
    head_kind = head_reward_kind(config, args)
    head_reward = head_kind is not None
    if is_reward_config(config, args) and not head_reward:
        return _load_reward(name, config, args, hub_kwargs, model_kwargs)
    if embedding_mode(config, args) == "dual_encoder":
        return _load_dual_encoder(name, config, args, hub_kwargs, model_kwargs)
    kind = head_kind or (detect_kind(config) if args.kind == "auto" else args.kind)
    if kind is None:
        raise ConfigError(
            f"hf model {name!r}: model type {config.model_type!r} is neither image-text-to-text nor a causal "
            "LM in this transformers version (set kind=image-text or kind=text to force one)"
        )
    model_class = AutoModelForImageTextToText if kind == "image-text" else AutoModelForCausalLM
    try:
        model: Any = model_class.from_pretrained(name, **model_kwargs)
    except (OSError, ValueError, ImportError, KeyError, RuntimeError) as error:
        raise ConfigError(f"hf model {name!r}: cannot load its weights: {one_line(error)}") from None
    if not args.device_map:
        model.to(resolve_device(args.device))
    model.eval()

    try:
        if kind == "image-text":
            processor = load_processor(name, **hub_kwargs)
        else:
            processor = AutoTokenizer.from_pretrained(name, **hub_kwargs)
    except (OSError, ValueError, ImportError, TypeError, KeyError) as error:
        if kind == "image-text":
            raise ConfigError(
                f"hf model {name!r}: cannot load its processor ({one_line(error)}); {PROCESSOR_HINT}"
            ) from None
        raise ConfigError(f"hf model {name!r}: cannot load its tokenizer: {one_line(error)}") from None
    if kind == "image-text":
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is None or getattr(processor, "image_processor", None) is None:
            raise ConfigError(
                f"hf model {name!r} is an image-text model ({config.model_type}) but its processor is a "
                f"bare {type(processor).__name__}, without an image processor; {PROCESSOR_HINT}"
            )
    else:
        tokenizer = processor
    if getattr(processor, "chat_template", None) is None:
        raise ConfigError(f"hf model {name!r} has no chat template; mmlens sends chat messages")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token

    generation_config = model.generation_config
    stop_ids = {tokenizer.pad_token_id, tokenizer.eos_token_id, *_as_list(generation_config.eos_token_id)}
    text_config = config.get_text_config()
    forward_parameters = inspect.signature(model.forward).parameters
    reward_head = None
    if head_reward:
        from mmlens.models.hf_reward_head import load_reward_head

        reward_head = load_reward_head(name, args.revision, model)
    return _Loaded(
        model=model,
        processor=processor,
        tokenizer=tokenizer,
        text_only=kind == "text",
        model_type=config.model_type,
        context_limit=getattr(text_config, "max_position_embeddings", None),
        stop_token_ids=frozenset(i for i in stop_ids if i is not None),
        supports_logits_to_keep="logits_to_keep" in forward_parameters,
        reward_model=head_reward,
        reward_head=reward_head,
    )


PROCESSOR_HINT = (
    "an image-text model needs its full processor in the folder: AutoProcessor.from_pretrained(<hub "
    "id>).save_pretrained(<folder>) writes it (preprocessor_config.json, processor_config.json)"
)


def missing_hf_libraries(names: Sequence[str] = ("torch", "transformers")) -> list[str]:
    """Which of ``names`` cannot be imported (looked up, not imported)."""
    import importlib.util

    missing = []
    for module in names:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a module set to None in sys.modules, a blocked import
            found = False
        if not found:
            missing.append(module)
    return missing


def _as_list(value: int | list[int] | None) -> list[int]:
    if value is None:
        return []
    return [value] if isinstance(value, int) else list(value)


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def describe_error(error: BaseException) -> str:
    if isinstance(error, MmlensError):
        return str(error)
    return f"{type(error).__name__}: {one_line(error)}"


__all__ = ["HFArgs", "HFModel", "SeededSampler", "truncate_at_stop", "weights_identity"]
