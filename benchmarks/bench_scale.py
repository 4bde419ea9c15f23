"""Per-sample cost and peak memory at scale, the eager path ("before") next to the current one.

    python benchmarks/bench_scale.py [--rows 50000] [--big-rows 5000] [--keep DIR]

1. Speed: MMStar-shaped parquet with ``--rows`` rows, one distinct 320x240 JPEG each, run with the
   zero-latency ``constant`` model and thumbnails on (the default), first run and fully cached
   rerun: wall time and cost per sample. Goal: <= 0.25 ms per sample, well under 15 s for 50,000.
2. Memory: ``--big-rows`` rows of distinct 1-megapixel JPEGs (about 0.5 MB each), peak RSS of the
   first run and of the fully cached rerun. Goal: under 400 MB, not growing with the image bytes.

Every run is a fresh subprocess (peak RSS is its VmHWM). "before" runs the same code with
the old behaviour patched back in: image cells held as bytes (``BytesImage``) for the whole run,
and thumbnails made serially after the last response with a full decode (the code of mmlens
before issue 15, reimplemented here).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


# --- data -------------------------------------------------------------------------------------


def _base_jpeg(width: int, height: int, noisy: bool) -> bytes:
    from PIL import Image

    rng = random.Random(0)
    if noisy:  # photographic file sizes (about 400 KB a megapixel): coarse noise compresses poorly
        coarse = (width // 4, height // 4)
        image = Image.frombytes("RGB", coarse, rng.randbytes(coarse[0] * coarse[1] * 3))
        image = image.resize((width, height), Image.Resampling.BICUBIC)
    else:
        image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
        image.paste((200, 40, 40), (width // 4, height // 4, width // 2, height // 2))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _distinct(jpeg: bytes, index: int) -> bytes:
    """The same picture with a comment segment naming ``index``: distinct bytes, distinct digest."""
    comment = f"row {index}".encode()
    return jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:]


def write_parquet(path: Path, rows: int, width: int, height: int, noisy: bool) -> int:
    """An MMStar-shaped parquet file (row groups of 100 rows, as the hub writes image datasets)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = _base_jpeg(width, height, noisy)
    schema = pa.schema(
        [
            ("index", pa.int64()),
            ("question", pa.string()),
            ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
            ("answer", pa.string()),
            ("category", pa.string()),
            ("l2_category", pa.string()),
        ]
    )
    total = 0
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, 100):
            indices = list(range(start, min(rows, start + 100)))
            images = [{"bytes": _distinct(base, i), "path": f"{i}.jpg"} for i in indices]
            total += sum(len(image["bytes"]) for image in images)
            writer.write_table(
                pa.table(
                    {
                        "index": indices,
                        "question": [f"Which option? {i}\nOptions: A: a, B: b, C: c, D: d" for i in indices],
                        "image": images,
                        "answer": ["ABCD"[i % 4] for i in indices],
                        "category": [f"cat{i % 6}" for i in indices],
                        "l2_category": [f"axis{i % 18}" for i in indices],
                    },
                    schema=schema,
                )
            )
    return total


# --- one run in a subprocess ------------------------------------------------------------------


def _old_make_thumbnail(image: Any, side: int = 160) -> bytes | None:
    from mmlens.core.errors import DataError

    try:
        picture = image.pil().copy()
    except DataError:
        return None
    picture.thumbnail((side, side))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def _patch_old_behaviour() -> None:
    """The eager path of mmlens before issue 15: bytes in every sample, thumbnails after the run."""
    from mmlens.core.media import BytesImage, ImageRef
    from mmlens.runner import evaluate
    from mmlens.scenarios import tables

    original = tables.decode_image_cell

    def eager(cell: Any, base_dir: Any, label: str) -> Any:
        if isinstance(cell, dict) and cell.get("bytes"):
            return BytesImage(bytes(cell["bytes"]), label=cell.get("path") or label)
        return original(cell, base_dir, label)

    tables.decode_image_cell = eager  # type: ignore[assignment]
    tables.Table.lazy_images = False  # type: ignore[attr-defined]

    class SerialAfterTheRun:
        """Thumbnails made one by one with a full decode, after the last response."""

        def __init__(self, samples: list[Any], store: Any) -> None:
            self.samples, self.store = samples, store

        def start(self) -> SerialAfterTheRun:
            return self

        def cancel(self) -> None:
            pass

        def finish(self) -> int:
            images: dict[str, ImageRef] = {}
            for sample in self.samples:
                for image in sample.images:
                    images.setdefault(image.digest, image)
            made: dict[str, bytes] = {}
            for digest in self.store.missing_thumbnails(images):
                thumbnail = _old_make_thumbnail(images[digest])
                if thumbnail is not None:
                    made[digest] = thumbnail
            self.store.put_thumbnails(made)
            return len(made)

    evaluate.ThumbnailMaker = SerialAfterTheRun  # type: ignore[misc,assignment]


def worker(mode: str, data: str, store: str) -> None:
    if mode == "before":
        _patch_old_behaviour()
    from mmlens import api

    started = time.perf_counter()
    runs = Path(store).with_suffix(".runs")
    result = api.evaluate("mmstar", "constant", data=data, store=store, output_dir=runs, progress=False)
    seconds = time.perf_counter() - started
    with open("/proc/self/status") as status:  # VmHWM: ru_maxrss can carry the parent's peak over exec
        peak = next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"seconds": seconds, "peak_mib": peak, "samples": len(result.records)}))


def run_worker(mode: str, data: Path, store: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", mode, str(data), str(store)]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def first_and_cached(mode: str, data: Path, folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    store = folder / f"{mode}-{data.stem}.sqlite"
    for leftover in folder.glob(f"{store.name}*"):
        leftover.unlink()
    return run_worker(mode, data, store), run_worker(mode, data, store)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--big-rows", type=int, default=5_000)
    parser.add_argument("--keep", type=Path, help="a folder for the data files (reused when present)")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        small, big = folder / f"small-{args.rows}.parquet", folder / f"big-{args.big_rows}.parquet"
        if not small.exists():
            write_parquet(small, args.rows, 320, 240, noisy=False)
        if not big.exists():
            write_parquet(big, args.big_rows, 1000, 1000, noisy=True)
        print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        print(
            f"speed: {args.rows:,} rows, 320x240 JPEGs ({small.stat().st_size / 2**20:.0f} MiB parquet), "
            "constant model, thumbnails on"
        )
        print(f"  {'':8} {'first run':>22} {'cached rerun':>22}")
        for mode in ("before", "after"):
            first, cached = first_and_cached(mode, small, folder)
            cells = [
                f"{r['seconds']:6.2f} s {r['seconds'] / args.rows * 1000:6.3f} ms/row"
                for r in (first, cached)
            ]
            print(f"  {mode:8} {cells[0]:>22} {cells[1]:>22}")
        size = big.stat().st_size / 2**20
        print(f"memory: {args.big_rows:,} rows, 1-megapixel JPEGs ({size:.0f} MiB parquet), peak RSS")
        for mode in ("before", "after"):
            first, cached = first_and_cached(mode, big, folder)
            print(
                f"  {mode:8} first run {first['peak_mib']:7.0f} MiB ({first['seconds']:.1f} s), "
                f"cached rerun {cached['peak_mib']:7.0f} MiB ({cached['seconds']:.1f} s)"
            )


if __name__ == "__main__":
    main()
