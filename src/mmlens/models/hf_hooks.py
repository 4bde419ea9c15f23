"""The few places where the hf backend must know more than transformers' Auto classes tell it.

1. Processors of video-capable models (Qwen2-VL, Qwen2.5-VL, SmolVLM, ...) insist on a video
   processor, and transformers' video processors need torchvision. Rather than one wrapper per
   model, ``load_processor`` falls back to an *image-only* variant of the model's own processor
   class: the same class with ``video_processor`` left out of its parts. Images and text are
   processed exactly as by the original class.
2. ``CONTINUATION_TOKEN_TYPE``: the ``token_type_ids`` value of answer tokens appended after a
   prompt, where an architecture gives it a meaning of its own.
3. ``DUAL_ENCODER_TEXT_PADDING``: how a dual encoder's texts are padded, where it is not "to the
   longest in the batch".
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

IMAGE_ONLY_SUFFIX = "ImageOnly"

# PaliGemma is a prefix-LM: bidirectional attention over token type 0 (image + prompt), causal over
# type 1 (the answer), as its generate() marks new tokens. Elsewhere (Gemma 3: 1 = image) answers are 0.
CONTINUATION_TOKEN_TYPE: dict[str, int] = {"paligemma": 1}

# SigLIP's text tower pools the last position whatever the attention mask says, and was trained on
# texts padded to its full length (its model card: padding="max_length"); so a text's vector does
# not depend on the batch only when every text is padded to that length. Others (CLIP: the EOS
# token's state; mask-aware) pad to the longest text of the batch.
DUAL_ENCODER_TEXT_PADDING: dict[str, str] = {"siglip": "max_length", "siglip2": "max_length"}


@functools.cache
def image_only_processor_class(class_name: str) -> type[Any]:
    """The transformers processor class ``class_name`` without its video processor.

    transformers lists a processor's parts with ``get_attributes()``; dropping ``video_processor``
    from that list leaves ``__init__`` (and its signature, which ``from_pretrained`` inspects for
    options such as ``image_seq_len``) untouched: the video part just stays ``None``.
    """
    import transformers

    base = getattr(transformers, class_name)

    @classmethod  # type: ignore[misc]
    def get_attributes(cls: type[Any]) -> list[str]:
        return [name for name in base.get_attributes() if name != "video_processor"]

    @classmethod  # type: ignore[misc]
    def from_args_and_dict(cls: type[Any], args: Any, processor_dict: dict[str, Any], **kwargs: Any) -> Any:
        processor_dict = {k: v for k, v in processor_dict.items() if k != "video_processor"}
        return base.from_args_and_dict.__func__(cls, args, processor_dict, **kwargs)

    def save_pretrained(self: Any, save_directory: Any, *args: Any, **kwargs: Any) -> Any:
        # Saved under the original class name, so that AutoProcessor finds the real class.
        result = base.save_pretrained(self, save_directory, *args, **kwargs)
        _rename_processor_class(Path(save_directory), self.__class__.__name__, class_name)
        return result

    return type(
        class_name + IMAGE_ONLY_SUFFIX,
        (base,),
        {
            "get_attributes": get_attributes,
            "from_args_and_dict": from_args_and_dict,
            "save_pretrained": save_pretrained,
            "__module__": base.__module__,
        },
    )


def _rename_processor_class(folder: Path, old: str, new: str) -> None:
    for name in ("processor_config.json", "tokenizer_config.json", "preprocessor_config.json"):
        path = folder / name
        if not path.is_file():
            continue
        data = json.loads(path.read_text())
        if data.get("processor_class") == old:
            data["processor_class"] = new
            path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def processor_class_name(folder: str, **hub_kwargs: Any) -> str | None:
    """The ``processor_class`` a model folder (or hub id, from the local cache) declares."""
    from transformers.utils import cached_file

    for name in ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
        try:
            path = cached_file(folder, name, _raise_exceptions_for_missing_entries=False, **hub_kwargs)
        except OSError:
            path = None
        if path is None:
            continue
        value = json.loads(Path(path).read_text()).get("processor_class")
        if value:
            return str(value)
    return None


def needs_video_fallback(error: BaseException) -> bool:
    """Whether a processor load failed only because its video part cannot be built here."""
    text = f"{type(error).__name__}: {error}".lower()
    return "video" in text or "torchvision" in text


def load_processor(name: str, **kwargs: Any) -> Any:
    """``AutoProcessor.from_pretrained``, falling back to the image-only variant of its class."""
    import transformers
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(name, **kwargs)
    except (ImportError, ValueError, TypeError, OSError) as error:
        if not needs_video_fallback(error):
            raise
        hub_kwargs = {k: kwargs[k] for k in ("revision", "local_files_only") if k in kwargs}
        class_name = processor_class_name(name, **hub_kwargs)
        if class_name is None or not hasattr(transformers, class_name):
            raise
        return image_only_processor_class(class_name).from_pretrained(name, **kwargs)
