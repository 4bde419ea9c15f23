"""corrupt_image's ``constants``: ChEF's own corruption code (the default) against ImageNet-C's."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from mmlens import api
from mmlens.core.errors import ConfigError, DataError
from mmlens.core.media import PILImageRef
from mmlens.core.messages import ImagePart, Message
from mmlens.core.sample import Sample
from mmlens.transforms import image_corruptions as ic
from mmlens.transforms.image_corruptions import CorruptImage
from mmlens.transforms.options import seeded_global_generators

pytest.importorskip("imagecorruptions")


def photo() -> Image.Image:
    """The 96x64 picture of test_corruptions (uniform noise)."""
    return Image.fromarray((np.random.RandomState(0).rand(64, 96, 3) * 255).astype(np.uint8))


def gradient() -> Image.Image:
    """An 80x120 smooth picture (edges and flat areas for blur, spatter and fog)."""
    y, x = np.mgrid[0:120, 0:80]
    return Image.fromarray(np.stack([x * 255 // 80, y * 255 // 120, (x + y) % 256], -1).astype(np.uint8))


def fingerprint(pixels: np.ndarray) -> tuple[str, float]:
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()[:16], round(
        float(pixels.mean()), 3
    )


# Worked out once from ChEF's official functions (Coach257/ChEF @54df7bb,
# data_process/corruption/image_corruption_method.py), run outside this repository (nothing of it is
# copied here) on these pictures: Python's and numpy's generators seeded with the seed
# (random.seed, np.random.seed, as mmlens seeds each step), `np.uint8(d[name](picture, severity))`
# as MMBench_corruption.py keeps the result, then sha256 of the pixels (first 16 hex) and their
# mean. Wand 0.7.2 with Debian's ImageMagick 6 Q16 for motion blur and snow; numpy 2.4, SciPy 1.17,
# scikit-image 0.26, OpenCV 5.1, Pillow 13, with `np.float_` and `np.fromstring` shimmed for
# numpy 2. The official impulse noise is unseeded: it was run with the seed as the generator.
OFFICIAL_PHOTO = [
    ("gaussian_noise", 1, 1000, "ff0c5e54dd1ca9e8", 125.218),
    ("shot_noise", 2, 1001, "2e1e975a36192dce", 125.049),
    ("impulse_noise", 3, 1002, "d19bac0bbf02e969", 125.582),
    ("speckle_noise", 4, 1003, "0b6711fc9aca6401", 124.287),
    ("defocus_blur", 5, 1004, "c0a84ba19a51fa67", 125.217),
    ("glass_blur", 1, 1005, "f4f375c2d46a6647", 125.538),
    ("motion_blur", 2, 1006, "4c20ab4dcc3cf57e", 125.281),
    ("zoom_blur", 3, 1007, "a4ff13276b804238", 125.288),
    ("gaussian_blur", 4, 1008, "55075cb936bdfd53", 125.267),
    ("snow", 5, 1009, "44594dd281ca5812", 185.230),
    ("frost", 1, 1010, "dc1ee62c14c2f2b5", 148.712),
    ("fog", 2, 1011, "49f3346746cf6c31", 103.440),
    ("brightness", 3, 1012, "c391d4d0faabdf8a", 145.702),
    ("spatter", 4, 1013, "c0d78eb0e062b61e", 123.309),
    ("contrast", 5, 1014, "b2b872d836502557", 125.235),
    ("elastic_transform", 1, 1015, "6457b59ccec1c1d9", 125.196),
    ("pixelate", 2, 1016, "067c9be584ec6bd2", 125.288),
    ("jpeg_compression", 3, 1017, "e653af8170c3ad3c", 125.645),
    ("saturate", 4, 1018, "afbcd28b67ffd587", 99.939),
]
OFFICIAL_GRADIENT = [
    ("spatter", 2, 7, "9e6bc988619068ca", 119.298),  # the water branch
    ("glass_blur", 4, 7, "5fbf6fdf870458c0", 116.312),
    ("motion_blur", 5, 7, "192661ed39eb002a", 117.154),
    ("snow", 3, 7, "22ceaba05a370f80", 153.217),
    ("fog", 5, 7, "37d54b785af86582", 174.576),
    ("frost", 4, 7, "bc8785e1337d939c", 147.811),
    ("elastic_transform", 5, 7, "b98def5ccfe785b2", 115.807),
    ("impulse_noise", 5, 7, "09d65ada6ad066c7", 117.830),
]


@pytest.mark.parametrize(
    ("picture", "kind", "severity", "seed", "digest", "mean"),
    [("photo", *row) for row in OFFICIAL_PHOTO] + [("gradient", *row) for row in OFFICIAL_GRADIENT],
)
def test_chef_pixels_are_the_official_functions(
    picture: str, kind: str, severity: int, seed: int, digest: str, mean: float
) -> None:
    image = photo() if picture == "photo" else gradient()
    drawn = np.asarray(ic.apply_step(image, {"kind": kind, "severity": severity, "seed": seed}, "chef"))
    assert fingerprint(drawn) == (digest, mean)


def sample(image: Image.Image | None = None) -> Sample:
    source = PILImageRef(image or photo())
    return Sample(id="q1", messages=[Message.user(ImagePart(source), "Is it red?")], target="yes")


def corrupt(spec: str, item: Sample | None = None) -> Sample:
    return CorruptImage(**CorruptImage.from_args(spec)).transform_sample(item or sample())[0]


def test_the_default_is_chef_and_the_label_shows_only_the_other() -> None:
    assert CorruptImage(kind="fog", severity=2).constants == "chef"
    for spec, label in [
        ("fog@2", "corrupt_image:fog@2"),
        ("fog@2,constants=chef", "corrupt_image:fog@2"),
        ("fog@2,constants=imagenet_c", "corrupt_image:fog@2,constants=imagenet_c"),
        ("fog@2,seed=3,constants=imagenet_c", "corrupt_image:fog@2,seed=3,constants=imagenet_c"),
        ("chef,constants=imagenet_c", "corrupt_image:chef,constants=imagenet_c"),
    ]:
        transform = CorruptImage(**CorruptImage.from_args(spec))
        assert transform.label() == label
        assert CorruptImage(**CorruptImage.from_args(label.partition(":")[2])).label() == label
    assert corrupt("fog@2").metadata["transform_details"]["corrupt_image"]["constants"] == "chef"
    with pytest.raises(ConfigError, match="imagenet_c"):
        api.load_task("shapes_small", transforms=["corrupt_image:fog@2,constants=cifar"])


def old_digest(item: Sample, steps: list[dict[str, object]], version: str) -> str:
    """The key mmlens used before ``constants`` existed (image_corruptions.py @edcf789)."""
    key = {"source": item.images[0].digest, "steps": steps, "library": version, "v": 1}
    name = steps[0]["kind"] if len(steps) == 1 else "chef"
    return f"gen:corrupt_image/{name}/" + hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize("spec", ["gaussian_noise@3", "rotate@2", "chef"])
def test_imagenet_c_keeps_the_old_digests_and_chef_never_shares_them(spec: str) -> None:
    plain = sample()
    old = corrupt(f"{spec},constants=imagenet_c", plain)
    new = corrupt(spec, plain)
    info = old.metadata["transform_details"]["corrupt_image"]
    steps, version = info["images"][0]["steps"], ic.versions(spec.partition("@")[0] not in ic.GEOMETRIC)
    assert old.images[0].digest == old_digest(plain, steps, version)
    assert new.metadata["transform_details"]["corrupt_image"]["images"][0]["steps"] == steps
    assert new.images[0].digest != old.images[0].digest  # the key always says chef
    assert new.images[0].digest.startswith(old.images[0].digest.rsplit("/", 1)[0] + "/")


def test_imagenet_c_draws_the_old_pixels() -> None:
    from imagecorruptions import corruption_dict

    for kind in ("gaussian_noise", "motion_blur", "frost", "contrast", "impulse_noise"):
        drawn = corrupt(f"{kind}@3,constants=imagenet_c")
        step = drawn.metadata["transform_details"]["corrupt_image"]["images"][0]["steps"][0]
        extra = {"seed": step["seed"]} if kind == "impulse_noise" else {}
        with seeded_global_generators(step["seed"]):
            expected = np.asarray(corruption_dict[kind](photo(), 3, **extra)).astype(np.uint8)
        assert np.array_equal(np.asarray(drawn.images[0].pil()), expected), kind
        chef = np.asarray(corrupt(f"{kind}@3").images[0].pil())
        assert not np.array_equal(chef, expected), kind  # other constants, other pixels


def test_the_chef_chain_uses_chefs_constants(monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[str] = []
    real = ic.apply_step

    def spy(image: Image.Image, step: dict[str, object], constants: str = "chef") -> Image.Image:
        used.append(constants)
        return real(image, step, constants)

    monkeypatch.setattr(ic, "apply_step", spy)
    ic._DRAWN.items.clear()
    chained = corrupt("chef")
    chained.images[0].pil()
    assert used == ["chef"] * 8
    steps = chained.metadata["transform_details"]["corrupt_image"]["images"][0]["steps"]
    image = photo()
    for step in steps:
        image = real(image, step, "chef")
    assert np.array_equal(np.asarray(chained.images[0].pil()), np.asarray(image))
    used.clear()
    ic._DRAWN.items.clear()
    corrupt("chef,constants=imagenet_c").images[0].pil()
    assert used == ["imagenet_c"] * 8


@pytest.mark.parametrize("kind", ["glass_blur", "fog"])
def test_chefs_32_pixel_kinds_refuse_a_smaller_picture_in_one_line(kind: str) -> None:
    small = Image.fromarray(np.zeros((20, 40, 3), dtype=np.uint8))
    with pytest.raises(DataError, match=rf"{kind}@3 \(constants=chef\) needs at least 32x32 pixels") as error:
        corrupt(f"{kind}@3", sample(small)).images[0].pil()
    assert "\n" not in str(error.value)
    assert corrupt(f"{kind}@3,constants=imagenet_c", sample(small)).images[0].pil().size == (40, 20)
