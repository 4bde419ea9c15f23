"""Embedding tasks: MMEB-shaped scoring, and embedding throughput with a tiny CLIP.

    python benchmarks/bench_embeddings.py [--datasets 36] [--queries 1000] [--candidates 1000]
        [--dim 768] [--pool 5000] [--requests 256] [--batch-sizes 1,32]
        [--pool-queries 1000] [--pool-size 100000] [--ranking-mb 256]

1. Scoring: for each of ``--datasets`` datasets, ``--queries`` query vectors each ranked against its
   own ``--candidates`` candidates drawn from a pool of ``--pool`` distinct candidate vectors
   (MMEB's lists share candidates), with ``candidate_scores`` (vectorised, blocks of queries: no
   Python loop per pair) then both official tie rules (argmax and the top 10 of argsort) per row.
   Prints the time and the peak of memory allocated (tracemalloc, which sees numpy's buffers).
2. Pool ranking (M-BEIR live runs): ``--pool-queries`` query vectors ranked against one pool of
   ``--pool-size`` candidates with ``pool_top_k`` (blocks of about ``--ranking-mb`` of scores,
   exact top 10, ties by pool row), checked against a stable argsort on a sample of queries.
   Prints the time and the peak allocated while ranking (the inputs excluded).
   ``--only live``: a live ``mbeir`` run end to end (``--live-queries`` queries, one pool of
   ``--live-pool`` candidates in the published layout, a zero-latency hash embedder of dim
   ``--live-dim``, a SQLite store): first run (every vector computed and stored), then a rerun
   (all from the store); wall time and peak RSS (the runner's own cost: no model time).
3. Throughput: a tiny CLIP built offline (tests/fixtures/tiny_models.build_tiny_clip), the same
   ``--requests`` embed requests (half texts, half images) at each batch size; then the same
   requests through the Responder and a SQLite store twice: the first computes them, the rerun
   computes nothing (every vector from the store).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.tiny_models import build_tiny_clip  # noqa: E402

from mmlens.core.canonical import canonical_json  # noqa: E402
from mmlens.core.media import PILImageRef  # noqa: E402
from mmlens.core.messages import ImagePart, Message  # noqa: E402
from mmlens.core.requests import Request, Response  # noqa: E402
from mmlens.inferencers.embed import candidate_scores  # noqa: E402
from mmlens.inferencers.pool_ranking import pool_top_k  # noqa: E402
from mmlens.models.base import Emit, Model, ModelSpec, build_model  # noqa: E402
from mmlens.runner.execute import Responder  # noqa: E402
from mmlens.store.sqlite import Store  # noqa: E402


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((n, dim), dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def bench_scoring(datasets: int, queries: int, candidates: int, dim: int, pool: int) -> None:
    rng = np.random.default_rng(0)
    shaped = [
        (
            unit_rows(rng, queries, dim),
            unit_rows(rng, pool, dim),
            rng.integers(0, pool, (queries, candidates)),
        )
        for _ in range(datasets)
    ]
    tracemalloc.start()
    start = time.perf_counter()
    accuracy = []
    for query_vectors, pool_vectors, lists in shaped:
        scores = candidate_scores(query_vectors, pool_vectors, lists)
        correct_v1 = np.argmax(scores, axis=1) == 0  # first maximum: a tie goes to the positive
        top = np.argsort(-scores, axis=1)[:, :10]  # V2's ranking
        accuracy.append((float(correct_v1.mean()), float((top[:, 0] == 0).mean())))
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    pairs = datasets * queries * candidates
    print(
        f"scoring: {datasets} datasets x {queries} queries x {candidates} candidates "
        f"(dim {dim}, pool {pool}): "
        f"{elapsed:.2f} s ({pairs / elapsed / 1e6:.1f} M pairs/s), peak {peak / 2**20:.0f} MiB allocated "
        f"while scoring; inputs {sum(q.nbytes + p.nbytes + c.nbytes for q, p, c in shaped) / 2**20:.0f} MiB"
    )
    print(f"  mean P@1 of random vectors: v1 {np.mean([a for a, _ in accuracy]):.4f}, "
          f"v2 {np.mean([b for _, b in accuracy]):.4f} (chance {1 / candidates:.4f})")  # fmt: skip


def bench_pool_ranking(queries: int, size: int, dim: int, memory_mb: int) -> None:
    rng = np.random.default_rng(1)
    query_vectors, pool_vectors = unit_rows(rng, queries, dim), unit_rows(rng, size, dim)
    tracemalloc.start()
    start = time.perf_counter()
    indices, _ = pool_top_k(query_vectors, pool_vectors, 10, memory_mb << 20)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    full = queries * size * 4
    print(
        f"pool ranking: {queries} queries x {size} candidates (dim {dim}, top 10, blocks ~{memory_mb} MiB): "
        f"{elapsed:.2f} s ({queries * size / elapsed / 1e6:.0f} M scores/s), peak {peak / 2**20:.0f} MiB "
        f"allocated while ranking (a full float32 score matrix: {full / 2**20:.0f} MiB); "
        f"inputs {(query_vectors.nbytes + pool_vectors.nbytes) / 2**20:.0f} MiB"
    )
    check = rng.choice(queries, size=min(queries, 20), replace=False)
    expected = np.argsort(-(query_vectors[check] @ pool_vectors.T), axis=1, kind="stable")[:, :10]
    assert np.array_equal(indices[check], expected), "pool_top_k differs from a stable argsort"


class HashEmbedder(Model):
    """Zero-latency embedder: a vector seeded by the request's content (the runner's own cost)."""

    backend = "bench-hash"
    supported_kinds = frozenset({"embed"})
    dim = 64

    def process(self, requests: Sequence[Request], emit: Emit) -> None:
        for index, request in enumerate(requests):
            seed = int(hashlib.sha256(canonical_json(request.canonical()).encode()).hexdigest()[:15], 16)
            vector = np.random.default_rng(seed).standard_normal(self.dim)
            emit(index, Response(embedding=[float(v) for v in vector]))


def bench_live_pool(queries: int, pool: int, dim: int) -> None:
    import dataclasses
    import resource

    from tests.fixtures.mbeir_data import build_mbeir

    from mmlens import api
    from mmlens.models.base import ModelArgs

    with tempfile.TemporaryDirectory() as folder:
        data = build_mbeir(
            Path(folder) / "mbeir", queries=queries, datasets=("mscoco_task0",), pool_size=pool
        )
        task = api.load_task("mbeir", profile="no_instruction")
        task = dataclasses.replace(
            task, scenario=task.scenario.model_copy(update={"datasets": ("mscoco_task0",)})
        )
        HashEmbedder.dim = dim
        model = HashEmbedder("hash", ModelArgs())
        store = Path(folder) / "store.db"
        for label in ("first run", "rerun"):
            start = time.perf_counter()
            result = api.evaluate(task, model, data=data, store=store, output_dir=None, thumbnails=False)
            elapsed = time.perf_counter() - start
            requests = result.results["provenance"]["requests"]
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"live mbeir ({label}): {queries} queries x pool {pool} (dim {dim}): {elapsed:.1f} s, "
                f"{requests['computed']} computed, {requests['cached']} cached, recall "
                f"{result.results['metrics']['recall']['value']:.4f}, peak RSS so far {peak:.0f} MiB"
            )


def clip_requests(count: int) -> list[Request]:
    rng = np.random.default_rng(1)
    requests = []
    for i in range(count):
        if i % 2:
            pixels = rng.integers(0, 256, size=(20 + i % 13, 24 + i % 7, 3), dtype=np.uint8)
            requests.append(
                Request("embed", (Message.user(ImagePart(PILImageRef(Image.fromarray(pixels)))),))
            )
        else:
            requests.append(Request("embed", (Message.user(f"a photo of object number {i} " * (1 + i % 3)),)))
    return requests


def bench_throughput(count: int, batch_sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_tiny_clip(Path(tmp) / "clip")
        requests = clip_requests(count)
        base = None
        for batch_size in batch_sizes:
            model = build_model(
                ModelSpec(backend="hf", name=str(folder), args={"dtype": "float32", "batch_size": batch_size})
            )
            answers: dict[int, Response] = {}
            model.process(requests[:2], lambda i, r: None)  # load and warm up
            start = time.perf_counter()
            model.process(requests, answers.__setitem__)
            elapsed = time.perf_counter() - start
            assert len(answers) == count and all(r.ok for r in answers.values())
            rate = count / elapsed
            base = base or rate
            print(f"tiny CLIP, batch {batch_size:>3}: {rate:8.1f} embeddings/s ({rate / base:.1f}x batch 1)")
        keyed = {request.key(model.fingerprint_key()): request for request in requests}
        with Store(Path(tmp) / "store.sqlite") as store:
            for attempt in ("first run", "rerun"):
                responder = Responder({"model": model}, store)
                start = time.perf_counter()
                responder(keyed)
                stats = responder.stats["model"]
                print(
                    f"through the store, {attempt}: {stats.computed} computed, {stats.cached} cached "
                    f"({time.perf_counter() - start:.2f} s)"
                )
            assert stats.computed == 0 and stats.cached == len(keyed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=36)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--pool", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--batch-sizes", default="1,32")
    parser.add_argument("--pool-queries", type=int, default=1000)
    parser.add_argument("--pool-size", type=int, default=100_000)
    parser.add_argument("--ranking-mb", type=int, default=256)
    parser.add_argument("--live-queries", type=int, default=2000)
    parser.add_argument("--live-pool", type=int, default=50_000)
    parser.add_argument("--live-dim", type=int, default=64)
    parser.add_argument("--only", choices=("scoring", "pool", "live", "throughput"), help="run one part")
    args = parser.parse_args()
    if args.only in (None, "scoring"):
        bench_scoring(args.datasets, args.queries, args.candidates, args.dim, args.pool)
    if args.only in (None, "pool"):
        bench_pool_ranking(args.pool_queries, args.pool_size, args.dim, args.ranking_mb)
    if args.only == "live":  # not in the default set: it builds a data folder and a store
        bench_live_pool(args.live_queries, args.live_pool, args.live_dim)
    if args.only not in (None, "throughput"):
        return
    bench_throughput(args.requests, [int(b) for b in args.batch_sizes.split(",")])


if __name__ == "__main__":
    main()
