"""Thumbnails are made while the requests are out, not after the last response (issue 15 item 11),
decoded at reduced scale; a cached rerun makes none."""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from mmlens import api
from mmlens.core.media import BytesImage, FileImage, ImageRef
from mmlens.core.requests import Request
from mmlens.models.base import Emit, ModelSpec, build_model
from mmlens.models.constant import ConstantModel
from mmlens.runner.thumbnails import THUMBNAIL_SIDE, make_thumbnail
from mmlens.store.sqlite import Store
from tests.fixtures.benchmark_data import build_mmstar, mmstar_rows


class WaitsForThumbnails(ConstantModel):
    """Answers only once the store holds every thumbnail (or after 10 s): a run that makes them
    after the last response is seen here without them."""

    store_path: Path
    digests: list[str]
    saw_thumbnails = False

    def process(self, requests: Sequence[Request], emit: Emit) -> None:
        deadline = time.monotonic() + 10
        with Store(self.store_path) as store:
            while time.monotonic() < deadline and not WaitsForThumbnails.saw_thumbnails:
                WaitsForThumbnails.saw_thumbnails = not store.missing_thumbnails(self.digests)
                time.sleep(0.02)
        super().process(requests, emit)


def test_thumbnails_are_made_while_requests_are_out(tmp_path: Path) -> None:
    data = build_mmstar(tmp_path / "mmstar")
    store = tmp_path / "s.sqlite"
    model = build_model(ModelSpec(backend="constant"))
    model.__class__ = WaitsForThumbnails
    assert isinstance(model, WaitsForThumbnails)
    model.store_path = store
    model.digests = [BytesImage(row["image"]["bytes"]).digest for row in mmstar_rows()]
    WaitsForThumbnails.saw_thumbnails = False
    api.evaluate("mmstar", model, data=data, store=store, output_dir=None)
    assert WaitsForThumbnails.saw_thumbnails
    with Store(store) as opened:
        assert not opened.missing_thumbnails(model.digests)


def test_cached_rerun_makes_no_thumbnails(tmp_path: Path) -> None:
    data = build_mmstar(tmp_path / "mmstar")
    store = tmp_path / "s.sqlite"
    api.evaluate("mmstar", "constant", data=data, store=store, output_dir=None)
    from mmlens.runner import thumbnails

    made: list[object] = []
    original = thumbnails.make_thumbnail

    def counting(image: ImageRef, side: int = THUMBNAIL_SIDE) -> bytes | None:
        made.append(image)
        return original(image, side)

    thumbnails.make_thumbnail = counting
    try:
        api.evaluate("mmstar", "constant", data=data, store=store, output_dir=None)
    finally:
        thumbnails.make_thumbnail = original
    assert made == []


def jpeg(size: tuple[int, int], mode: str = "RGB") -> bytes:
    image = Image.linear_gradient("L").resize(size).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG" if mode in ("RGB", "L") else "PNG")
    return buffer.getvalue()


def test_thumbnails_of_large_and_odd_images(tmp_path: Path) -> None:
    for data in (jpeg((1000, 1000)), jpeg((1280, 300)), jpeg((300, 1280), "RGBA"), jpeg((64, 48), "P")):
        thumbnail = make_thumbnail(BytesImage(data))
        assert thumbnail is not None
        width, height = Image.open(io.BytesIO(thumbnail)).size
        assert max(width, height) <= THUMBNAIL_SIDE and min(width, height) >= 1
    big = Image.open(io.BytesIO(make_thumbnail(BytesImage(jpeg((1000, 1000)))) or b""))
    assert big.size == (THUMBNAIL_SIDE, THUMBNAIL_SIDE)  # drafted at 1/4 (250 px), then resized to 160
    assert make_thumbnail(BytesImage(b"not an image")) is None
    assert make_thumbnail(FileImage(tmp_path / "missing.png")) is None


def test_a_large_run_makes_its_thumbnails_in_a_worker_process(tmp_path: Path, monkeypatch: Any) -> None:
    """From PROCESS_FROM images on, the decoding runs in a child process (in a thread of the run's
    process it fought the run loop for the GIL: 50,000 rows took 77 s instead of 31 s); the
    thumbnails are the very bytes make_thumbnail makes."""
    from mmlens.runner import thumbnails

    data = build_mmstar(tmp_path / "mmstar")
    store = tmp_path / "s.sqlite"
    monkeypatch.setattr(thumbnails, "PROCESS_FROM", 1)
    monkeypatch.setattr(thumbnails, "CHUNK", 2)  # several chunks, the last one short
    in_process: list[ImageRef] = []
    original = thumbnails.make_thumbnail
    monkeypatch.setattr(thumbnails, "make_thumbnail", lambda image, side=160: in_process.append(image))
    api.evaluate("mmstar", "constant", data=data, store=store, output_dir=None)
    assert in_process == []
    images = [BytesImage(row["image"]["bytes"]) for row in mmstar_rows()]
    with Store(store) as opened:
        saved = opened.get_thumbnails(image.digest for image in images)
    assert saved == {image.digest: original(image) for image in images}


def test_another_model_on_the_same_data_decodes_no_image_to_check_it(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """An image with a thumbnail was decoded from the bytes its digest names: the readability check
    before sending skips it, so a second model on the same data reads no image there (a check cost
    about 0.1 ms per image: 5 s of a 50,000-row run)."""
    data = build_mmstar(tmp_path / "mmstar")
    store = tmp_path / "s.sqlite"
    api.evaluate("mmstar", "constant", data=data, store=store, output_dir=None)
    checked: list[ImageRef] = []
    original = ImageRef.unreadable_reason

    def counting(self: ImageRef) -> str | None:
        checked.append(self)
        return original(self)

    monkeypatch.setattr(ImageRef, "unreadable_reason", counting)
    other = ModelSpec(backend="constant", name="other", args={"text": "B"})
    result = api.evaluate("mmstar", other, data=data, store=store, output_dir=None)
    assert checked == [] and len(result.records) == len(mmstar_rows())
    with Store(store) as opened:  # a fresh store: every image is checked again
        assert opened.thumbnailed(BytesImage(row["image"]["bytes"]).digest for row in mmstar_rows())
    api.evaluate("mmstar", other, data=data, store=tmp_path / "fresh.sqlite", output_dir=None)
    assert len(checked) == len(mmstar_rows())
