"""Finding a local copy's image files: found, missing from a copy with images, or a questions-only copy."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from mmlens.core.errors import SampleError
from mmlens.core.media import AbsentImage, FileImage
from mmlens.scenarios.local_images import ImageNotFound, LocalImages, confined_image


def test_a_copy_with_images_reports_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "val2014").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "val2014" / "a.jpg")
    images = LocalImages([tmp_path / "val2014", tmp_path], True, "coco/", "hint")
    found = images.find("a.jpg")
    assert isinstance(found, FileImage) and found.path == tmp_path / "val2014" / "a.jpg"
    with pytest.raises(
        ImageNotFound, match=f"image file b.jpg not found .looked in {tmp_path / 'val2014'}, "
    ):
        images.find("b.jpg")


def test_the_first_lookup_decides_when_no_image_folder_was_found(tmp_path: Path) -> None:
    questions_only = LocalImages([tmp_path], False, "mmr/", "the images go in images/", searched="here")
    absent = questions_only.find("x.png")
    assert (
        isinstance(absent, AbsentImage)
        and absent.label == "mmr/x.png"
        and absent.hint == "the images go in images/"
    )
    Image.new("RGB", (4, 4)).save(tmp_path / "y.png")
    assert isinstance(questions_only.find("y.png"), FileImage)  # a file that is there is used
    beside = LocalImages([tmp_path], False, "mmr/", "hint", searched="here")
    assert isinstance(beside.find("y.png"), FileImage)  # the copy holds images beside the questions
    with pytest.raises(ImageNotFound, match=r"image file x.png not found \(looked in here\)"):
        beside.find("x.png")


def test_a_confined_image_stays_inside_its_root_and_a_missing_one_is_absent(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "img").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(root / "img" / "a.png")
    Image.new("RGB", (4, 4)).save(tmp_path / "secret.png")
    (root / "img" / "link.png").symlink_to(tmp_path / "secret.png")
    found = confined_image("q1", "img/a.png", root, "f.jsonl, line 1", " (note)")
    assert isinstance(found, FileImage) and found.path == root / "img" / "a.png"
    for bad in ("/etc/passwd", "../secret.png", "img/link.png"):
        with pytest.raises(SampleError, match=f"f.jsonl, line 1: image path '{bad}' must be relative to"):
            confined_image("q1", bad, root, "f.jsonl, line 1", "")
    with pytest.raises(SampleError, match="image path None is not a path"):
        confined_image("q1", None, root, "f.jsonl, line 1", "")
    absent = confined_image("q1", "img/b.png", root, "w", " (images go under data)")
    assert isinstance(absent, AbsentImage)
    assert absent.hint == f"image file {root / 'img' / 'b.png'} does not exist (images go under data)"
