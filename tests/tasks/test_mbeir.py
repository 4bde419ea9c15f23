"""M-BEIR: the published layout read in place (local and global pools, qrels with relevance 0),
UniIR's recall@k hit rate, ties in pool order, the paper's R@5 / R@10 (Fashion) per dataset and
its mean, and embeddings made elsewhere through ``--candidates``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmlens import api
from mmlens.core.errors import DataError
from mmlens.core.parts import LoadContext
from mmlens.core.task import TaskCatalog
from mmlens.inferencers.embed import candidate_vectors, rank_scores
from mmlens.runner.plan import load_samples
from mmlens.tasks.mbeir.metric import compute_recall_at_k, reported_k
from mmlens.tasks.mbeir.scenario import DATASETS
from tests.fixtures.mbeir_data import POOL, build_mbeir


def samples_of(task_name: str, data: Path) -> list:
    task = TaskCatalog().load(task_name, None)
    samples, bad = load_samples(task, LoadContext(task_name, task.task_dir, str(data)))
    assert not bad
    return samples


def test_recall_is_a_hit_rate_as_uniir_computes_it() -> None:
    assert compute_recall_at_k([3, 9], [9, 1, 2], 1) == 1.0  # one of two relevant found: 1, not 0.5
    assert compute_recall_at_k([3], [9, 1, 2, 4, 5, 3], 5) == 0.0
    assert compute_recall_at_k([3], [9, 1, 2, 4, 5, 3], 10) == 1.0
    assert compute_recall_at_k([], [0, 1], 5) == 0.0
    assert reported_k("fashioniq_task7") == reported_k("fashion200k_task0") == 10
    assert reported_k("mscoco_task0") == 5


def test_ties_keep_pool_order() -> None:
    scores = np.zeros(30)
    scores[[4, 20, 25]] = 1.0
    assert rank_scores(scores)["top_stable"][:4] == [4, 20, 25, 0]


def test_layout_pools_and_qrels(tmp_path: Path) -> None:
    data = build_mbeir(tmp_path / "mbeir")
    local = samples_of("mbeir", data)
    assert len(local) == 32 and local[0].id == "0:100"
    assert local[0].category == ("qt->ci", "visualnews_task0")
    assert len(local[0].metadata["candidates"]) == POOL
    assert local[0].metadata["relevant"] == [0]  # the relevance-0 line is not relevant
    assert local[0].metadata["candidates"] is local[1].metadata["candidates"]  # one pool, shared
    union = samples_of("mbeir_global", data)
    assert len(union[0].metadata["candidates"]) == POOL * len(DATASETS)
    assert union[3].metadata["relevant"] == [POOL + 1]  # the did's row in the union pool


def test_a_query_without_qrels_is_a_named_bad_sample_and_a_missing_file_an_error(tmp_path: Path) -> None:
    data = build_mbeir(tmp_path / "mbeir")
    qrels = data / "qrels" / "test" / "mbeir_mscoco_task0_test_qrels.txt"
    qrels.write_text("\n".join(qrels.read_text().splitlines()[2:]) + "\n")
    task = TaskCatalog().load("mbeir", None)
    _, bad = load_samples(task, LoadContext("mbeir", task.task_dir, str(data)))
    assert [b.id for b in bad] == ["1:100"] and "no relevant candidate" in bad[0].reason
    qrels.unlink()
    with pytest.raises(DataError, match="mbeir_mscoco_task0_test_qrels.txt does not exist"):
        load_samples(task, LoadContext("mbeir", task.task_dir, str(data)))


def test_scores_embeddings_made_elsewhere_per_dataset_rounded_and_averaged(tmp_path: Path) -> None:
    data = build_mbeir(tmp_path / "mbeir")
    samples = samples_of("mbeir", data)
    rng = np.random.default_rng(3)
    keys = sorted({tuple(c) for s in samples for c in s.metadata["candidates"]})
    vectors = {key: rng.normal(size=6) for key in keys}
    queries = {s.id: rng.normal(size=6) for s in samples}
    predictions = tmp_path / "q.jsonl"
    predictions.write_text(
        "".join(json.dumps({"id": i, "embedding": v.tolist()}) + "\n" for i, v in queries.items())
    )
    candidates = tmp_path / "c.jsonl"
    candidates.write_text(
        "".join(
            json.dumps({"text": t, "image": i, "embedding": vectors[(t, i)].tolist()}) + "\n" for t, i in keys
        )
    )
    with candidate_vectors(candidates):
        result = api.score("mbeir", predictions, data=data).results
    # the oracle: UniIR's flow with numpy in place of FAISS (cosine, top k by score)
    per_dataset: dict[str, list[float]] = {}
    for sample in samples:
        pool = np.stack([vectors[tuple(c)] for c in sample.metadata["candidates"]])
        pool = pool / np.linalg.norm(pool, axis=1, keepdims=True)
        query = queries[sample.id] / np.linalg.norm(queries[sample.id])
        retrieved = list(np.argsort(-(pool @ query), kind="stable"))
        k = reported_k(sample.category[1])
        per_dataset.setdefault(sample.category[1], []).append(
            compute_recall_at_k(sample.metadata["relevant"], retrieved, k)
        )
    expected = {name: round(sum(v) / len(v), 4) for name, v in per_dataset.items()}
    for sample in samples[:4]:
        node = "/".join(sample.category)
        assert result["breakdown"][node]["recall"]["value"] == expected[sample.category[1]]
    assert result["metrics"]["recall"]["value"] == pytest.approx(sum(expected.values()) / len(expected))


def test_the_partial_sort_equals_a_stable_argsort_with_ties() -> None:
    from mmlens.inferencers.embed import stable_top

    rng = np.random.default_rng(5)
    for size in (3, 10, 11, 5000, 20000):
        scores = rng.integers(0, 40, size=size).astype(np.float64) / 40  # many ties
        assert stable_top(scores, 10) == [int(i) for i in np.argsort(-scores, kind="stable")[:10]]
    big = np.zeros(10000)
    assert rank_scores(big)["top_stable"] == list(range(10))


def test_a_large_pool_replayed_is_ranked_once_per_query_against_one_gathered_matrix(tmp_path: Path) -> None:
    import dataclasses

    data = build_mbeir(tmp_path / "mbeir", queries=40, datasets=("mscoco_task0",), pool_size=6000)
    task = TaskCatalog().load("mbeir", None)
    task = dataclasses.replace(
        task, scenario=task.scenario.model_copy(update={"datasets": ("mscoco_task0",)})
    )
    samples, _ = load_samples(task, LoadContext("mbeir", task.task_dir, str(data)))
    rng = np.random.default_rng(8)
    pool = samples[0].metadata["candidates"]
    vectors = rng.normal(size=(len(pool), 16)).astype(np.float32)
    queries = {s.id: vectors[int(s.id.split(":")[1]) - 100] + 0.1 * rng.normal(size=16) for s in samples}
    npz = tmp_path / "pool.npz"
    np.savez(
        npz, embeddings=vectors, texts=np.array([t for t, _ in pool]), images=np.array([i for _, i in pool])
    )
    predictions = tmp_path / "q.jsonl"
    predictions.write_text(
        "".join(json.dumps({"id": i, "embedding": v.tolist()}) + "\n" for i, v in queries.items())
    )
    with candidate_vectors(npz):
        result = api.score(task, predictions, data=data).results
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    hits = [
        compute_recall_at_k(
            s.metadata["relevant"], list(np.argsort(-(unit @ queries[s.id]), kind="stable")), 5
        )
        for s in samples
    ]
    assert result["metrics"]["recall"]["value"] == pytest.approx(round(sum(hits) / len(hits), 4))
    assert sum(hits) >= len(hits) // 2  # queries lie near their positive: not a trivial 0
