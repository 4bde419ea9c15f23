"""Finding a local copy's image files: found, missing from a copy with images, or a questions-only copy."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from mmlens.core.media import AbsentImage, FileImage
from mmlens.scenarios.local_images import ImageNotFound, LocalImages


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
