"""Images are held as references (paths, parquet row positions), never as bytes for the whole run;
a path that is no regular file says so."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from mmlens.core.errors import DataError
from mmlens.core.media import FileImage
from mmlens.scenarios.tables import read_table, row_images

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _noise_jpeg(index: int, side: int = 300) -> bytes:
    from PIL import Image

    rng = random.Random(index)
    image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def write_mmstar_parquet(path: Path, rows: int, row_group: int = 100, side: int = 300) -> list[bytes]:
    """MMStar-shaped rows, each with a distinct, incompressible JPEG (about 200 KB at 300x300)."""
    base = _noise_jpeg(0, side)
    images = [base[:2] + b"\xff\xfe\x00\x08" + i.to_bytes(4, "big") + base[2:] for i in range(rows)]
    table = pa.table(
        {
            "index": list(range(rows)),
            "question": [f"q{i}\nOptions: A: a, B: b" for i in range(rows)],
            "image": [{"bytes": image, "path": f"{i}.jpg"} for i, image in enumerate(images)],
            "answer": ["A"] * rows,
            "category": ["c"] * rows,
            "l2_category": ["l"] * rows,
        }
    )
    pq.write_table(table, path, row_group_size=row_group)
    return images


def test_parquet_image_cells_are_references_read_again_on_demand(tmp_path: Path) -> None:
    data = tmp_path / "data.parquet"
    from mmlens.core.media import StoredImage

    images = write_mmstar_parquet(data, 50, row_group=7, side=32)
    table = read_table(data, default_hub_id="x", split="val", task="t")
    refs = [row_images(row, "image", table, str(i))[0] for i, row in enumerate(table)]
    assert all(isinstance(ref, StoredImage) for ref in refs)
    assert not any(isinstance(value, bytes) for ref in refs for value in vars(ref).values())
    for ref, image in zip(refs, images, strict=True):
        assert ref.digest == "sha256:" + hashlib.sha256(image).hexdigest()
    order = list(range(50))
    random.Random(1).shuffle(order)
    for position in order + list(range(50)):  # any order, across row groups, again and again
        assert refs[position].encoded() == images[position]
    assert refs[3].describe() == "3.jpg"


def test_parquet_cells_stream_a_large_row_group(tmp_path: Path) -> None:
    data = tmp_path / "one-group.parquet"
    images = write_mmstar_parquet(data, 120, row_group=1000, side=16)  # a single row group
    from mmlens.scenarios.tables import _ParquetCells

    cells = _ParquetCells([data])
    assert [cells.cell(i, "image")["bytes"] for i in (0, 119, 5, 64, 63)] == [
        images[i] for i in (0, 119, 5, 64, 63)
    ]


PEAK = """
import sys
from mmlens import api

def peak_mib():  # this process's own high-water mark (ru_maxrss can carry the parent's over exec)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmHWM:"))

small, large, folder = sys.argv[1:]
def run(data, store):
    api.evaluate("mmstar", "constant", data=data, store=folder + store, output_dir=None)
    print(peak_mib())
run(small, "/small.sqlite")  # every module imported, every pool warm: the baseline peak
run(large, "/large.sqlite")  # the first run
run(large, "/large.sqlite")  # the fully cached rerun
"""


def test_peak_memory_does_not_grow_with_the_image_bytes(tmp_path: Path) -> None:
    """800 rows of 100 KB JPEGs (80 MB of images) peak about where 40 rows do, cached rerun too."""
    small, large = tmp_path / "small.parquet", tmp_path / "large.parquet"
    write_mmstar_parquet(small, 40)
    total = sum(len(image) for image in write_mmstar_parquet(large, 800)) / 2**20
    assert total > 75
    done = subprocess.run(
        [sys.executable, "-c", PEAK, str(small), str(large), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    baseline, first, cached = (int(line) for line in done.stdout.split())
    # held bytes grew the peak by 3x the image bytes; what is left is allocator slack, not data
    assert first - baseline < 0.9 * total, (
        f"first run peaked {first - baseline} MiB above 40 rows ({total:.0f} MiB of images)"
    )
    assert cached - baseline < 0.9 * total, f"cached rerun peaked {cached - baseline} MiB above 40 rows"


def test_a_device_or_folder_as_an_image_is_named_as_such(tmp_path: Path) -> None:
    from mmlens.core.media import file_problem

    assert (
        file_problem(Path("/dev/zero"))
        == "image file /dev/zero is not a regular file (a device, pipe or socket)"
    )
    assert file_problem(tmp_path) == f"image file {tmp_path} is a folder"
    assert file_problem(tmp_path / "nope.png") == f"image file {tmp_path / 'nope.png'} does not exist"
    with pytest.raises(DataError, match="not a regular file"):
        FileImage("/dev/zero").digest  # noqa: B018 - never hashed forever
    with pytest.raises(DataError, match="not a regular file"):
        FileImage("/dev/zero").encoded()


def test_a_fifo_in_a_jsonl_task_is_a_bad_sample_saying_so(tmp_path: Path) -> None:
    from mmlens import api

    os.mkfifo(tmp_path / "pipe.jpg")
    (tmp_path / "img.jpg").write_bytes(_noise_jpeg(1, 16))
    lines = [
        {"id": "a", "question": "?", "image": "pipe.jpg", "answer": "yes"},
        {"id": "b", "question": "?", "image": "img.jpg", "answer": "yes"},
    ]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    task = tmp_path / "fifo.yaml"
    task.write_text(
        "name: fifo\ndescription: d\nid_scheme: the id field\nscenario: {type: jsonl, path: d.jsonl}\n"
        "inferencer: {type: generate, max_new_tokens: 4}\n"
        "metric: {type: accuracy, extractor: choice_or_yes_no}\n"
    )
    result = api.evaluate("fifo", "constant", include=[task], store=tmp_path / "s.sqlite", output_dir=None)
    reasons = json.dumps(result.results)
    assert "pipe.jpg is not a regular file" in reasons
    assert "does not exist" not in reasons


def test_a_parquet_path_cell_naming_a_device_is_a_bad_sample_saying_so(tmp_path: Path) -> None:
    from mmlens.core.errors import SampleError

    data = tmp_path / "paths.parquet"
    pq.write_table(pa.table({"image": [{"bytes": None, "path": "/dev/zero"}]}), data)
    table = read_table(data, default_hub_id="x", split="val", task="t")
    row = next(iter(table))
    with pytest.raises(SampleError, match="/dev/zero is not a regular file"):
        row_images(row, "image", table, "0")
