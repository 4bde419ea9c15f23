"""corrupt_image and corrupt_text: ChEF's corruptions, seeded per sample, cached like any image."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mmlens import api
from mmlens.cli.app import main
from mmlens.core.errors import ConfigError
from mmlens.core.media import PILImageRef
from mmlens.core.messages import ImagePart, Message
from mmlens.core.sample import Sample
from mmlens.transforms import image_corruptions as ic
from mmlens.transforms.image_corruptions import FAMILIES, GEOMETRIC, CorruptedImage, CorruptImage
from mmlens.transforms.text_corruptions import CorruptText, contraction, expansion
from tests.fixtures.benchmark_helpers import pope_with_images
from tests.fixtures.task_data import data_builder
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401 - fixture

pytest.importorskip("imagecorruptions")
pytest.importorskip("nlpaug")


def photo(width: int = 96, height: int = 64, seed: int = 0) -> PILImageRef:
    pixels = (np.random.RandomState(seed).rand(height, width, 3) * 255).astype(np.uint8)
    return PILImageRef(Image.fromarray(pixels))


def image_sample(sample_id: str = "q1", image: PILImageRef | None = None) -> Sample:
    return Sample(
        id=sample_id, messages=[Message.user(ImagePart(image or photo()), "Is it red?")], target="yes"
    )


def corrupt(spec: str, sample: Sample) -> Sample:
    return CorruptImage(**CorruptImage.from_args(spec)).transform_sample(sample)[0]


def pixels(sample: Sample) -> np.ndarray:
    return np.asarray(sample.images[0].pil())


def test_image_corruption_is_deterministic_per_seed_and_sample() -> None:
    first, again = corrupt("gaussian_noise@3", image_sample()), corrupt("gaussian_noise@3", image_sample())
    assert first.images[0].digest == again.images[0].digest
    assert first.images[0].digest.startswith("gen:corrupt_image/gaussian_noise/")
    ic._DRAWN.items.clear()
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), np.asarray(photo().pil()))
    other_id, other_seed = (
        corrupt("gaussian_noise@3", image_sample("q2")),
        corrupt("gaussian_noise@3,seed=1", image_sample()),
    )
    assert len({first.images[0].digest, other_id.images[0].digest, other_seed.images[0].digest}) == 3
    assert not np.array_equal(pixels(first), pixels(other_id))


def test_the_digest_needs_no_pixels_and_follows_the_source() -> None:
    class NoPixels(PILImageRef):
        def pil(self) -> Image.Image:
            raise AssertionError("decoded")

    source = NoPixels(Image.new("RGB", (40, 40)))
    sample = corrupt("fog@2", image_sample(image=source))
    assert sample.images[0].digest  # computed from the source digest, the steps and versions only
    assert corrupt("fog@2", image_sample(image=photo(seed=1))).images[0].digest != sample.images[0].digest


@pytest.mark.parametrize(
    ("kind", "constants", "distinct"),
    [
        ("gaussian_noise", "chef", 5),
        ("frost", "chef", 5),
        ("jpeg_compression", "chef", 5),
        ("rotate", "chef", 5),
        # ChEF's motion blur at severities 3 and 4, (radius, sigma) (6, 2) and (8, 2): the wider
        # kernel's extra taps are under 1e-7, so the 8-bit pixels are the same (ImageMagick's too)
        ("motion_blur", "chef", 4),
        ("motion_blur", "imagenet_c", 5),
        ("frost", "imagenet_c", 5),
    ],
)
def test_severities_differ(kind: str, constants: str, distinct: int) -> None:
    drawn = [corrupt(f"{kind}@{severity},constants={constants}", image_sample()) for severity in range(1, 6)]
    assert len({sample.images[0].digest for sample in drawn}) == 5
    arrays = [pixels(sample) for sample in drawn]
    unique = {(a.shape, a.tobytes()) for a in arrays}
    assert len(unique) == distinct


def test_every_kind_draws_an_rgb_image_even_a_small_one() -> None:
    for constants in ic.CONSTANTS:
        for kind in ic.KINDS:
            for image in (photo(), photo(16, 16)):
                spec = f"{kind}@3,constants={constants}"
                if constants == "chef" and kind in ic.CHEF_MIN_SIDE and image.pil().size == (16, 16):
                    continue  # ChEF's code needs 32 px there (test_chef_corruptions)
                drawn = corrupt(spec, image_sample(image=image)).images[0].pil()
                assert drawn.mode == "RGB", spec


def test_geometric_steps_follow_chefs_code() -> None:
    image = photo(100, 50).pil()
    crop = ic.apply_step(image, {"kind": "center_crop", "severity": 5, "seed": 0})
    assert crop.size == (90, 45)  # int(100 * 0.9), int(50 * 0.9)
    widths = {ic.apply_step(image, {"kind": "resize_x", "severity": 2, "seed": s}).size for s in range(20)}
    assert widths == {(80, 50), (120, 50)}  # x scaled by 1 ± 0.2, y kept
    heights = {ic.apply_step(image, {"kind": "resize_y", "severity": 5, "seed": s}).size for s in range(20)}
    assert heights == {(100, 25), (100, 75)}
    rotated = ic.apply_step(image, {"kind": "rotate", "severity": 1, "seed": 0})
    assert rotated.size != image.size  # expand=True: the canvas grows


def test_the_chef_chain_takes_one_kind_per_family_then_the_geometric_steps() -> None:
    seen: dict[str, set[str]] = {family: set() for family in FAMILIES}
    for number in range(40):
        sample = corrupt("chef", image_sample(f"q{number}"))
        info = sample.metadata["transform_details"]["corrupt_image"]
        steps = info["images"][0]["steps"]
        assert [step["kind"] for step in steps[4:]] == list(GEOMETRIC)
        for family, step in zip(FAMILIES, steps[:4], strict=True):
            assert step["kind"] in FAMILIES[family] and 1 <= step["severity"] <= 5
            seen[family].add(step["kind"])
        assert info["kind"] == "chef" and info["seed"] == 0
    assert all(len(kinds) > 1 for kinds in seen.values())  # the choice varies by sample
    chained = corrupt("chef", image_sample("q1"))
    assert chained.images[0].digest == corrupt("chef", image_sample("q1")).images[0].digest
    assert pixels(chained).shape != (64, 96, 3)  # crop, resize and rotate change the size


def test_bad_specs_are_one_line_errors() -> None:
    for spec, message in [
        ("corrupt_image:fog", "give a severity 1-5"),
        ("corrupt_image:fog@6", "less than or equal to 5"),
        ("corrupt_image:nope@1", "unknown corruption 'nope'"),
        ("corrupt_image:chef@2", "chef draws a severity per step"),
        ("corrupt_text:back_trans", "wmt19"),
        ("corrupt_text:ocr", "give a severity 1-5"),
        ("corrupt_text:lowercase@2", "takes no severity"),
    ]:
        with pytest.raises(ConfigError, match=message):
            api.load_task("shapes_small", transforms=[spec])


def test_a_missing_extra_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_library(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "imagecorruptions":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    ic.library_version.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_library)
    try:
        with pytest.raises(ConfigError, match=r"pip install 'mmlens\[robustness\]'"):
            CorruptImage(kind="fog", severity=1)
        CorruptImage(kind="rotate", severity=1)  # geometric steps need PIL only
    finally:
        monkeypatch.undo()
        ic.library_version.cache_clear()


# --- text ------------------------------------------------------------------------------------------


def text_sample(
    text: str, target: str = "B", choices: list[str] | None = None, sample_id: str = "7"
) -> Sample:
    return Sample(id=sample_id, messages=[Message.user(text)], target=target, choices=choices)


def corrupt_text(spec: str, sample: Sample) -> Sample:
    return CorruptText(**CorruptText.from_args(spec)).transform_sample(sample)[0]


MMSTAR_TEXT = "Question 0: Which shape is it? It is not red.\nOptions: A: square, B: circle, C: star, D: line"


def test_chefs_contraction_and_expansion() -> None:
    # ChEF's reverse pattern needs a space after the phrase; "is not" maps to the last key ("isn't")
    assert (
        contraction("it is not here and i am sure you are not ") == "it's not here and i'm sure you're not "
    )
    assert contraction("that is not") == "that's not"  # no trailing space after "not": unchanged
    assert contraction("It Is red") == "It's red"  # match_case: a capital first letter
    # ChEF's match_case: the apostrophe is not upper case, so "WON'T" counts as capitalised
    assert expansion("I can't, it's fine. Don't WON'T") == "I cannot, it is fine. Do not Will not"
    assert corrupt_text("lowercase", text_sample("Is It RED?")).question == "is it red?"


def test_character_level_corruptions_change_only_the_question() -> None:
    sample = text_sample(MMSTAR_TEXT)
    for kind in ("ocr", "typos", "spelling", "keyboard"):
        out = corrupt_text(f"{kind}@5", sample)
        head, options = out.question.split("\nOptions: ")
        assert options == "A: square, B: circle, C: star, D: line" and out.target == "B", kind
        assert head != "Question 0: Which shape is it? It is not red.", kind
        assert out.question == corrupt_text(f"{kind}@5", sample).question  # seeded per sample
        step = out.metadata["transform_details"]["corrupt_text"]["steps"][0]
        assert step["method"] == kind and step["severity"] == 5
    low, high = corrupt_text("ocr@1", sample).question, corrupt_text("ocr@5", sample).question
    changed = [sum(a != b for a, b in zip(MMSTAR_TEXT, text, strict=False)) for text in (low, high)]
    assert changed[0] < changed[1]  # rate 0.1 of the words vs 0.5


def test_option_moves_remap_the_target() -> None:
    sample = text_sample(MMSTAR_TEXT)  # gold B = circle
    reversed_ = corrupt_text("reverse_options", sample)
    assert reversed_.question.endswith("A: line, B: star, C: circle, D: square") and reversed_.target == "C"
    shifts = {
        corrupt_text("shift_options", text_sample(MMSTAR_TEXT, sample_id=str(i))).question for i in range(12)
    }
    # ChEF's circular_option: choices[1:] + choices[:1] (gold B -> A) or choices[-1:] + choices[:-1] (B -> C)
    assert {text.split("Options: ")[1] for text in shifts} == {
        "A: circle, B: star, C: line, D: square",
        "A: line, B: square, C: circle, D: star",
    }
    for i in range(12):
        out = corrupt_text("shift_options", text_sample(MMSTAR_TEXT, sample_id=str(i)))
        shown = dict(part.split(": ") for part in out.question.split("Options: ")[1].split(", "))
        assert shown[out.target or ""] == "circle"
    structured = corrupt_text("reverse_options", text_sample("What is it?", "C", ["a", "b", "c"]))
    assert structured.choices == ["c", "b", "a"] and structured.target == "A"
    yes_no = corrupt_text("reverse_options", text_sample("Is it red?", "yes"))
    assert yes_no.question == "Is it red?" and yes_no.target == "yes"


def test_the_chef_text_chain() -> None:
    for number in range(10):
        out = corrupt_text("chef", text_sample(MMSTAR_TEXT, sample_id=str(number)))
        steps = out.metadata["transform_details"]["corrupt_text"]["steps"]
        methods = [step["method"] for step in steps]
        assert methods[0] == "lowercase" and methods[1] in ("contraction", "expansion")
        assert [step.get("level") for step in steps[2:4]] == ["sentence", "word"] and steps[2]["skipped"]
        assert methods[4] in ("ocr", "typos", "spelling", "keyboard") and 1 <= steps[4]["severity"] <= 5
        assert methods[5] in ("shift_options", "reverse_options") and steps[5]["target"] == out.target
        head = out.question.split("\nOptions: ")[0]
        assert "Question" not in head and "Which" not in head  # lower-cased first
        shown = dict(part.split(": ") for part in out.question.split("Options: ")[1].split(", "))
        assert shown[out.target or ""] == "circle"


# --- end to end ------------------------------------------------------------------------------------


def _image_digests(record_prompt: list[dict[str, Any]]) -> list[str]:
    return [
        part["image"] for message in record_prompt for part in message["content"] if part["type"] == "image"
    ]


@pytest.mark.parametrize(("task", "folder"), [("pope", "pope"), ("mmstar", "mmstar")])
def test_corrupted_images_through_a_tiny_vlm_and_a_cached_rerun(
    task: str,
    folder: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tiny_model_factory: TinyModelFactory,  # noqa: F811
) -> None:
    """A yes/no benchmark (POPE, placeholder images) and a multiple-choice one (MMStar) through
    the real hf backend; the rerun is answered from the cache without corrupting any image."""
    pytest.importorskip("transformers")
    builder = data_builder(task, folder)
    assert builder is not None
    data = pope_with_images(tmp_path / task, 2) if task == "pope" else builder(tmp_path / task)
    model = f"hf:{tiny_model_factory('llava')}"
    options: dict[str, Any] = {"model_args": "dtype=float32", "store": tmp_path / "s.sqlite"}
    options.update(output_dir=None, limit=4, data=data)
    plain = api.evaluate(task, model, **options)
    run = api.evaluate(task, model, transforms=["corrupt_image:gaussian_noise@3"], **options)
    assert run.results["counts"]["errors"] == 0
    assert run.results["provenance"]["task"]["transforms"] == ["corrupt_image:gaussian_noise@3"]
    for before, after in zip(plain.records, run.records, strict=True):
        assert before.id == after.id
        originals, corrupted = _image_digests(before.prompt), _image_digests(after.prompt)
        assert corrupted and all(d.startswith("gen:corrupt_image/gaussian_noise/") for d in corrupted)
        assert set(originals).isdisjoint(corrupted)
        details = after.details["transforms"]["corrupt_image"]
        assert details["kind"] == "gaussian_noise" and details["severity"] == 3 and details["seed"] == 0
        assert [image["digest"] for image in details["images"]] == corrupted
    assert run.stats is not None and run.stats.computed == run.stats.unique_requests > 0

    drawn: list[str] = []
    real_pil = CorruptedImage.pil

    def counting(self: CorruptedImage) -> Image.Image:
        drawn.append(self.digest)
        return real_pil(self)

    monkeypatch.setattr(CorruptedImage, "pil", counting)
    monkeypatch.setattr(CorruptedImage, "encoded", lambda self: pytest.fail("encoded on a cached rerun"))
    rerun = api.evaluate(task, model, transforms=["corrupt_image:gaussian_noise@3"], **options)
    stats = rerun.stats
    assert stats is not None and stats.cached == stats.unique_requests == run.stats.unique_requests
    assert stats.computed == 0 and drawn == []
    assert rerun.run_id == run.run_id


def test_the_cli_form(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    args = ["run", "shapes_small", "--limit", "6", "--store", store, "--output-dir", str(tmp_path / "runs"),
            "--no-progress", "--json"]  # fmt: skip
    code = main([*args, "--transform", "corrupt_image:chef", "--transform", "corrupt_text:ocr@2"])
    results = json.loads(capsys.readouterr().out)
    assert code == 0 and results["counts"]["errors"] == 0
    assert results["provenance"]["task"]["transforms"] == ["corrupt_image:chef", "corrupt_text:ocr@2"]
    samples = (tmp_path / "runs").glob("*/samples.jsonl")
    record = json.loads(next(iter(samples)).read_text().splitlines()[0])
    assert set(record["details"]["transforms"]) == {"corrupt_image", "corrupt_text"}
    code = main([*args, "--transform", "corrupt_image:fog@7"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "corrupt_image:fog@7" in err


def test_corruptions_leave_the_global_generators_as_they_were() -> None:
    # The libraries draw from Python's and numpy's global generators, seeded per step; the state a
    # corruption seeds must not leak into the rest of the process (a model, another transform).
    import random

    random.seed(123)
    np.random.seed(123)
    python_state = random.getstate()
    numpy_state: Any = np.random.get_state()  # numpy types it as a tuple or a dict
    after: Any
    ic._DRAWN.items.clear()
    pixels(corrupt("gaussian_noise@3", image_sample()))
    corrupt_text("ocr@3", text_sample(MMSTAR_TEXT))
    assert random.getstate() == python_state
    after = np.random.get_state()
    assert (
        after[0] == numpy_state[0]
        and np.array_equal(after[1], numpy_state[1])
        and after[2:] == numpy_state[2:]
    )
