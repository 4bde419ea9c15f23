"""Throughput of the in-process vllm backend against hf, on the same tiny model.

    python benchmarks/bench_vllm.py [--requests 500] [--new-tokens 16] [--model FOLDER]

Builds the tiny float32 Qwen2 of tests/fixtures/tiny_vllm_models.py (head size 32, the smallest
vLLM's CPU attention takes) unless ``--model`` names a folder (on a GPU: a small real model), then
answers the same N greedy generation requests (different prompts, at most ``--new-tokens`` each)
with hf (this Python, batch size ``--hf-batch-size``) and with vllm (in .venv-vllm, a subprocess;
the engine schedules all N at once). Loading is not timed; a warm-up call comes first. Prints
requests/s of each and the ratio. With a tiny model on a CPU this measures per-request overhead:
tokenisation, scheduling, the Python around each step.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.tiny_vllm_models import QUESTIONS, VLLM_ENV, VLLM_PYTHON, build_vllm_qwen2  # noqa: E402

from mmlens.core.messages import Message  # noqa: E402
from mmlens.core.requests import GenerationSettings, Request  # noqa: E402
from mmlens.models.base import ModelSpec, build_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

# Runs in .venv-vllm: prints the seconds that process() took for the N requests.
VLLM_TIMER = """
import json, sys, time
sys.path.insert(0, sys.argv[4])
from benchmarks.bench_vllm import make_requests
from mmlens.models.base import ModelSpec, build_model

if __name__ == "__main__":
    folder, count, new_tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    args = json.loads(sys.argv[5])
    model = build_model(ModelSpec(backend="vllm", name=folder, args=args))
    model.process(make_requests(2, new_tokens), lambda i, r: None)
    requests = make_requests(count, new_tokens)
    answers = {}
    start = time.perf_counter()
    model.process(requests, answers.__setitem__)
    seconds = time.perf_counter() - start
    errors = sum(1 for r in answers.values() if r.error)
    model.close()
    print(json.dumps({"seconds": seconds, "answered": len(answers), "errors": errors}))
"""


def make_requests(count: int, new_tokens: int) -> list[Request]:
    settings = GenerationSettings(max_new_tokens=new_tokens)
    return [
        Request("generate", (Message.user(f"{QUESTIONS[i % len(QUESTIONS)]} (#{i})"),), settings)
        for i in range(count)
    ]


def time_hf(folder: Path, count: int, new_tokens: int, batch_size: int, dtype: str) -> float:
    model = build_model(
        ModelSpec(backend="hf", name=str(folder), args={"dtype": dtype, "batch_size": batch_size})
    )
    model.process(make_requests(2, new_tokens), lambda i, r: None)
    answers: dict[int, object] = {}
    start = time.perf_counter()
    model.process(make_requests(count, new_tokens), answers.__setitem__)
    seconds = time.perf_counter() - start
    assert len(answers) == count
    return seconds


def time_vllm(folder: Path, count: int, new_tokens: int, engine_args: dict[str, object]) -> float:
    if not VLLM_PYTHON.is_file():
        raise SystemExit(f"{VLLM_PYTHON} is missing: run scripts/setup_vllm.sh")
    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "time_vllm.py"
        script.write_text(VLLM_TIMER)
        result = subprocess.run(
            [str(VLLM_PYTHON), str(script), str(folder), str(count), str(new_tokens), str(REPO)]
            + [json.dumps(engine_args)],
            env={**VLLM_ENV, **os.environ},
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise SystemExit(f"vllm run failed:\n{result.stderr[-3000:]}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["answered"] == count and data["errors"] == 0, data
    return float(data["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--hf-batch-size", type=int, default=32)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--model", type=Path, default=None, help="a model folder (default: the tiny Qwen2)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = options.model or build_vllm_qwen2(Path(scratch) / "qwen2")
        engine_args = {"dtype": options.dtype, "max_model_len": 512, "max_images": 0}
        if not options.model:
            engine_args["enforce_eager"] = True
        hf_seconds = time_hf(
            folder, options.requests, options.new_tokens, options.hf_batch_size, options.dtype
        )
        vllm_seconds = time_vllm(folder, options.requests, options.new_tokens, engine_args)
    n = options.requests
    print(f"{n} requests, at most {options.new_tokens} new tokens each, {options.dtype}")
    print(f"hf (batch {options.hf_batch_size}): {hf_seconds:7.2f} s  {n / hf_seconds:8.1f} requests/s")
    print(f"vllm in process:   {vllm_seconds:7.2f} s  {n / vllm_seconds:8.1f} requests/s")
    print(f"vllm / hf throughput: {hf_seconds / vllm_seconds:.2f}x")


if __name__ == "__main__":
    main()
