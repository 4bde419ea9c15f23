"""Per-sample cost and peak memory at scale (issue 15 items 11 and 12): before and after, one run.

    python benchmarks/bench_scale.py [--rows 50000] [--big-rows 5000] [--before REV] [--keep DIR]

1. Speed: an MMStar-shaped parquet file of ``--rows`` rows, one distinct 320x240 JPEG each, run
   with the zero-latency ``constant`` model and thumbnails on (the default): a first run and the
   fully cached rerun, wall time and cost per row. Goal: <= 0.25 ms per row (50,000 rows well
   under 15 s on 2 cores).
2. Memory: ``--big-rows`` rows of distinct 1-megapixel JPEGs (about 0.3 MB each), peak RSS of
   the first run and of the fully cached rerun. Goal: under 400 MB, not growing with the image
   bytes of the data.

"before" is mmlens as of ``--before`` (a git revision; by default the commit before this work),
its ``src/`` extracted with ``git archive`` into a temporary folder; "after" is this checkout.
Every run is a fresh subprocess; peak RSS is its VmHWM.

Measured 2026-12-04 (2-core AMD EPYC, 24 GiB, Python 3.11.7, before = 61ac409):

    speed    before  first 73.35 s (1.467 ms/row)  cached 10.61 s (0.212 ms/row)  peak 830 MiB
             after   first 11.47 s (0.229 ms/row)  cached  7.72 s (0.154 ms/row)  peak 693 MiB
    memory   before  first 4,374 MiB (77.5 s)  cached 4,366 MiB (6.8 s)
             after   first   359 MiB ( 4.7 s)  cached   345 MiB (3.0 s)

The same host has run the "before" first run in 73-99 s on different days: compare the two rows of
one run, not runs of different days.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BEFORE = "61ac4094148fee414d818099eb5d5f26ec8fe37d"  # main before issue 15 items 11-12


# --- data -------------------------------------------------------------------------------------


def _base_jpeg(width: int, height: int, noisy: bool) -> bytes:
    from PIL import Image

    rng = random.Random(0)
    if noisy:  # photographic file sizes: coarse noise compresses poorly
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


def write_parquet(path: Path, rows: int, width: int, height: int, noisy: bool) -> None:
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
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, 100):
            indices = list(range(start, min(rows, start + 100)))
            writer.write_table(
                pa.table(
                    {
                        "index": indices,
                        "question": [f"Which option? {i}\nOptions: A: a, B: b, C: c, D: d" for i in indices],
                        "image": [{"bytes": _distinct(base, i), "path": f"{i}.jpg"} for i in indices],
                        "answer": ["ABCD"[i % 4] for i in indices],
                        "category": [f"cat{i % 6}" for i in indices],
                        "l2_category": [f"axis{i % 18}" for i in indices],
                    },
                    schema=schema,
                )
            )


# --- one run in a subprocess ------------------------------------------------------------------


def worker(data: str, store: str) -> None:
    from mmlens import api

    started = time.perf_counter()
    runs = Path(store).with_suffix(".runs")
    result = api.evaluate("mmstar", "constant", data=data, store=store, output_dir=runs, progress=False)
    seconds = time.perf_counter() - started
    with open("/proc/self/status") as status:  # VmHWM: ru_maxrss can carry the parent's peak over exec
        peak = next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"seconds": seconds, "peak_mib": peak, "samples": len(result.records)}))


def run_worker(src: Path, data: Path, store: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", str(data), str(store)]
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"run with {src} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def first_and_cached(mode: str, src: Path, data: Path, folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    store = folder / f"{mode}-{data.stem}.sqlite"
    for leftover in folder.glob(f"{store.name}*"):
        leftover.unlink()
    return run_worker(src, data, store), run_worker(src, data, store)


def extract_src(revision: str, folder: Path) -> Path:
    """``src/`` of ``revision`` in ``folder`` (git archive), for the "before" runs."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", revision, "src"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder / "src"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--big-rows", type=int, default=5_000)
    parser.add_argument("--before", default=BEFORE, help="the git revision measured as 'before'")
    parser.add_argument("--keep", type=Path, help="a folder for the data files (reused when present)")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        sources = {"before": extract_src(args.before, Path(tmp) / "before"), "after": REPO / "src"}
        small, big = folder / f"small-{args.rows}.parquet", folder / f"big-{args.big_rows}.parquet"
        if not small.exists():
            write_parquet(small, args.rows, 320, 240, noisy=False)
        if not big.exists():
            write_parquet(big, args.big_rows, 1000, 1000, noisy=True)
        print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; before = {args.before[:12]}")
        print(
            f"speed: {args.rows:,} rows, 320x240 JPEGs ({small.stat().st_size / 2**20:.0f} MiB parquet), "
            "constant model, thumbnails on"
        )
        print(f"  {'':8} {'first run':>24} {'cached rerun':>24}   peak RSS (first)")
        for mode, src in sources.items():
            first, cached = first_and_cached(mode, src, small, folder)
            cells = [
                f"{r['seconds']:6.2f} s {r['seconds'] / args.rows * 1000:6.3f} ms/row"
                for r in (first, cached)
            ]
            print(f"  {mode:8} {cells[0]:>24} {cells[1]:>24}   {first['peak_mib']:6.0f} MiB")
        size = big.stat().st_size / 2**20
        print(f"memory: {args.big_rows:,} rows, 1-megapixel JPEGs ({size:.0f} MiB parquet), peak RSS")
        for mode, src in sources.items():
            first, cached = first_and_cached(mode, src, big, folder)
            print(
                f"  {mode:8} first run {first['peak_mib']:6.0f} MiB ({first['seconds']:5.1f} s), "
                f"cached rerun {cached['peak_mib']:6.0f} MiB ({cached['seconds']:5.1f} s)"
            )


if __name__ == "__main__":
    main()
