"""The one model protocol every backend implements, the backend registry and model specs.

A backend receives requests and emits each response as soon as it has it; it decides its own
batch size and concurrency. Backend modules import heavy libraries (torch, transformers)
lazily, inside methods, so that ``mmlens list`` and API-only users never pay for them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from mmlens.core.errors import ConfigError
from mmlens.core.registry import Registry
from mmlens.core.requests import Request, RequestKind, Response, canonical_json
from mmlens.core.secrets import looks_like_key

Emit = Callable[[int, Response], None]


class ModelArgs(BaseModel):
    """Backend options (``--model-args k=v,...`` or ``args:`` in a model file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Model(ABC):
    """A model backend instance."""

    backend: ClassVar[str]
    Args: ClassVar[type[ModelArgs]] = ModelArgs
    supported_kinds: ClassVar[frozenset[RequestKind]] = frozenset({"generate"})

    def __init__(self, name: str, args: ModelArgs) -> None:
        self.name = name
        self.args = args

    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes what the model answers (weights, revision, dtype, media settings)."""
        return {"backend": self.backend, "name": self.name, "args": self.args.model_dump(mode="json")}

    def fingerprint_key(self) -> str:
        return canonical_json(self.fingerprint())

    @property
    def label(self) -> str:
        return f"{self.backend}:{self.name}" if self.name else self.backend

    @abstractmethod
    def process(self, requests: Sequence[Request], emit: Emit) -> None:
        """Answer ``requests``; call ``emit(index, response)`` once per request, in any order.

        A request that fails gets a Response with ``error`` set; never a made-up answer.
        KeyboardInterrupt must propagate (after emitting what is complete).
        """

    def serving(self) -> dict[str, int]:
        """Answers per replica or worker since the last call, for backends that spread a run over
        several (``openai`` with base_urls, ``--ray``); empty for the others."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (servers, GPU memory)."""


BUILTIN_BACKENDS = {
    "constant": "mmlens.models.constant",
    "hf": "mmlens.models.hf",
    "openai": "mmlens.models.openai",
    "reference": "mmlens.models.reference",
    "served": "mmlens.models.served",
    "vllm": "mmlens.models.vllm",
}
models: Registry[type[Model]] = Registry("model backend", BUILTIN_BACKENDS)


class ModelSpec(BaseModel):
    """Which backend, which model, with what options."""

    model_config = ConfigDict(extra="forbid")

    backend: str
    name: str = ""
    args: dict[str, Any] = {}

    @property
    def label(self) -> str:
        return f"{self.backend}:{self.name}" if self.name else self.backend


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets, braces and quotes (so JSON values may contain commas)."""
    items: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return items


def parse_model_args(text: str | None) -> dict[str, Any]:
    """Parse ``k=v,k2=v2``; values stay strings and the backend's Args model converts them.

    A value may be JSON with commas inside brackets: ``extra_body={"top_k":1,"min_p":0.1}``."""
    if not text:
        return {}
    result: dict[str, Any] = {}
    for item in _split_top_level(text):
        if not item.strip():
            continue
        if "=" not in item:
            raise ConfigError(f"--model-args: expected key=value, got {item.strip()!r}")
        key, value = item.split("=", 1)
        result[key.strip()] = value.strip()
    return result


def parse_model_spec(text: str, args_text: str | None = None) -> ModelSpec:
    """``backend:name`` or ``backend`` or a YAML model file (``backend:``, ``name:``, ``args:``)."""
    path = Path(text)
    if text.endswith((".yaml", ".yml")):
        if not path.is_file():
            raise ConfigError(f"model file {text} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
            spec = ModelSpec.model_validate(data)
        except yaml.YAMLError as error:
            from mmlens.core.task import yaml_error_line

            raise ConfigError(f"model file {text}: not valid YAML: {yaml_error_line(error)}") from None
        except ValidationError as error:
            raise ConfigError(f"model file {text}: {format_validation_error(error)}") from None
        spec.args = {**spec.args, **parse_model_args(args_text)}
        return spec
    backend, _, name = text.partition(":")
    return ModelSpec(backend=backend, name=name, args=parse_model_args(args_text))


def format_validation_error(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        problems.append(f"{where}: {item['msg']}")
    return "; ".join(problems)


def validate_model_spec(spec: ModelSpec) -> tuple[type[Model], ModelArgs]:
    """Look up the backend and validate its options, without loading anything."""
    from mmlens.core.plugins import load_plugins

    load_plugins()
    cls = models.get(spec.backend)
    refuse_keys_in_args(spec)
    try:
        args = cls.Args.model_validate(spec.args)
    except ValidationError as error:
        problems = format_validation_error(error)
        raise ConfigError(
            f"model {spec.label}: bad --model-args (or args: in a model file): {problems}"
        ) from None
    return cls, args


def refuse_keys_in_args(spec: ModelSpec) -> None:
    """A model option whose value is shaped like an API key is refused (without showing it): keys are
    read from environment variables, so that none reaches the store, results.json or a report."""
    for name, value in spec.args.items():
        if isinstance(value, str) and looks_like_key(value):
            raise ConfigError(
                f"model {spec.label}: option {name} holds what looks like an API key (not shown); keys "
                "are never given as options: put the key in an environment variable and name the "
                "variable (for openai: api_key_env=VARIABLE, default OPENAI_API_KEY)"
            )


def build_model(spec: ModelSpec) -> Model:
    cls, args = validate_model_spec(spec)
    return cls(spec.name, args)
