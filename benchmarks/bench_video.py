"""Video pipeline: peak memory over a run as the number of videos grows, and frame sampling time.

Memory: a Video-MME copy (published layout) with N distinct generated videos of 1-3 minutes,
3 questions each, run with 32 frames through the openai backend against the local fault server
(a subprocess). Each N runs in its own process and reports its peak resident memory (VmHWM) and
what it still holds at the end (VmRSS); with ``--trace`` also tracemalloc's largest live
allocation sites at the end. With ``--baseline`` each N runs again with ``drop_images=true``
(the same requests, nothing decoded): what the run itself holds (its samples, records, store),
so "frames' share" = peak with frames - peak without is what video costs. Flat means frames are
not held after their request is sent.

The videos (``max(counts)`` of them, each its own content) are generated once with PyAV and kept
in ``--cache`` (default: a folder in the temp dir named after the settings), so a second run
starts at once.

Sampling time: per installed decoder, seconds to probe and decode 8, 32 and 64 frames (Video-MME
rule) from each of ``--timed`` videos, mean per video.

    python benchmarks/bench_video.py [--counts 10,100,300] [--baseline] [--fps 6] [--size 128x96] [--trace]

Measured (2026-12-03, 2 shared cores, 300 videos of 60-180 s at 6 fps 128x96, 32 frames, 8 in
flight): peak RSS 152 / 172 / 184 MiB at 10 / 100 / 300 videos; without frames 104 / 111 / 121;
frames' share 48 / 61 / 63 MiB (flat from 100 to 300: a leak of the frames would add 1.2 MiB a
video). Python's live heap after a run is the same at 10, 100 and 300 videos (tracemalloc); the
run's own rise (+17 MiB at 900 requests) is its per-sample records. Sampling per video (20
videos, warm): decord 93 / 98 / 106 ms, torchcodec 0.13.0+cpu 109 / 144 / 189 ms, PyAV 178 / 197
/ 265 ms for 8 / 32 / 64 frames.
"""

from __future__ import annotations

import argparse
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
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))


def memory_mib(field: str) -> float:
    """``VmHWM`` (peak resident) or ``VmRSS`` (resident now) of this process, in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def make_clip(path: Path, seconds: int, fps: int, size: tuple[int, int], seed: int) -> None:
    """A real H.264 mp4: moving colour gradients, different per seed (cheap to encode)."""
    import av
    import numpy as np

    width, height = size
    rows, columns = np.mgrid[0:height, 0:width]
    part = path.with_suffix(".part.mp4")
    with av.open(str(part), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        pixels = np.empty((height, width, 3), dtype=np.uint8)
        for index in range(seconds * fps):
            pixels[..., 0] = (columns * 4 + index + seed) % 256
            pixels[..., 1] = (rows * 5 + index * 2 + seed * 7) % 256
            pixels[..., 2] = (index * 3 + seed * 13) % 256
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    part.rename(path)


def generated_videos(cache: Path, count: int, fps: int, size: tuple[int, int]) -> list[Path]:
    """``count`` videos of 60-180 s in ``cache``, generating those not there yet."""
    cache.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    lengths = [rng.randint(60, 180) for _ in range(count)]
    clips = []
    start = time.perf_counter()
    made = 0
    for number, seconds in enumerate(lengths):
        clip = cache / f"video{number:04d}.mp4"
        if not clip.exists():
            make_clip(clip, seconds, fps, size, number)
            made += 1
        clips.append(clip)
    total = sum(lengths)
    print(
        f"{count} videos of 1-3 min (mean {total / count:.0f} s) at {fps} fps, {size[0]}x{size[1]} in "
        f"{cache}: {made} generated now in {time.perf_counter() - start:.1f} s"
    )
    return clips


def build_copy(root: Path, clips: list[Path]) -> None:
    """A Video-MME copy of ``clips`` (linked, not copied), three questions per video."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    (root / "data").mkdir(parents=True)
    for number, clip in enumerate(clips):
        stem = f"video{number:04d}"
        os.symlink(clip, root / "data" / f"{stem}.mp4")
        for question in range(1, 4):
            rows.append(
                {
                    "video_id": f"{number + 1:03d}",
                    "duration": "short",
                    "domain": "Knowledge",
                    "sub_category": "Humanity & History",
                    "url": "",
                    "videoID": stem,
                    "question_id": f"{number + 1:03d}-{question}",
                    "task_type": "Counting Problem",
                    "question": f"Question {question}?",
                    "options": ["A. one", "B. two", "C. three", "D. four"],
                    "answer": "A",
                }
            )
    (root / "videomme").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), root / "videomme" / "test-00000-of-00001.parquet")


def child(root: Path, base_url: str, frames: int, trace: bool, no_frames: bool) -> None:
    if trace:
        import tracemalloc

        tracemalloc.start(8)
    from mmlens import api
    from mmlens.core.task import load_task_file

    task_file = REPO / "src" / "mmlens" / "tasks" / "videomme" / "videomme.yaml"
    task = load_task_file(task_file, overrides={"instruction": {"frames": frames}}, name="videomme")
    start = time.perf_counter()
    result = api.evaluate(
        task,
        "openai:bench",
        model_args=f"base_url={base_url},concurrency=8" + (",drop_images=true" if no_frames else ""),
        data=str(root),
        output_dir=None,
        store=root / "store.sqlite",
    )
    report: dict[str, object] = {
        "requests": result.stats.computed,
        "errors": result.results["counts"]["errors"],
        "seconds": time.perf_counter() - start,
        "peak_rss_mib": memory_mib("VmHWM"),
        "end_rss_mib": memory_mib("VmRSS"),
    }
    if trace:
        import gc
        import tracemalloc

        del result
        gc.collect()
        imports = [
            tracemalloc.Filter(False, f"<frozen importlib.{name}>")
            for name in ("_bootstrap", "_bootstrap_external")
        ]
        snapshot = tracemalloc.take_snapshot().filter_traces(imports)
        current, peak = tracemalloc.get_traced_memory()
        report["traced_mib"] = {"end": current / 2**20, "peak": peak / 2**20}
        report["top"] = [
            f"{stat.size / 2**20:.2f} MiB in {stat.count} blocks: {stat.traceback.format()[0].strip()}"
            for stat in snapshot.statistics("lineno")[:8]
        ]
    print(json.dumps(report))


def sampling_times(clips: list[Path]) -> dict[str, dict[int, float]]:
    from mmlens.media.decoders import available_decoders, get_decoder
    from mmlens.media.sampling import FrameSampling, segment_middles

    times: dict[str, dict[int, float]] = {}
    for name in available_decoders():
        decoder = get_decoder(name)
        times[name] = {}
        for clip in clips:  # warm-up: the files in the page cache, the library initialised
            decoder.frames(clip, [0])
        for frames in (8, 32, 64):
            start = time.perf_counter()
            for clip in clips:
                info = decoder.probe(clip)
                decoder.frames(clip, segment_middles(info.frame_count, frames))
            times[name][frames] = (time.perf_counter() - start) / len(clips)
        FrameSampling(decoder=name)  # the name is a valid setting
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="10,100,300")
    parser.add_argument("--fps", type=int, default=6)
    parser.add_argument("--size", default="128x96")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--timed", type=int, default=10, help="videos the sampling times average over")
    parser.add_argument("--cache", type=Path, default=None, help="folder the generated videos are kept in")
    parser.add_argument("--trace", action="store_true", help="tracemalloc's largest live sites at the end")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="each count also without frames (drop_images=true: nothing decoded): what the run itself holds",
    )
    parser.add_argument("--no-frames", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=2, metavar=("ROOT", "BASE_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1], args.frames, args.trace, args.no_frames)
        return
    from bench_openai_concurrency import local_server

    width, height = (int(value) for value in args.size.split("x"))
    counts = [int(value) for value in args.counts.split(",")]
    cache = args.cache or Path(tempfile.gettempdir()) / f"mmlens-bench-video-{args.size}-{args.fps}fps"
    clips = generated_videos(cache, max(counts), args.fps, (width, height))
    timed = clips[: args.timed]
    for name, by_frames in sampling_times(timed).items():
        line = ", ".join(f"{frames} frames {seconds * 1000:.0f} ms" for frames, seconds in by_frames.items())
        print(f"sampling per video ({len(timed)} videos), {name}: {line}")
    rows: list[tuple[int, dict[str, Any], dict[str, Any] | None]] = []
    with local_server(0.0) as server, tempfile.TemporaryDirectory() as folder:
        for count in counts:
            root = Path(folder) / f"copy{count}"
            build_copy(root, clips[:count])
            measured = measure(root, server.base_url, args, no_frames=False)
            baseline = measure(root, server.base_url, args, no_frames=True) if args.baseline else None
            rows.append((count, measured, baseline))
    print("videos           " + "  ".join(f"{count:>8}" for count, _, _ in rows))
    print("peak RSS         " + "  ".join(f"{m['peak_rss_mib']:>4.0f} MiB" for _, m, _ in rows))
    print("RSS at the end   " + "  ".join(f"{m['end_rss_mib']:>4.0f} MiB" for _, m, _ in rows))
    if args.baseline:
        print("peak, no frames  " + "  ".join(f"{b['peak_rss_mib']:>4.0f} MiB" for _, _, b in rows if b))
        print(
            "frames' share    "
            + "  ".join(f"{m['peak_rss_mib'] - b['peak_rss_mib']:>4.0f} MiB" for _, m, b in rows if b)
        )


def measure(root: Path, base_url: str, args: argparse.Namespace, no_frames: bool) -> dict[str, Any]:
    """One run over the copy at ``root`` in a child process: its counts and memory."""
    command = [sys.executable, __file__, "--frames", str(args.frames)]
    command += (["--trace"] if args.trace else []) + (["--no-frames"] if no_frames else [])
    output = subprocess.run(
        [*command, "--child", str(root), base_url], capture_output=True, text=True, check=True
    ).stdout
    measured: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    for suffix in ("", "-wal", "-shm"):  # the next run computes every request again
        (root / f"store.sqlite{suffix}").unlink(missing_ok=True)
    what = "no frames (drop_images)" if no_frames else f"{args.frames} frames"
    print(
        f"{root.name.removeprefix('copy')} videos ({measured['requests']} requests, {measured['errors']} "
        f"errors, {what}): peak RSS {measured['peak_rss_mib']:.0f} MiB, at the end "
        f"{measured['end_rss_mib']:.0f} MiB, {measured['seconds']:.1f} s",
        flush=True,
    )
    for line in measured.get("top", []):
        print(f"    {line}")
    if "traced_mib" in measured:
        traced = measured["traced_mib"]
        print(f"    traced: {traced['end']:.1f} MiB live at the end, {traced['peak']:.1f} MiB peak")
    return measured


if __name__ == "__main__":
    main()
