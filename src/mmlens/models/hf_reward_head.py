"""Scalar reward heads on a vision-language model: the hf backend's multimodal reward models.

transformers has no sequence-classification class for most VLM families (in 5.x only Gemma 3 has
one), and the published multimodal reward models carry heads of their own. MM-RLHF's
``yifanzhang114/MM-RLHF-Reward-7B-llava-ov-qwen``
(``Kwai-YuanQi/MM-RLHF@7c8af1d2cacc252e4310881d2af4f90eacf2a5f0``,
``llava/model/language_model/llava_qwen.py:46-61,75,120-131``) is a LLaVA-OneVision (Qwen2) model
with ``rm_head = RewardHead(config, 1)``; ``forward(..., rm_forward=True)`` takes the language
model's final hidden states (``outputs.hidden_states[-1]``, after the final norm), applies the head
at every position and reads the reward at the last position (``sequence_lengths = -1``: one
unpadded conversation, no attention mask)::

    reward = out_proj(tanh(dense(dropout(h_last))))      # dropout is off in eval

So a multimodal reward model here is **a VLM folder that transformers loads**
(``AutoModelForImageTextToText`` + ``AutoProcessor``; a text causal LM works the same way)
**plus** ``reward_head.safetensors`` in the same folder (or hub repository), loaded with
``--model-args kind=reward``. The head's kind is read
from its tensor names (an ``rm_head.`` prefix, the official name, is accepted):

- ``mm_rlhf``: ``dense.weight`` [H, H], ``dense.bias`` [H], ``out_proj.weight`` [1, H],
  ``out_proj.bias`` [1] — MM-RLHF's ``RewardHead`` (dense, tanh, out_proj).
- ``linear``: ``score.weight`` [1, H] (+ optional ``score.bias`` [1]) — the
  ``...ForSequenceClassification`` convention.

``python -m mmlens.models.hf_reward_head OFFICIAL_CHECKPOINT_DIR OUT_DIR`` copies the ``rm_head.*``
tensors of an official checkpoint (its safetensors shards) into ``OUT_DIR/reward_head.safetensors``
(``OUT_DIR`` being the transformers-format conversion of the same checkpoint).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmlens.core.errors import ConfigError

if TYPE_CHECKING:
    import torch

REWARD_HEAD_FILE = "reward_head.safetensors"
OFFICIAL_PREFIX = "rm_head."


@dataclass(frozen=True)
class HeadKind:
    """A reward head: the tensors it needs (name -> shape, ``H`` = hidden size) and how it maps a
    hidden state to a reward."""

    name: str
    required: Mapping[str, tuple[str | int, ...]]
    optional: Mapping[str, tuple[str | int, ...]]
    apply: Callable[[Mapping[str, torch.Tensor], torch.Tensor], torch.Tensor]


def _mm_rlhf(weights: Mapping[str, torch.Tensor], hidden: torch.Tensor) -> torch.Tensor:
    import torch
    from torch.nn.functional import linear

    inner = torch.tanh(linear(hidden, weights["dense.weight"], weights["dense.bias"]))
    return linear(inner, weights["out_proj.weight"], weights["out_proj.bias"])


def _linear(weights: Mapping[str, torch.Tensor], hidden: torch.Tensor) -> torch.Tensor:
    from torch.nn.functional import linear

    return linear(hidden, weights["score.weight"], weights.get("score.bias"))


HEAD_KINDS: dict[str, HeadKind] = {
    kind.name: kind
    for kind in (
        HeadKind(
            "mm_rlhf",
            {
                "dense.weight": ("H", "H"),
                "dense.bias": ("H",),
                "out_proj.weight": (1, "H"),
                "out_proj.bias": (1,),
            },
            {},
            _mm_rlhf,
        ),
        HeadKind("linear", {"score.weight": (1, "H")}, {"score.bias": (1,)}, _linear),
    )
}


@dataclass
class RewardHead:
    """A loaded head: ``head(hidden)`` maps final hidden states ``[..., H]`` to rewards ``[..., 1]``."""

    kind: HeadKind
    weights: dict[str, torch.Tensor]
    source: str

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        weight = next(iter(self.weights.values()))
        return self.kind.apply(self.weights, hidden.to(device=weight.device, dtype=weight.dtype))


def head_from_tensors(tensors: Mapping[str, torch.Tensor], hidden_size: int, source: str) -> RewardHead:
    """Check the tensors against the head kinds (by names, then shapes); one clear error naming ``source``."""
    names = {key.removeprefix(OFFICIAL_PREFIX): value for key, value in tensors.items()}
    for kind in HEAD_KINDS.values():
        if set(kind.required) <= set(names) <= set(kind.required) | set(kind.optional):
            break
    else:
        expected = "; ".join(
            f"{k.name}: {', '.join([*k.required, *k.optional])}" for k in HEAD_KINDS.values()
        )
        raise ConfigError(
            f"reward head {source}: tensors {sorted(names)} match no head kind (expected {expected})"
        )
    for key, dims in {**kind.required, **kind.optional}.items():
        if key not in names:
            continue
        value = names[key]
        shape = tuple(hidden_size if dim == "H" else dim for dim in dims)
        if tuple(value.shape) != shape:
            raise ConfigError(
                f"reward head {source}: {key} has shape {list(value.shape)}, expected {list(shape)} "
                f"(the model's hidden size is {hidden_size}; one reward)"
            )
    return RewardHead(kind, dict(names), source)


def head_file(name: str, revision: str | None) -> Path:
    """``reward_head.safetensors`` of a local model folder, or of a hub repository (via its cache)."""
    folder = Path(name).expanduser()
    if folder.is_dir():
        path = folder / REWARD_HEAD_FILE
        if not path.is_file():
            raise ConfigError(
                f"hf model {name}: kind=reward on an image-text model or causal LM needs its reward head in "
                f"{path} (see mmlens.models.hf_reward_head)"
            )
        return path
    from transformers.utils import cached_file

    try:
        found = cached_file(name, REWARD_HEAD_FILE, revision=revision)
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"hf model {name!r}: kind=reward on an image-text model or causal LM needs "
            f"{REWARD_HEAD_FILE} in the repository: {' '.join(str(error).split())}"
        ) from None
    if found is None:
        raise ConfigError(f"hf model {name!r} has no {REWARD_HEAD_FILE}")
    return Path(found)


def load_reward_head(name: str, revision: str | None, model: Any) -> RewardHead:
    """The head of model ``name``, on the model's device and in its dtype (as the official head runs)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = head_file(name, revision)
    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as error:
        raise ConfigError(f"reward head {path}: cannot read it: {' '.join(str(error).split())}") from None
    hidden_size = model.config.get_text_config().hidden_size
    head = head_from_tensors(tensors, hidden_size, str(path))
    head.weights = {
        key: value.to(device=model.device, dtype=model.dtype) for key, value in head.weights.items()
    }
    return head


def extract_official_head(checkpoint: Path, out_dir: Path) -> Path:
    """Copy the ``rm_head.*`` tensors of an official MM-RLHF checkpoint's safetensors shards into
    ``out_dir/reward_head.safetensors``; returns that file."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    shards = sorted(checkpoint.glob("*.safetensors"))
    index = checkpoint / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map: dict[str, str] = json.loads(index.read_text())["weight_map"]
            shards = sorted(
                {checkpoint / file for key, file in weight_map.items() if key.startswith(OFFICIAL_PREFIX)}
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise ConfigError(f"{index}: not a safetensors index with a weight_map ({error!r})") from None
    tensors: dict[str, Any] = {}
    for shard in shards:
        try:
            with safe_open(str(shard), framework="pt") as opened:
                for key in opened.keys():  # noqa: SIM118 (safe_open has keys(), no iteration)
                    if key.startswith(OFFICIAL_PREFIX):
                        tensors[key.removeprefix(OFFICIAL_PREFIX)] = opened.get_tensor(key)
        except Exception as error:  # safetensors' SafetensorError (not exported), OSError
            raise ConfigError(f"{shard}: cannot be read as safetensors ({error})") from None
    if not tensors:
        raise ConfigError(f"{checkpoint}: no {OFFICIAL_PREFIX}* tensors in its safetensors files")
    matrix = tensors.get("dense.weight", tensors.get("score.weight"))
    hidden_size = int(matrix.shape[-1]) if matrix is not None else 0
    head_from_tensors(tensors, hidden_size, str(checkpoint))  # a known head kind, consistent shapes
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / REWARD_HEAD_FILE
    save_file({key: value.contiguous() for key, value in tensors.items()}, str(target))
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(
            "usage: python -m mmlens.models.hf_reward_head OFFICIAL_CHECKPOINT_DIR OUT_DIR", file=sys.stderr
        )
        return 2
    try:
        target = extract_official_head(Path(args[0]), Path(args[1]))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
