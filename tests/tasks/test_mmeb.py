"""MMEB: the published layout read in place, the official tie rules (V1 argmax: first maximum, so
a tie goes to the positive; V2 np.argsort(-scores)), the paper's unweighted means over datasets,
embeddings made elsewhere through ``mmlens score --candidates``, and an end-to-end run with a tiny
VLM in which a shared candidate is embedded once and a rerun embeds nothing."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from mmlens import api
from mmlens.cli.app import main as cli_main
from mmlens.core.errors import DataError, MmlensError
from mmlens.core.parts import LoadContext
from mmlens.core.task import Task, TaskCatalog
from mmlens.inferencers.embed import candidate_scores, candidate_vectors, rank_scores
from mmlens.models.base import ModelSpec
from mmlens.runner.plan import load_samples
from mmlens.tasks.mmeb.datasets import DATASETS, META_TASKS, OUT_OF_DISTRIBUTION
from mmlens.tasks.mmeb.metric import ranking_scores
from tests.fixtures.mmeb_data import POOL, build_mmeb
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401

pytestmark = pytest.mark.timeout(180)
DIM = 8


def mmeb_task(datasets: tuple[str, ...] | None = None) -> Task:
    task = TaskCatalog().load("mmeb", None)
    if datasets is None:
        return task
    return dataclasses.replace(task, scenario=task.scenario.model_copy(update={"datasets": datasets}))


def samples_of(data: Path, datasets: tuple[str, ...] | None = None) -> list:
    task = mmeb_task(datasets)
    samples, bad = load_samples(task, LoadContext("mmeb", task.task_dir, str(data)))
    assert not bad
    return samples


def official_v1_correct(query: np.ndarray, targets: np.ndarray) -> bool:
    """VLM2Vec V1 get_pred with normalization, transcribed: cosine, np.argmax, pred == 0."""
    scores = np.dot(targets, query) / (np.linalg.norm(targets, axis=1) * np.linalg.norm(query))
    return int(np.argmax(scores)) == 0


def test_the_36_datasets_in_4_meta_tasks_and_the_ind_ood_split() -> None:
    assert len(DATASETS) == len(set(DATASETS)) == 36
    assert {task: len(names) for task, names in META_TASKS.items()} == {
        "classification": 10,
        "vqa": 10,
        "retrieval": 12,
        "grounding": 4,
    }
    assert len(OUT_OF_DISTRIBUTION) == 16 and set(DATASETS) >= OUT_OF_DISTRIBUTION


def test_ties_v1_first_maximum_goes_to_the_positive_v2_follows_numpy_argsort() -> None:
    tied = np.array([0.5, 0.5, 0.1])
    assert rank_scores(tied)["argmax"] == 0  # the positive (index 0) wins a tie under V1
    later_tie = np.array([0.2, 0.9, 0.9])
    assert rank_scores(later_tie)["argmax"] == 1  # the first of the tied maxima
    # V2: beyond 16 candidates numpy's default sort is not stable; whatever it does, mmlens's top
    # equals the official np.argsort(-scores) and precision@1 follows it.
    many = np.zeros(40)
    many[[0, 7, 33]] = 1.0
    official = np.argsort(-many)
    assert rank_scores(many)["top"] == [int(i) for i in official[:10]]
    assert ranking_scores(rank_scores(many)["top"])["acc"] == float(official[0] == 0)


def test_ranking_scores_match_ranking_metrics_with_one_relevant_item() -> None:
    top = [4, 2, 0, 1, 3, 5, 6, 7, 8, 9]  # the positive at rank 3 (index 2)
    got = ranking_scores(top)
    assert got["acc"] == 0.0 and got["hit@5"] == 1.0 and got["hit@10"] == 1.0
    assert got["ndcg@5"] == pytest.approx(1 / np.log2(4))  # dcg 1/log2(2+2), idcg 1
    assert got["mrr@10"] == pytest.approx(1 / 3)
    missing = ranking_scores([1, 2, 3])
    assert missing == {"acc": 0.0, "hit@5": 0.0, "ndcg@5": 0.0, "hit@10": 0.0, "ndcg@10": 0.0, "mrr@10": 0.0}


def test_vectorised_scores_equal_a_loop_over_queries() -> None:
    rng = np.random.default_rng(0)
    queries = rng.normal(size=(37, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    for pool in (20, 5000):  # a shared pool (matrix product) and a large one (gathered)
        candidates = rng.normal(size=(pool, DIM)).astype(np.float32)
        candidates /= np.linalg.norm(candidates, axis=1, keepdims=True)
        lists = rng.integers(0, pool, size=(37, 6))
        got = candidate_scores(queries, candidates, lists, block=8)
        expected = np.stack([candidates[row] @ q for q, row in zip(queries, lists, strict=True)])
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_layout_ids_messages_and_candidates(tmp_path: Path) -> None:
    data = build_mmeb(tmp_path / "mmeb")
    samples = samples_of(data)
    assert len(samples) == 72 and samples[0].id == "ImageNet-1K/0"
    assert samples[0].category == ("classification", "ImageNet-1K")
    first = samples[0].messages[0]
    assert first.content[0].image.path.name == "query_0.png"  # the image first, placeholder gone
    assert first.content[1].text == "Represent the given image for classification 0."
    assert samples[0].metadata["candidates"][0] == ["ImageNet-1K answer 0", ""]


def test_a_missing_dataset_folder_or_image_is_named(tmp_path: Path) -> None:
    data = build_mmeb(tmp_path / "mmeb", datasets=("ImageNet-1K", "CIRR"))
    with pytest.raises(DataError, match=r"no folder for MMEB datasets \['N24News'"):
        samples_of(data)
    (data / "eval_images" / "CIRR" / "cand_1.png").unlink()
    task = mmeb_task(("ImageNet-1K", "CIRR"))
    samples, bad = load_samples(task, LoadContext("mmeb", task.task_dir, str(data)))
    assert [b.id for b in bad] == ["CIRR/0", "CIRR/1"] and "CIRR/cand_1.png" in bad[0].reason
    assert len(samples) == 2


def embeddings_made_elsewhere(tmp_path: Path, samples: list, seed: int = 1) -> tuple[Path, Path, dict]:
    """Random query and candidate vectors; candidates keyed by (text, image) as VLM2Vec keys them,
    some queries' positives tied with a negative on purpose."""
    rng = np.random.default_rng(seed)
    keys = sorted({tuple(c) for s in samples for c in s.metadata["candidates"]})
    vectors = {key: rng.normal(size=DIM) for key in keys}
    queries = {}
    for number, sample in enumerate(samples):
        query = rng.normal(size=DIM)
        if number % 4 == 0:  # the query equals a negative and the positive: a tie at the top
            positive, negative = (tuple(c) for c in sample.metadata["candidates"][:2])
            vectors[negative] = vectors[positive] = query * 2.0
        queries[sample.id] = query
    predictions = tmp_path / "queries.jsonl"
    predictions.write_text(
        "".join(json.dumps({"id": i, "embedding": v.tolist()}) + "\n" for i, v in queries.items())
    )
    candidates = tmp_path / "candidates.jsonl"
    candidates.write_text(
        "".join(
            json.dumps({"text": t, "image": i, "embedding": vectors[(t, i)].tolist()}) + "\n" for t, i in keys
        )
    )
    return predictions, candidates, {"queries": queries, "vectors": vectors}


def test_score_reads_embeddings_made_elsewhere_with_the_official_scorer(tmp_path: Path) -> None:
    data = build_mmeb(tmp_path / "mmeb")
    samples = samples_of(data)
    predictions, candidates, made = embeddings_made_elsewhere(tmp_path, samples)
    with candidate_vectors(candidates):
        result = api.score("mmeb", predictions, data=data).results
    per_dataset: dict[str, list[bool]] = {}
    for sample in samples:
        targets = np.stack([made["vectors"][tuple(c)] for c in sample.metadata["candidates"]])
        per_dataset.setdefault(sample.category[1], []).append(
            official_v1_correct(made["queries"][sample.id], targets)
        )
    dataset_acc = {name: np.mean(values) for name, values in per_dataset.items()}
    for task, names in META_TASKS.items():
        assert result["breakdown"][f"{task}/{names[0]}"]["acc"]["value"] == pytest.approx(
            dataset_acc[names[0]]
        )
        assert result["metrics"][task]["value"] == pytest.approx(np.mean([dataset_acc[n] for n in names]))
    assert result["metrics"]["acc"]["value"] == pytest.approx(np.mean(list(dataset_acc.values())))
    ood = [dataset_acc[n] for n in OUT_OF_DISTRIBUTION]
    assert result["metrics"]["ood"]["value"] == pytest.approx(np.mean(ood))
    # the tied queries (every 4th: the positive equals a negative) are right under V1
    with candidate_vectors(candidates):
        records = {r.id: r for r in api.score("mmeb", predictions, data=data).records}
    tied = [s.id for number, s in enumerate(samples) if number % 4 == 0]
    assert all(records[i].correct and records[i].details["argmax"] == 0 for i in tied)
    assert records[tied[0]].details["positive_score"] == records[tied[0]].details["best_score"]

    # the same through the command line, from an .npz
    keys = list(made["vectors"])
    npz = tmp_path / "candidates.npz"
    np.savez(
        npz,
        embeddings=np.stack([made["vectors"][k] for k in keys]),
        texts=np.array([k[0] for k in keys]),
        images=np.array([k[1] for k in keys]),
    )
    code = cli_main(
        ["score", "mmeb", "--data", str(data), "--predictions", str(predictions), "--candidates", str(npz),
         "--json", "--store", str(tmp_path / "s.db")]
    )  # fmt: skip
    assert code == 0


def test_unequal_dataset_sizes_mean_over_datasets_not_queries(tmp_path: Path) -> None:
    data = build_mmeb(tmp_path / "mmeb", queries=2, datasets=DATASETS[:35])
    build_mmeb(tmp_path / "mmeb", queries=6, datasets=DATASETS[35:])
    samples = samples_of(data)
    lines = [{"id": s.id, "response": "0" if s.category[1] == DATASETS[35] else "1"} for s in samples]
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = api.score("mmeb", predictions, data=data).results
    assert result["metrics"]["acc"]["value"] == pytest.approx(1 / 36)  # micro would be 6/76
    assert result["metrics"]["grounding"]["value"] == pytest.approx(1 / 4)
    assert result["metrics"]["classification"]["value"] == 0.0


def test_bad_replays_are_named(tmp_path: Path) -> None:
    data = build_mmeb(tmp_path / "mmeb")
    samples = samples_of(data)
    predictions, candidates, _ = embeddings_made_elsewhere(tmp_path, samples)
    with pytest.raises(DataError, match="--candidates FILE"):
        api.score("mmeb", predictions, data=data)
    lines = candidates.read_text().splitlines()
    candidates.write_text("\n".join(lines[1:]) + "\n")
    with candidate_vectors(candidates), pytest.raises(DataError, match="has no vector in"):
        api.score("mmeb", predictions, data=data)
    candidates.write_text(lines[0] + "\n" + lines[0] + "\n")
    with pytest.raises(DataError, match="given twice"), candidate_vectors(candidates):
        pass
    bad = tmp_path / "r.jsonl"
    bad.write_text(json.dumps({"id": samples[0].id, "response": str(POOL)}) + "\n")
    with pytest.raises(DataError, match=r"line 1: \"response\" must be candidate indices \(0 to 3\)"):
        api.score("mmeb", bad, data=data)


def test_a_tiny_vlm_embeds_each_distinct_candidate_once_and_a_rerun_embeds_nothing(
    tmp_path: Path,
    tiny_model_factory: TinyModelFactory,  # noqa: F811
) -> None:
    pytest.importorskip("transformers")
    folder = tiny_model_factory("llava")
    data = build_mmeb(tmp_path / "mmeb", queries=3, datasets=DATASETS)
    task = "mmeb"
    samples = samples_of(data)
    distinct = {tuple(c) for s in samples for c in s.metadata["candidates"]}
    slots = sum(len(s.metadata["candidates"]) for s in samples)
    assert slots > len(distinct)  # candidates are shared across queries
    model = ModelSpec(backend="hf", name=str(folder), args={"dtype": "float32", "batch_size": 16})
    store = tmp_path / "store.db"
    first = api.evaluate(task, model, data=data, store=store, output_dir=tmp_path / "runs", thumbnails=False)
    requests = first.results["provenance"]["requests"]
    assert requests["planned"] == len(samples) + slots
    # queries are distinct images; every distinct candidate is computed once
    assert requests["computed"] == requests["unique"] == len(samples) + len(distinct)
    assert first.results["counts"]["errors"] == 0
    assert 0.0 <= first.results["metrics"]["acc"]["value"] <= 1.0
    again = api.evaluate(task, model, data=data, store=store, output_dir=tmp_path / "runs2", thumbnails=False)
    assert again.results["provenance"]["requests"]["computed"] == 0
    assert again.results["metrics"] == first.results["metrics"]


def test_the_report_charts_meta_tasks_and_datasets_from_the_breakdown(tmp_path: Path) -> None:
    from mmlens.report.payload import chart_data
    from mmlens.report.runs import load_runs, select_runs
    from mmlens.store.sqlite import Store

    data = build_mmeb(tmp_path / "mmeb")
    samples = samples_of(data)
    predictions = tmp_path / "p.jsonl"
    predictions.write_text(
        "".join(
            json.dumps({"id": s.id, "response": "0" if s.id.endswith("/0") else "1"}) + "\n" for s in samples
        )
    )
    store_path = tmp_path / "store.db"
    api.score("mmeb", predictions, data=data, save=True, store=store_path, output_dir=tmp_path / "runs")
    with Store(store_path) as store:
        runs = load_runs(store, select_runs(store, []))
    chart = chart_data("mmeb", runs, {run.run_id: i for i, run in enumerate(runs)})
    depth = {node["path"]: node["depth"] for node in chart["nodes"]}
    # level 1: the 4 meta-tasks (the radar's axes); level 2: the 36 datasets (the bars)
    assert sorted(p for p, d in depth.items() if d == 1) == sorted(META_TASKS)
    assert len([p for p, d in depth.items() if d == 2]) == 36
    values = dict(zip((node["path"] for node in chart["nodes"]), chart["values"], strict=True))
    assert values["grounding"][0][1] == pytest.approx(0.5)  # the mean of its datasets' 1/2
    assert values["vqa/GQA"][0][1] == pytest.approx(0.5)


def test_a_tiny_clip_runs_the_dual_encoder_variant_end_to_end(
    tmp_path: Path,
    tiny_model_factory: TinyModelFactory,  # noqa: F811
) -> None:
    pytest.importorskip("transformers")
    from tests.fixtures.tiny_models import build_tiny_clip

    folder = build_tiny_clip(tmp_path / "clip")
    data = build_mmeb(tmp_path / "mmeb", queries=2)
    model = ModelSpec(backend="hf", name=str(folder), args={"dtype": "float32", "batch_size": 32})
    store = tmp_path / "store.db"
    # the plain task sends image + instruction, which a dual encoder refuses by name
    with pytest.raises(MmlensError, match="dual encoder embeds either a text or one image"):
        api.evaluate("mmeb", model, data=data, store=store, output_dir=tmp_path / "r0", thumbnails=False)
    first = api.evaluate(
        "mmeb_dual_encoder", model, data=data, store=store, output_dir=tmp_path / "r1", thumbnails=False
    )
    assert first.results["counts"]["errors"] == 0 and first.results["counts"]["scored"] == 72
    again = api.evaluate(
        "mmeb_dual_encoder", model, data=data, store=store, output_dir=tmp_path / "r2", thumbnails=False
    )
    assert again.results["provenance"]["requests"]["computed"] == 0
    assert again.results["metrics"] == first.results["metrics"]


def test_candidates_that_nothing_reads_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = build_mmeb(tmp_path / "mmeb", datasets=DATASETS)
    samples = samples_of(data)
    _, candidates, _ = embeddings_made_elsewhere(tmp_path, samples)
    rankings = tmp_path / "rankings.jsonl"
    rankings.write_text("".join(json.dumps({"id": s.id, "response": "0"}) + "\n" for s in samples))
    arguments = ["score", "mmeb", "--data", str(data), "--predictions", str(rankings)]
    code = cli_main([*arguments, "--candidates", str(candidates), "--store", str(tmp_path / "s.db")])
    assert code != 0
    assert "read no query embedding against them" in capsys.readouterr().err
