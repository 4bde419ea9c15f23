"""``corrupt_image:<kind>@<severity>[,constants=chef|imagenet_c]``: ChEF's image corruptions, on the
fly and cached like any image.

Kinds (severity 1-5):

- noise: gaussian_noise, shot_noise, impulse_noise, speckle_noise
- blur: defocus_blur, glass_blur, motion_blur, zoom_blur, gaussian_blur
- weather: snow, frost, fog, brightness, spatter
- digital: contrast, elastic_transform, pixelate, jpeg_compression, saturate
- geometric (ChEF v1 ``other``): center_crop (2-10 %), resize_x and resize_y (±10-50 %, the sign
  drawn), rotate (±8-40°, the sign drawn; PIL bilinear, canvas expanded)

The four photometric families have two profiles (``constants``):

- ``chef`` (the default): ChEF's own code (``image_corruption_method.py`` @54df7bb), which is
  Hendrycks' CIFAR-10-C code with CIFAR's constants and 32-px leftovers, ported in
  ``chef_corruptions`` (pixel for pixel the official functions on the same input and seed).
- ``imagenet_c``: ImageNet-C's operations and constants as the ``imagecorruptions-imaug`` package
  implements them (the maintained fork of Hendrycks' code); mmlens's behaviour before the profile
  existed, with the same digests.

Both need the ``robustness`` extra. The geometric steps follow ChEF v1's
``image_corruption_method.py`` with PIL, the same under both profiles.
``corrupt_image:chef`` is ChEF's chained setting (``MMBench_corruption.py``): one kind per family
(noise, blur, weather, digital) with severity ``randint(1, 5)``, then crop, resize x, resize y and
rotate, each with its own ``randint(1, 5)``.

Every draw is seeded by the transform's seed, the sample id and the image's position, so a rerun
asks the same pixels. A corrupted image is known by a key (the source image's digest, the steps
with their seeds, the library version), never by its pixels: a cached rerun corrupts nothing.
What was done is recorded per sample in ``metadata["transform_details"]["corrupt_image"]`` (the
record's ``details["transforms"]``).
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections import OrderedDict
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from mmlens.core.errors import ConfigError, DataError
from mmlens.core.media import ImageRef
from mmlens.core.messages import ImagePart, Message
from mmlens.core.parts import Transform, register_transform
from mmlens.core.sample import Sample
from mmlens.transforms.options import sample_rng, seeded_global_generators

if TYPE_CHECKING:
    from PIL import Image as PILImage

FAMILIES: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur"),
    "weather": ("snow", "frost", "fog", "brightness", "spatter"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression", "saturate"),
}
GEOMETRIC = ("center_crop", "resize_x", "resize_y", "rotate")
PHOTOMETRIC = tuple(kind for kinds in FAMILIES.values() for kind in kinds)
KINDS = (*PHOTOMETRIC, *GEOMETRIC)
CHAIN = "chef"
Constants = Literal["chef", "imagenet_c"]
CONSTANTS: tuple[Constants, ...] = ("chef", "imagenet_c")
DEFAULT_CONSTANTS: Constants = "chef"
# ChEF's glass blur shuffles the top-left 32x32 and its fog takes H // 32 x W // 32 fractal cells.
CHEF_MIN_SIDE = {"glass_blur": 32, "fog": 32}
# Bumped whenever this module could draw other pixels for the same steps.
VERSION = 1
DETAILS_KEY = "transform_details"  # sample metadata -> the record's details["transforms"]

MISSING_EXTRA = (
    "transform corrupt_image needs the robustness extra (imagecorruptions-imaug, opencv, scikit-image): "
    "pip install 'mmlens[robustness]'"
)

# ChEF v1 ``image_corruption_method.py``: crop ratios, resize factors, rotation angles by severity.
CROP_RATIOS = (0.02, 0.04, 0.06, 0.08, 0.10)
RESIZE_FACTORS = (0.1, 0.2, 0.3, 0.4, 0.5)
ROTATE_ANGLES = (8, 16, 24, 32, 40)


@cache
def library_version() -> str:
    """The corruption library's version (part of every key); a missing extra is one clear line."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        import imagecorruptions  # noqa: F401
    except ImportError:
        raise ConfigError(MISSING_EXTRA) from None
    try:
        return version("imagecorruptions-imaug")
    except PackageNotFoundError:
        return "unknown"


def versions(photometric: bool) -> str:
    """The libraries whose versions decide the pixels (Pillow always; the corruption library when
    a photometric step is drawn)."""
    import PIL

    text = f"pillow-{PIL.__version__}"
    return f"{text}+imagecorruptions-{library_version()}" if photometric else text


def parse_kind(text: str) -> tuple[str, int | None]:
    kind, _, severity = text.partition("@")
    kind = kind.strip()
    if kind != CHAIN and kind not in KINDS:
        raise ValueError(f"unknown corruption {kind!r}: one of {', '.join(KINDS)} or {CHAIN}")
    if not severity:
        return kind, None
    try:
        return kind, int(severity)
    except ValueError:
        raise ValueError(f"severity must be an integer 1-5, got {severity!r}") from None


def parse_options(text: str, constants: bool = False) -> dict[str, Any]:
    """``,seed=N`` after the kind (``corrupt_image:gaussian_noise@3,seed=2``), and with
    ``constants`` (corrupt_image's) ``,constants=chef|imagenet_c`` too."""
    fields: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if constants and sep and key == "constants":
            fields["constants"] = value.strip()
            continue
        if not sep or key != "seed":
            known = f"seed=N or constants={'|'.join(CONSTANTS)}" if constants else "only seed=N"
            raise ValueError(f"unknown option {item!r} ({known})")
        try:
            fields["seed"] = int(value)
        except ValueError:
            raise ValueError(f"seed must be an integer, got {value!r}") from None
    return fields


def chain_steps(
    seed: int, sample_id: str, index: int, kind: str, severity: int | None
) -> list[dict[str, Any]]:
    """The steps for one image: ``[{kind, severity, seed}]``, drawn from the sample's generator."""
    rng = sample_rng(seed, "corrupt_image", sample_id, index)
    if kind == CHAIN:
        chosen = [(rng.choice(kinds), rng.randint(1, 5)) for kinds in FAMILIES.values()]
        chosen += [(step, rng.randint(1, 5)) for step in GEOMETRIC]
    else:
        assert severity is not None
        chosen = [(kind, severity)]
    return [{"kind": name, "severity": level, "seed": rng.getrandbits(32)} for name, level in chosen]


def apply_step(
    image: PILImage.Image, step: dict[str, Any], constants: str = DEFAULT_CONSTANTS
) -> PILImage.Image:
    """One corruption step on an RGB image, deterministic for the step's seed; the photometric
    kinds as ChEF's code does them (``chef``) or as ``imagecorruptions`` does (``imagenet_c``)."""
    import random

    from PIL import Image

    kind, severity, seed = step["kind"], step["severity"], step["seed"]
    if kind in GEOMETRIC:
        rng = random.Random(seed)
        width, height = image.size
        if kind == "center_crop":
            ratio = 1 - CROP_RATIOS[severity - 1]
            crop_width, crop_height = int(width * ratio), int(height * ratio)
            left, top = (width - crop_width) // 2, (height - crop_height) // 2
            return image.crop((left, top, left + crop_width, top + crop_height))
        if kind in ("resize_x", "resize_y"):
            factor = RESIZE_FACTORS[severity - 1] * (rng.randint(0, 1) * 2 - 1) + 1
            size = (int(width * factor), height) if kind == "resize_x" else (width, int(height * factor))
            return image.resize(size, Image.Resampling.BILINEAR)
        angle = ROTATE_ANGLES[severity - 1] * (1 if rng.randint(0, 1) == 0 else -1)
        return image.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
    library_version()
    import numpy as np

    if constants == "chef" and min(image.size) < CHEF_MIN_SIDE.get(kind, 0):
        raise DataError(
            f"corrupt_image {kind}@{severity} (constants=chef) needs at least 32x32 pixels, as ChEF's "
            f"code does (CIFAR's 32 px), got {image.size[0]}x{image.size[1]}: use constants=imagenet_c"
        )
    try:
        with seeded_global_generators(seed):
            result = (
                photometric(kind)(image, severity, seed) if constants == "chef" else imagenet_c(image, step)
            )
    except Exception as error:  # noqa: BLE001 - the library's errors on odd sizes, named in one line
        raise DataError(
            f"corrupt_image {kind}@{severity} failed on a {image.size[0]}x{image.size[1]} image: "
            f"{type(error).__name__}: {error}"
        ) from None
    return Image.fromarray(np.asarray(result).astype(np.uint8)[..., :3])


def photometric(kind: str) -> Any:
    """ChEF's function for ``kind`` (``chef_corruptions``, imported only when drawn)."""
    from mmlens.transforms.chef_corruptions import CHEF_FUNCTIONS

    return CHEF_FUNCTIONS[kind]


def imagenet_c(image: PILImage.Image, step: dict[str, Any]) -> Any:
    """``imagecorruptions``' function for the step. The library's ``corrupt`` refuses images under
    32 px; most operations work at any size, so its function is called directly (as ``corrupt``
    does after its checks) and a failure named by the caller."""
    from imagecorruptions import corruption_dict

    kind, seed = step["kind"], step["seed"]
    extra = {"seed": seed} if kind in ("glass_blur", "impulse_noise") else {}
    return corruption_dict[kind](image, step["severity"], **extra)


class _DrawnCache:
    """The last few corrupted images (a model backend may decode one image more than once)."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self.items: OrderedDict[str, PILImage.Image] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> PILImage.Image | None:
        with self.lock:
            image = self.items.get(key)
            if image is not None:
                self.items.move_to_end(key)
            return image

    def put(self, key: str, image: PILImage.Image) -> None:
        with self.lock:
            self.items[key] = image
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_DRAWN = _DrawnCache()


class CorruptedImage(ImageRef):
    """An image corrupted on demand: its digest is a function of the source image's digest, the
    steps (kind, severity, seed), the constants and the library version, computed without any
    pixels. ``imagenet_c`` keeps the key it had before the profile existed (no ``constants``
    field), so an image cached then is never taken for a ``chef`` one."""

    def __init__(
        self, source: ImageRef, steps: list[dict[str, Any]], version: str, constants: str = DEFAULT_CONSTANTS
    ) -> None:
        self.original = source
        self.steps = steps
        self.version = version
        self.constants = constants
        self._digest: str | None = None

    @property
    def digest(self) -> str:
        if self._digest is None:
            key = {"source": self.original.digest, "steps": self.steps, "library": self.version, "v": VERSION}
            if self.constants != "imagenet_c":
                key["constants"] = self.constants
            text = json.dumps(key, sort_keys=True)
            name = self.steps[0]["kind"] if len(self.steps) == 1 else CHAIN
            self._digest = f"gen:corrupt_image/{name}/" + hashlib.sha256(text.encode()).hexdigest()
        return self._digest

    def pil(self) -> PILImage.Image:
        image = _DRAWN.get(self.digest)
        if image is None:
            image = self.original.pil()
            for step in self.steps:
                image = apply_step(
                    image.convert("RGB") if image.mode != "RGB" else image, step, self.constants
                )
            _DRAWN.put(self.digest, image)
        return image

    def encoded(self) -> bytes:
        buffer = io.BytesIO()
        self.pil().save(buffer, format="PNG")
        return buffer.getvalue()

    def unreadable_reason(self) -> str | None:
        return self.original.unreadable_reason()

    def mime_type(self) -> str:
        return "image/png"

    def describe(self) -> str:
        steps = ", ".join(f"{step['kind']}@{step['severity']}" for step in self.steps)
        return f"{self.original.describe()} ({steps})"


def with_details(sample: Sample, name: str, info: dict[str, Any]) -> Sample:
    """The sample with ``info`` recorded under ``metadata["transform_details"][name]``."""
    details = {**sample.metadata.get(DETAILS_KEY, {}), name: info}
    return replace(sample, metadata={**sample.metadata, DETAILS_KEY: details})


@register_transform("corrupt_image")
class CorruptImage(Transform):
    """Every image of every sample corrupted: ``--transform corrupt_image:KIND@SEVERITY[,seed=N]``
    or ``corrupt_image:chef`` (ChEF's chain); YAML ``{type: corrupt_image, kind: fog, severity: 2}``.
    ``constants`` picks the photometric profile: ``chef`` (ChEF's code, the default) or
    ``imagenet_c`` (``imagecorruptions``, mmlens's earlier behaviour)."""

    kind: str
    severity: int | None = Field(default=None, ge=1, le=5)
    seed: int = 0
    constants: Constants = DEFAULT_CONSTANTS

    @classmethod
    def from_args(cls, args: str) -> dict[str, Any]:
        if not args:
            raise ValueError(f"give a corruption: corrupt_image:KIND@SEVERITY or corrupt_image:{CHAIN}")
        spec, _, options = args.partition(",")
        kind, severity = parse_kind(spec)
        fields: dict[str, Any] = {"kind": kind, **parse_options(options, constants=True)}
        if severity is not None:
            fields["severity"] = severity
        return fields

    @model_validator(mode="after")
    def _check(self) -> CorruptImage:
        parse_kind(self.kind)
        if self.kind == CHAIN and self.severity is not None:
            raise ValueError(f"{CHAIN} draws a severity per step: give no @severity")
        if self.kind != CHAIN and self.severity is None:
            raise ValueError(f"give a severity 1-5: corrupt_image:{self.kind}@3")
        if self.kind in PHOTOMETRIC or self.kind == CHAIN:
            library_version()  # a missing extra is an error when the task loads, not mid-run
        return self

    def label(self) -> str:
        name = self.kind if self.severity is None else f"{self.kind}@{self.severity}"
        label = f"corrupt_image:{name}" + (f",seed={self.seed}" if self.seed else "")
        return label + (f",constants={self.constants}" if self.constants != DEFAULT_CONSTANTS else "")

    def transform_sample(self, sample: Sample) -> list[Sample]:
        if not sample.images:
            return [sample]
        version = versions(self.kind not in GEOMETRIC)
        done: list[dict[str, Any]] = []
        messages = []
        index = 0
        for message in sample.messages:
            parts = []
            for part in message.content:
                if isinstance(part, ImagePart):
                    steps = chain_steps(self.seed, sample.id, index, self.kind, self.severity)
                    image = CorruptedImage(part.image, steps, version, self.constants)
                    done.append({"image": index, "steps": steps, "digest": image.digest})
                    part = ImagePart(image)
                    index += 1
                parts.append(part)
            messages.append(Message(message.role, tuple(parts)))
        info: dict[str, Any] = {"kind": self.kind, "severity": self.severity, "seed": self.seed}
        info.update(constants=self.constants, images=done)
        return [with_details(replace(sample, messages=messages), "corrupt_image", info)]
