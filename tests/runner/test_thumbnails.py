"""Thumbnails are made off the critical path (while requests are out) and at reduced scale."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from mmlens import api
from mmlens.core.media import BytesImage, FileImage
from mmlens.core.requests import Request, Response
from mmlens.models.base import Emit
from mmlens.models.constant import ConstantArgs, ConstantModel
from mmlens.runner.thumbnails import make_thumbnail
from mmlens.store.sqlite import Store


def _jpeg(width: int, height: int, colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    image.paste(colour, (0, 0, width // 3, height // 3))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _jsonl_task(folder: Path, rows: int) -> tuple[Path, Path]:
    (folder / "img").mkdir()
    lines = []
    for index in range(rows):
        (folder / "img" / f"{index}.jpg").write_bytes(_jpeg(64, 48, (index * 7 % 256, 40, 40)))
        lines.append({"id": f"q{index}", "question": "Yes?", "image": f"img/{index}.jpg", "answer": "yes"})
    data = folder / "data.jsonl"
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    task = folder / "thumbs.yaml"
    task.write_text(
        "name: thumbs\ndescription: d\nid_scheme: the id field\nscenario: {type: jsonl, path: data.jsonl}\n"
        "inferencer: {type: generate, max_new_tokens: 4}\n"
        "metric: {type: accuracy, extractor: choice_or_yes_no}\n"
    )
    return task, data


class WaitsForThumbnails(ConstantModel):
    """Answers only once the store (read through its own connection) holds every thumbnail, or
    after ``patience`` seconds: a run that thumbnails after the last response makes it wait."""

    def __init__(self, store: Path, expected: int, patience: float = 5.0) -> None:
        super().__init__("waits", ConstantArgs())
        self.store, self.expected, self.patience = store, expected, patience
        self.seen: int | None = None

    def process(self, requests: Sequence[Request], emit: Emit) -> None:
        deadline = time.monotonic() + self.patience
        with sqlite3.connect(self.store) as db:
            while True:
                self.seen = db.execute("SELECT COUNT(*) FROM thumbnails").fetchone()[0]
                if self.seen >= self.expected or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
        for index in range(len(requests)):
            emit(index, Response(text="yes"))


def test_thumbnails_are_made_while_the_requests_are_out(tmp_path: Path) -> None:
    task, _ = _jsonl_task(tmp_path, 40)
    store = tmp_path / "store.sqlite"
    model = WaitsForThumbnails(store, expected=40)
    result = api.evaluate("thumbs", model, include=[task], store=store, output_dir=None)
    assert model.seen == 40  # before the model answered, not after the last response
    assert result.results["metrics"]["acc"]["value"] == 1.0
    opened = Store(store)
    try:
        assert len(opened.get_thumbnails(_digests(tmp_path, 40))) == 40
    finally:
        opened.close()
    assert not [t for t in threading.enumerate() if t.name == "mmlens-thumbnails"]


def _digests(folder: Path, rows: int) -> list[str]:
    return [FileImage(folder / "img" / f"{i}.jpg").digest for i in range(rows)]


class FailsAtOnce(ConstantModel):
    def process(self, requests: Sequence[Request], emit: Emit) -> None:
        raise KeyboardInterrupt


def test_an_interrupted_run_stops_the_thumbnail_thread(tmp_path: Path) -> None:
    task, _ = _jsonl_task(tmp_path, 20)
    with pytest.raises(BaseException):  # noqa: B017 - the runner's interruption, whatever its type
        api.evaluate(
            "thumbs",
            FailsAtOnce("f", ConstantArgs()),
            include=[task],
            store=tmp_path / "s.sqlite",
            output_dir=None,
        )
    assert not [t for t in threading.enumerate() if t.name == "mmlens-thumbnails" and t.is_alive()]


def test_a_cached_rerun_makes_no_thumbnails_again(tmp_path: Path) -> None:
    task, _ = _jsonl_task(tmp_path, 10)
    store = tmp_path / "s.sqlite"
    api.evaluate("thumbs", "constant", include=[task], store=store, output_dir=None)
    with sqlite3.connect(store) as db:
        db.execute("UPDATE thumbnails SET jpeg = x'00'")
    api.evaluate("thumbs", "constant", include=[task], store=store, output_dir=None)
    with sqlite3.connect(store) as db:
        assert {row[0] for row in db.execute("SELECT jpeg FROM thumbnails")} == {b"\x00"}


def test_thumbnail_sizes_and_modes() -> None:
    wide = make_thumbnail(BytesImage(_jpeg(640, 480)))
    assert wide is not None and Image.open(io.BytesIO(wide)).size == (160, 120)
    small = make_thumbnail(BytesImage(_jpeg(90, 60)))
    assert small is not None and Image.open(io.BytesIO(small)).size == (90, 60)  # never enlarged
    for mode in ("RGBA", "P", "LA", "I;16", "CMYK"):
        buffer = io.BytesIO()
        picture = Image.new("RGB", (400, 200), (10, 200, 30)).convert(mode)
        picture.save(buffer, format="TIFF" if mode in ("I;16", "CMYK") else "PNG")
        made = make_thumbnail(BytesImage(buffer.getvalue()))
        assert made is not None, mode
        assert Image.open(io.BytesIO(made)).size == (160, 80), mode
    assert make_thumbnail(BytesImage(b"not an image")) is None


def test_a_large_jpeg_is_decoded_at_reduced_scale(tmp_path: Path) -> None:
    """A 36-megapixel JPEG is 108 MB decoded; decoding it at 1/8 scale stays far below that."""
    path = tmp_path / "big.jpg"
    path.write_bytes(_jpeg(6000, 6000))
    code = (
        "import resource, sys\n"
        "from mmlens.core.media import FileImage\n"
        "from mmlens.runner.thumbnails import make_thumbnail\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "assert make_thumbnail(FileImage(sys.argv[1])) is not None\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    grown_mib = int(done.stdout.strip())
    assert grown_mib < 40, f"thumbnailing grew the peak by {grown_mib} MiB"
