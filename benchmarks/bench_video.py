"""Video pipeline: peak memory over a run as the number of videos grows, and frame sampling time.

Memory: a Video-MME copy (published layout) with N videos of 1-3 minutes, 3 questions each, run
with 32 frames through the openai backend against the local fault server (a subprocess); each N
runs in its own process and reports its peak resident memory (VmHWM). Flat means frames are not
held after their request is sent. The N files are copies of ``--distinct`` generated videos with
a unique trailing byte string each (distinct content hashes; decoders ignore trailing bytes).

Sampling time: per installed decoder, seconds to probe and decode 8, 32 and 64 frames (Video-MME
rule) from each generated video, mean over the videos.

    python benchmarks/bench_video.py [--counts 10,200] [--distinct 10] [--fps 10] [--size 320x180]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))


def peak_rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def make_clip(path: Path, seconds: int, fps: int, size: tuple[int, int], seed: int) -> None:
    import av
    import numpy as np

    rng = np.random.default_rng(seed)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        base = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        for index in range(seconds * fps):
            pixels = np.roll(base, index * 3, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def build_copy(root: Path, clips: list[Path], count: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    (root / "data").mkdir(parents=True)
    for number in range(count):
        stem = f"video{number:04d}"
        target = root / "data" / f"{stem}.mp4"
        shutil.copyfile(clips[number % len(clips)], target)
        with target.open("ab") as handle:
            handle.write(f"copy {number}".encode())
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


def child(root: Path, base_url: str, frames: int) -> None:
    from mmlens import api
    from mmlens.core.task import load_task_file

    task_file = REPO / "src" / "mmlens" / "tasks" / "videomme" / "videomme.yaml"
    task = load_task_file(task_file, overrides={"instruction": {"frames": frames}}, name="videomme")
    start = time.perf_counter()
    result = api.evaluate(
        task,
        "openai:bench",
        model_args=f"base_url={base_url},concurrency=8",
        data=str(root),
        output_dir=None,
        store=root / "store.sqlite",
    )
    print(
        json.dumps(
            {
                "requests": result.stats.computed,
                "errors": result.results["counts"]["errors"],
                "seconds": time.perf_counter() - start,
                "peak_rss_mib": peak_rss_mib(),
            }
        )
    )


def sampling_times(clips: list[Path]) -> dict[str, dict[int, float]]:
    from mmlens.media.decoders import available_decoders, get_decoder
    from mmlens.media.sampling import FrameSampling, segment_middles

    times: dict[str, dict[int, float]] = {}
    for name in available_decoders():
        decoder = get_decoder(name)
        times[name] = {}
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
    parser.add_argument("--counts", default="10,200")
    parser.add_argument("--distinct", type=int, default=10)
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--child", nargs=2, metavar=("ROOT", "BASE_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1], args.frames)
        return
    from bench_openai_concurrency import local_server

    width, height = (int(value) for value in args.size.split("x"))
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        clips = []
        start = time.perf_counter()
        for number in range(args.distinct):
            clip = work / f"clip{number}.mp4"
            make_clip(clip, rng.randint(60, 180), args.fps, (width, height), number)
            clips.append(clip)
        print(
            f"generated {len(clips)} videos of 1-3 min at {args.fps} fps, {args.size}: "
            f"{time.perf_counter() - start:.1f} s"
        )
        for name, by_frames in sampling_times(clips).items():
            line = ", ".join(
                f"{frames} frames {seconds * 1000:.0f} ms" for frames, seconds in by_frames.items()
            )
            print(f"sampling per video, {name}: {line}")
        with local_server(0.0) as server:
            for count in (int(value) for value in args.counts.split(",")):
                root = work / f"copy{count}"
                build_copy(root, clips, count)
                output = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--frames",
                        str(args.frames),
                        "--child",
                        str(root),
                        server.base_url,
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                measured = json.loads(output.strip().splitlines()[-1])
                print(
                    f"{count} videos ({measured['requests']} requests, {measured['errors']} errors, "
                    f"{args.frames} frames): peak RSS {measured['peak_rss_mib']:.0f} MiB, "
                    f"{measured['seconds']:.1f} s"
                )
                shutil.rmtree(root)


if __name__ == "__main__":
    main()
