"""Report thumbnails off the run's critical path (issue 15 item 11): an image that can be read
again (a file, a parquet/arrow/TSV cell) gets only its source recorded during the run, and the
report makes its thumbnail; an image only the run has (drawn, corrupted) is thumbnailed while the
requests are out, decoded at reduced scale. A cached rerun makes none."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from mmlens import api
from mmlens.cli import main
from mmlens.core.media import BytesImage, FileImage, ImageRef
from mmlens.core.requests import Request
from mmlens.models.base import Emit, ModelSpec, build_model
from mmlens.models.constant import ConstantModel
from mmlens.runner import thumbnails
from mmlens.runner.thumbnail_worker import jpeg_thumbnail
from mmlens.runner.thumbnails import THUMBNAIL_SIDE, make_thumbnail, report_thumbnails
from mmlens.store.sqlite import Store
from tests.fixtures.benchmark_data import build_mmbench_tsv, build_mmstar, mmstar_rows


def mmstar_digests() -> list[str]:
    return [BytesImage(row["image"]["bytes"]).digest for row in mmstar_rows()]


def prompt_images(result: Any) -> list[str]:
    return sorted(
        {
            part["image"]
            for record in result.records
            for message in record.prompt
            for part in message["content"]
            if part["type"] == "image"
        }
    )


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


def test_drawn_images_are_thumbnailed_while_requests_are_out(tmp_path: Path) -> None:
    """The shapes task draws its images (no source to read them again from): their thumbnails are
    made during the run, before the model answers, not after the last response."""
    store = tmp_path / "s.sqlite"
    model = build_model(ModelSpec(backend="constant"))
    model.__class__ = WaitsForThumbnails
    assert isinstance(model, WaitsForThumbnails)
    model.store_path = store
    result = api.evaluate("shapes", "constant", limit=6, store=tmp_path / "probe.sqlite", output_dir=None)
    model.digests = prompt_images(result)
    assert model.digests and all(digest.startswith("gen:") for digest in model.digests)
    WaitsForThumbnails.saw_thumbnails = False
    api.evaluate("shapes", model, limit=6, store=store, output_dir=None)
    assert WaitsForThumbnails.saw_thumbnails
    with Store(store) as opened:
        assert not opened.missing_thumbnails(model.digests)
        assert opened.image_sources(model.digests) == {}


def test_a_run_records_sources_and_makes_no_thumbnail_of_images_it_can_read_again(
    tmp_path: Path, monkeypatch: Any
) -> None:
    made: list[object] = []
    monkeypatch.setattr(thumbnails, "jpeg_thumbnail", lambda data, side: made.append(data))
    monkeypatch.setattr(thumbnails, "make_thumbnail", lambda image, side=160: made.append(image))
    data = build_mmstar(tmp_path / "mmstar")
    store = tmp_path / "s.sqlite"
    api.evaluate("mmstar", "constant", data=data, store=store, output_dir=None)
    assert made == []
    with Store(store) as opened:
        assert opened.thumbnailed(mmstar_digests()) == set()
        sources = opened.image_sources(mmstar_digests())
    assert set(sources) == set(mmstar_digests())
    first = sources[mmstar_digests()[0]]
    assert first["row"] == 0 and first["column"] == "image" and first["item"] is None
    assert all(Path(file).is_file() for file in first["table"]["parquet"])


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


def test_the_report_makes_the_missing_thumbnails_from_their_sources_without_writing(tmp_path: Path) -> None:
    data = build_mmstar(tmp_path / "mmstar")
    store = tmp_path / "s.sqlite"
    api.evaluate("mmstar", "constant", data=data, store=store, output_dir=None)
    images = [BytesImage(row["image"]["bytes"]) for row in mmstar_rows()]
    with Store(store, read_only=True) as reader:  # as mmlens report opens it
        found = report_thumbnails(reader, [image.digest for image in images])
    assert found == {image.digest: make_thumbnail(image) for image in images}
    with Store(store) as opened:  # read-only: the store is not changed
        assert opened.get_thumbnails(found) == {}


def test_report_thumbnails_in_worker_processes_are_the_same_bytes(tmp_path: Path, monkeypatch: Any) -> None:
    """Many missing thumbnails are made by several worker processes (the report is not the run: both
    cores are free), chunk by chunk; the bytes equal the in-process thumbnails."""
    monkeypatch.setattr(thumbnails, "PROCESS_FROM", 4)  # from 1 image on
    monkeypatch.setattr(thumbnails, "CHUNK", 2)  # several chunks per worker, the last one short
    data = build_mmstar(tmp_path / "mmstar")
    store = tmp_path / "s.sqlite"
    api.evaluate("mmstar", "constant", data=data, store=store, output_dir=None)
    images = [BytesImage(row["image"]["bytes"]) for row in mmstar_rows()]
    with Store(store, read_only=True) as reader:
        found = report_thumbnails(reader, [image.digest for image in images], workers=2)
    assert found == {image.digest: jpeg_thumbnail(image.encoded(), THUMBNAIL_SIDE) for image in images}


def test_sources_of_files_and_tsv_cells_and_what_changed_since(tmp_path: Path) -> None:
    """An image file and a base64 TSV cell are read again from where the run found them; a file
    changed since the run gets no thumbnail (never another image under the old one's digest)."""
    tsv = build_mmbench_tsv(tmp_path / "mmbench.tsv")
    store = tmp_path / "s.sqlite"
    result = api.evaluate("mmbench_dev_en", "constant", data=tsv, store=store, output_dir=None)
    digests = prompt_images(result)
    with Store(store, read_only=True) as reader:
        assert set(report_thumbnails(reader, digests)) == set(digests)
    folder = tmp_path / "files"
    folder.mkdir()
    pictures = []
    for number, size in enumerate([(40, 30), (50, 20)]):
        path = folder / f"{number}.png"
        Image.linear_gradient("L").resize(size).save(path)
        pictures.append(FileImage(path))
    with Store(store) as opened:
        opened.put_image_sources({image.digest: image.source() for image in pictures})
    Image.new("RGB", (9, 9)).save(pictures[1].path)  # changed after the run
    with Store(store, read_only=True) as reader:
        found = report_thumbnails(reader, [image.digest for image in pictures])
    assert found == {pictures[0].digest: make_thumbnail(pictures[0])}


def test_report_command_embeds_thumbnails_made_from_sources(tmp_path: Path) -> None:
    data = build_mmstar(tmp_path / "mmstar")
    store = tmp_path / "s.sqlite"
    api.evaluate("mmstar", "constant", data=data, store=store, output_dir=None)
    output = tmp_path / "report.html"
    assert main(["report", "--store", str(store), "-o", str(output)]) == 0
    html = output.read_text(encoding="utf-8")
    start = html.index('id="mmlens-images">') + len('id="mmlens-images">')
    embedded = json.loads(html[start : html.index("</script>", start)])
    assert len(embedded) == len(set(mmstar_digests())) and all(embedded)


def test_another_model_on_the_same_data_decodes_no_image_to_check_it(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """An image with a recorded source (or a thumbnail) was decoded from the bytes its digest names by
    an earlier run: the readability check
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
        assert opened.sourced(mmstar_digests()) == set(mmstar_digests())
    api.evaluate("mmstar", other, data=data, store=tmp_path / "fresh.sqlite", output_dir=None)
    assert len(checked) == len(mmstar_rows())
