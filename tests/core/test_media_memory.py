"""Images embedded in data are held as references, not bytes (issue 15 item 12), keep their content
hash, are checked when read again; a device or pipe given as an image says so (item 10)."""

from __future__ import annotations

import base64
import gc
import io
import os
import random
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mmlens import api
from mmlens.core.errors import DataError
from mmlens.core.media import BytesImage, FileImage, ImageRef
from mmlens.core.parts import LoadContext
from mmlens.scenarios.jsonl import JsonlScenario
from mmlens.scenarios.tables import read_table, row_images
from tests.fixtures.benchmark_data import build_mmbench_tsv, mmstar_rows, write_parquet

BIG = 4096  # every fixture image is larger than this once base64'd or as bytes; no other cell is


def large_buffers_reachable(roots: list[Any]) -> list[int]:
    """Sizes of the bytes / str / bytearray objects of BIG bytes or more reachable from ``roots``."""
    seen: set[int] = set()
    found: list[int] = []
    stack = list(roots)
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, type) or type(item).__name__ == "module":
            continue
        seen.add(id(item))
        if isinstance(item, bytes | bytearray | str | memoryview):
            if len(item) >= BIG:
                found.append(len(item))
            continue
        stack.extend(gc.get_referents(item))
    return found


def png_bytes(seed: int, size: int = 48) -> bytes:
    """Noise: a PNG of about size * size * 3 bytes (larger than BIG)."""
    noise = random.Random(seed).randbytes(size * size * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (size, size), noise).save(buffer, format="PNG")
    return buffer.getvalue()


def big_rows(count: int) -> list[dict[str, Any]]:
    rows = mmstar_rows() * (count // len(mmstar_rows()))
    return [
        {**row, "index": number, "image": {"bytes": png_bytes(number, size=48), "path": f"{number}.png"}}
        for number, row in enumerate(rows)
    ]


def test_parquet_samples_hold_no_image_bytes(tmp_path: Path) -> None:
    rows = big_rows(200)
    assert all(len(row["image"]["bytes"]) >= BIG for row in rows)
    data = write_parquet(rows, tmp_path / "data" / "val-00000-of-00001.parquet")
    table = read_table(data, default_hub_id="x", split="val", task="t")
    images = [row_images(row, "image", table, str(number))[0] for number, row in enumerate(table)]
    assert all(isinstance(image, ImageRef) for image in images)
    assert large_buffers_reachable(images) == []
    # the same content hash as the bytes themselves: request keys and the cache are unchanged
    assert [image.digest for image in images] == [BytesImage(row["image"]["bytes"]).digest for row in rows]
    assert images[150].encoded() == rows[150]["image"]["bytes"]
    assert images[3].pil().size == (48, 48)
    for image in images:  # a full pass keeps only a few batches of what it read
        image.encoded()
    assert len(large_buffers_reachable(images)) <= 6 * 16


def test_samples_of_a_run_hold_no_image_bytes(tmp_path: Path) -> None:
    data = write_parquet(big_rows(64), tmp_path / "mmstar" / "data" / "val-00000-of-00001.parquet")
    store, runs = tmp_path / "s.sqlite", tmp_path / "runs"
    first = api.evaluate("mmstar", "constant", data=data.parent.parent, store=store, output_dir=runs)
    again = api.evaluate("mmstar", "constant", data=data.parent.parent, store=store, output_dir=runs)
    assert first.run_id == again.run_id
    assert again.stats is not None and again.stats.computed == 0  # fully cached: the same keys


def test_tsv_base64_images_are_references(tmp_path: Path) -> None:
    path = build_mmbench_tsv(tmp_path / "mmbench.tsv")
    table = read_table(path, default_hub_id="x", split="dev", task="t")
    rows = list(table)
    images = [row["image"] for row in rows]
    assert images and all(isinstance(image, ImageRef) for image in images)
    assert large_buffers_reachable(images) == []
    assert large_buffers_reachable(rows) == []  # the rows stream: no base64 text kept either
    assert images[-1].pil().size[0] > 0
    assert images[0].digest.startswith("sha256:")


def test_changed_data_is_an_error_not_another_image(tmp_path: Path) -> None:
    rows = big_rows(16)
    data = write_parquet(rows, tmp_path / "one.parquet")
    images = [row["image"] for row in read_table(data, default_hub_id="x", split="val", task="t")]
    rows[5]["image"] = {"bytes": png_bytes(999, size=48), "path": "5.png"}
    write_parquet(rows, data)
    with pytest.raises(DataError, match="changed since the data was read"):
        images[5].encoded()
    assert images[5].unreadable_reason() is not None  # the sample is set aside, nothing is sent


def test_base64_parquet_cells_read_again(tmp_path: Path) -> None:
    """The lmms-eval MME-RealWorld copy holds base64 text in a ``bytes`` column."""
    image = png_bytes(3, size=48)
    data = write_parquet([{"index": 0, "bytes": base64.b64encode(image).decode()}], tmp_path / "a.parquet")
    table = read_table(data, default_hub_id="x", split="train", task="t", image_columns=("bytes",))
    (row,) = list(table)
    assert isinstance(row["bytes"], ImageRef) and row["bytes"].encoded() == image


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_non_regular_image_file_is_named_as_such(tmp_path: Path, special: str) -> None:
    path = Path(special) if special.startswith("/") else tmp_path / special
    if special == "fifo":
        os.mkfifo(path)
    if not path.exists():
        pytest.skip(f"{path} does not exist here")
    image = FileImage(path)
    with pytest.raises(DataError, match="is not a regular file") as error:
        _ = image.digest  # never hashed forever, never blocks on a pipe
    assert "does not exist" not in str(error.value)
    with pytest.raises(DataError, match="is not a regular file"):
        image.encoded()


def test_jsonl_fifo_image_is_a_bad_sample_saying_why(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "data.jsonl").write_text(
        '{"id": "a", "image": "pipe.png", "question": "q?", "answer": "yes"}\n'
    )
    items = list(JsonlScenario().load(LoadContext("t", tmp_path, str(tmp_path / "data.jsonl"), None)))
    assert len(items) == 1
    reason = getattr(items[0], "reason", "")
    assert "is not a regular file" in reason and "does not exist" not in reason
