"""M-BEIR live runs against a whole candidate pool (inferencer ``embed_pool``): the pool embedded
once in chunks through the runner's cache, every query ranked in one vectorised pass with ties in
pool order, end to end through a local OpenAI-compatible ``/v1/embeddings`` server and a tiny CLIP
built offline; a failed candidate fails its pool and a rerun resumes from the saved chunks. UniIR's
query instructions (``instructions/query_instructions.tsv``) and ``format_string``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from mmlens import api
from mmlens.core.messages import TextPart
from mmlens.core.parts import LoadContext
from mmlens.core.task import Task
from mmlens.inferencers.pool_ranking import pool_top_k
from mmlens.models.base import ModelSpec
from mmlens.runner.plan import load_samples
from mmlens.tasks.mbeir.metric import compute_recall_at_k
from mmlens.tasks.mbeir.scenario import format_string
from tests.fixtures.mbeir_data import build_mbeir
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401
from tests.models.test_embed import EmbeddingServer

pytestmark = pytest.mark.timeout(180)
TWO = ("mscoco_task0", "cirr_task7")


def task_for(datasets: tuple[str, ...], profile: str | None = None, **inferencer: object) -> Task:
    task = api.load_task("mbeir", profile=profile)
    return dataclasses.replace(
        task,
        scenario=task.scenario.model_copy(update={"datasets": datasets}),
        inferencer=task.inferencer.model_copy(update=inferencer),
    )


def samples_of(task: Task, data: Path) -> list:
    samples, bad = load_samples(task, LoadContext("mbeir", task.task_dir, str(data)))
    assert not bad
    return samples


def test_pool_top_k_is_a_stable_argsort_whatever_the_memory_budget() -> None:
    rng = np.random.default_rng(3)
    for _ in range(25):
        nq, n = int(rng.integers(1, 30)), int(rng.integers(1, 200))
        queries = rng.integers(-2, 3, size=(nq, 3)).astype(np.float32)  # small integers: many ties
        pool = rng.integers(-2, 3, size=(n, 3)).astype(np.float32)
        budget = int(rng.integers(40, 4000))  # blocks from a few cells to the whole matrix
        indices, scores = pool_top_k(queries, pool, 10, budget)
        expected = np.argsort(-(queries @ pool.T), axis=1, kind="stable")[:, : min(10, n)]
        assert indices.tolist() == expected.tolist()
        assert np.array_equal(scores, np.take_along_axis(queries @ pool.T, expected, axis=1))
    # duplicate candidates (identical vectors) split by a block boundary: the lower row first
    pool = np.array([[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 5 + [[1.0, 0.0]] * 3, dtype=np.float32)
    indices, _ = pool_top_k(np.array([[1.0, 0.0]], dtype=np.float32), pool, 5, memory_bytes=40)
    assert indices.tolist() == [[0, 1, 2, 8, 9]]


def test_uniir_format_string_and_the_instruction_drawn_per_query(tmp_path: Path) -> None:
    # src/data/preprocessing/utils.py@98dc570 format_string
    assert format_string(' "a red car" ') == "A red car."
    assert format_string("what is this?") == "What is this?"
    assert format_string("wow!") == "Wow!"
    assert format_string("a\r\nb.") == "A\nb."
    assert format_string("") == "" and format_string(None) == ""
    data = build_mbeir(tmp_path / "mbeir", queries=3, datasets=TWO)
    samples = samples_of(task_for(TWO), data)
    again = samples_of(task_for(TWO), data)
    for sample, same in zip(samples, again, strict=True):
        name = sample.category[-1]
        instruction = sample.metadata["instruction"]
        # the TSV's prompts for (dataset id, image,text, text), through format_string
        assert instruction in (f"Retrieve a {name} text.", f"Find {name}'s caption.")
        assert same.metadata["instruction"] == instruction  # seeded by the query: every run alike
        query = f"find {name} {int(sample.id.split(':')[1]) - 100}"
        assert (
            sample.messages[0].content[-1].text == f"{instruction} {query}."
        )  # format_string(prompt + query)
    assert len({s.metadata["instruction"] for s in samples}) == 4  # both prompts of both datasets drawn
    plain = samples_of(task_for(TWO, "no_instruction"), data)
    assert all(s.messages[0].content[-1].text.startswith("Find ") for s in plain)
    assert all(s.metadata["instruction"] is None for s in plain)
    # the dataset fingerprint holds the pool by name and digest, not its candidates
    canonical = json.dumps(samples[0].canonical())
    assert "mbeir_mscoco_task0_test_cand_pool.jsonl (6 candidates, sha256 " in canonical
    assert "candidate 3" not in canonical


def test_an_instruction_missing_for_a_query_is_a_named_bad_sample(tmp_path: Path) -> None:
    data = build_mbeir(tmp_path / "mbeir", queries=2, datasets=TWO)
    tsv = data / "instructions" / "query_instructions.tsv"
    tsv.write_text("\n".join(tsv.read_text().splitlines()[:2]) + "\n")  # dataset 1's row removed
    task = task_for(TWO)
    samples, bad = load_samples(task, LoadContext("mbeir", task.task_dir, str(data)))
    assert len(samples) == 2 and len(bad) == 2
    assert "query_instructions.tsv has no instruction for '1, image,text, text'" in bad[0].reason
    tsv.unlink()
    with pytest.raises(Exception, match="query_instructions.tsv does not exist.*--profile no_instruction"):
        load_samples(task, LoadContext("mbeir", task.task_dir, str(data)))


def server_scores(sample, pool_texts: list[str]) -> np.ndarray:
    """The cosines the test server's vectors give (its vector of a message is made from its text
    parts), in float64."""
    query = " | ".join(p.text for p in sample.messages[0].content if isinstance(p, TextPart))
    unit = lambda v: np.asarray(v) / np.linalg.norm(v)  # noqa: E731
    pool = np.stack([unit(EmbeddingServer.vector_of(format_string(t))) for t in pool_texts])
    return pool @ unit(EmbeddingServer.vector_of(query))


def test_a_live_run_ranks_every_query_against_its_whole_pool_through_an_openai_endpoint(
    tmp_path: Path,
) -> None:
    pytest.importorskip("aiohttp")
    data = build_mbeir(tmp_path / "mbeir", queries=3, datasets=TWO, pool_size=11)
    task = task_for(TWO, pool_chunk=4)  # 3 chunks per pool
    samples = samples_of(task, data)
    with EmbeddingServer() as server:
        model = ModelSpec(
            backend="openai",
            name="tiny-embedder",
            args={"base_url": server.base_url, "timeout": 5, "max_retries": 1, "concurrency": 4},
        )
        store = tmp_path / "store.db"
        first = api.evaluate(
            task, model, data=data, store=store, output_dir=tmp_path / "r1", thumbnails=False
        )
        requests = first.results["provenance"]["requests"]
        assert first.results["counts"]["errors"] == 0 and first.results["counts"]["scored"] == 6
        # 6 queries, then each pool's 11 candidates once (not once per query)
        assert requests["planned"] == requests["unique"] == requests["computed"] == 6 + 2 * 11
        assert len(server.bodies) == 28
        again = api.evaluate(
            task, model, data=data, store=store, output_dir=tmp_path / "r2", thumbnails=False
        )
        assert len(server.bodies) == 28 and again.results["provenance"]["requests"]["computed"] == 0
        assert again.results["metrics"] == first.results["metrics"]
    by_id = {record.id: record for record in first.records}
    hits = []
    for sample in samples:
        record = by_id[sample.id]
        scores = server_scores(sample, list(sample.metadata["candidates"].texts))
        top = record.details["retrieved"]
        # the top 10 of 11 by cosine, best first, up to float32 rounding (these vectors are close)
        assert len(set(top)) == 10 and np.all(np.diff(scores[top]) <= 1e-6)
        assert scores[top[-1]] >= max(scores[i] for i in set(range(11)) - set(top)) - 1e-6
        assert len(record.exchanges) <= 1  # the pool's requests are not any query's own exchanges
        hits.append(compute_recall_at_k(sample.metadata["relevant"], top, 5))
    per_dataset = [np.mean(hits[:3]), np.mean(hits[3:])]
    assert first.results["metrics"]["recall"]["value"] == pytest.approx(
        np.mean([round(h, 4) for h in per_dataset])
    )


def test_a_failed_candidate_fails_its_pool_and_a_rerun_resumes_from_the_saved_chunks(tmp_path: Path) -> None:
    pytest.importorskip("aiohttp")
    data = build_mbeir(tmp_path / "mbeir", queries=3, datasets=("mscoco_task0",), pool_size=10)
    pool = data / "cand_pool" / "local" / "mbeir_mscoco_task0_test_cand_pool.jsonl"
    rows = [json.loads(line) for line in pool.read_text().splitlines()]
    rows[5]["txt"] += " #fault=500,500"  # row 5, in the second chunk of 4: fails twice, then answers
    pool.write_text("".join(json.dumps(row) + "\n" for row in rows))
    task = task_for(("mscoco_task0",), pool_chunk=4)
    with EmbeddingServer() as server:
        model = ModelSpec(
            backend="openai",
            name="tiny-embedder",
            args={"base_url": server.base_url, "timeout": 5, "max_retries": 1, "concurrency": 1},
        )
        store = tmp_path / "store.db"
        first = api.evaluate(
            task, model, data=data, store=store, output_dir=tmp_path / "r1", thumbnails=False
        )
        assert first.results["counts"]["errors"] == 3
        errors = sorted(str(record.error) for record in first.records)
        assert "injected 500" in errors[0] or "injected 500" in errors[-1]
        assert sum("pool's rows 4-7" in error and "failed" in error for error in errors) == 2
        saved = first.results["provenance"]["requests"]["computed"]
        assert saved == 3 + 8  # the queries and both first chunks; the third never went out
        second = api.evaluate(
            task, model, data=data, store=store, output_dir=tmp_path / "r2", thumbnails=False
        )
    assert second.results["counts"]["errors"] == 0
    requests = second.results["provenance"]["requests"]
    assert requests["computed"] == 1 + 2  # the failed candidate again, then the last chunk
    assert requests["cached"] == 3 + 7


def test_a_tiny_clip_ranks_the_pool_end_to_end_and_a_rerun_embeds_nothing(
    tmp_path: Path,
    tiny_model_factory: TinyModelFactory,  # noqa: F811
) -> None:
    pytest.importorskip("transformers")
    from tests.fixtures.tiny_models import build_tiny_clip

    folder = build_tiny_clip(tmp_path / "clip")
    data = build_mbeir(tmp_path / "mbeir", queries=3, datasets=TWO, pool_size=9)
    task = task_for(TWO, "dual_encoder", pool_chunk=5)
    model = ModelSpec(backend="hf", name=str(folder), args={"dtype": "float32", "batch_size": 8})
    store = tmp_path / "store.db"
    first = api.evaluate(task, model, data=data, store=store, output_dir=tmp_path / "r1", thumbnails=False)
    assert first.results["counts"]["errors"] == 0 and first.results["counts"]["scored"] == 6
    # each query image once; each pool's 9 candidates once (5 with an image, embedded from it alone)
    assert first.results["provenance"]["requests"]["computed"] == 6 + 2 * 9
    for record in first.records:
        retrieved = record.details["retrieved"]
        assert len(retrieved) == len(set(retrieved)) == 9 and set(retrieved) == set(range(9))
    again = api.evaluate(task, model, data=data, store=store, output_dir=tmp_path / "r2", thumbnails=False)
    assert again.results["provenance"]["requests"]["computed"] == 0
    assert again.results["metrics"] == first.results["metrics"]
    assert [r.details for r in again.records] == [r.details for r in first.records]
