"""SEED-Bench-2 ranking and MMStar multimodal gain through the real hf backend, on tiny randomly
initialised models built offline."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mmlens import api
from mmlens.analyses.multimodal_gain import multimodal_gain
from mmlens.core.parts import LoadContext, SampleRecord
from mmlens.core.task import TaskCatalog
from mmlens.inferencers.ranking import RankChoices
from tests.fixtures.benchmark_data import build_mmstar, build_seed2_json
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401 - fixture

pytest.importorskip("transformers")


def test_seedbench2_ranks_by_the_mean_over_the_options_tokens(
    tmp_path: Path,
    tiny_model_factory: TinyModelFactory,  # noqa: F811
) -> None:
    from transformers import AutoTokenizer

    folder = tiny_model_factory("llava")
    data = build_seed2_json(tmp_path / "seed2")
    store = tmp_path / "s.sqlite"
    options = {"model_args": "dtype=float32", "data": data, "store": store, "output_dir": None}
    mean_run = api.evaluate("seedbench2", f"hf:{folder}", **options)  # LLaVA-1.5's: closing </s> included
    assert mean_run.results["counts"]["errors"] == 0
    summed_task = dataclasses.replace(
        TaskCatalog().load("seedbench2"), inferencer=RankChoices(include_end_of_turn=True)
    )
    summed_run = api.evaluate(summed_task, f"hf:{folder}", **options)
    assert summed_run.stats is not None and summed_run.stats.computed == 0  # the same requests, cached
    qwen_run = api.evaluate("seedbench2", f"hf:{folder}", profile="qwen-vl", **options)  # option tokens only
    open_summed_task = dataclasses.replace(TaskCatalog().load("seedbench2"), inferencer=RankChoices())
    open_summed_run = api.evaluate(open_summed_task, f"hf:{folder}", **options)
    assert open_summed_run.stats is not None and open_summed_run.stats.computed == 0

    tokenizer = AutoTokenizer.from_pretrained(folder)
    samples = {s.id: s for s in api.load_task("seedbench2").scenario.load(_context(data))}
    runs = zip(mean_run.records, summed_run.records, qwen_run.records, open_summed_run.records, strict=True)
    for mean_record, summed_record, qwen_record, open_record in runs:
        choices = samples[mean_record.id].choices or []
        counts = [len(tokenizer(choice, add_special_tokens=False)["input_ids"]) for choice in choices]
        # the official LLaVA-1.5 interface: mean over the option's tokens and the closing </s>
        expected = [total / (n + 1) for total, n in zip(scores_of(summed_record), counts, strict=True)]
        assert scores_of(mean_record) == pytest.approx(expected)
        assert mean_record.answer == "ABCD"[expected.index(max(expected))]
        # the official Qwen-VL interface: mean over the option's tokens only
        expected_open = [total / n for total, n in zip(scores_of(open_record), counts, strict=True)]
        assert scores_of(qwen_record) == pytest.approx(expected_open)
        assert scores_of(qwen_record) != pytest.approx(expected, abs=1e-3)


def scores_of(record: SampleRecord) -> list[float]:
    assert record.option_scores is not None
    return record.option_scores.logprobs


def _context(data: Path) -> LoadContext:
    task = api.load_task("seedbench2")
    return LoadContext("seedbench2", task.task_dir, str(data))


def test_multimodal_gain_with_a_vlm_and_its_text_backbone(
    tmp_path: Path,
    tiny_model_factory: TinyModelFactory,  # noqa: F811
) -> None:
    vlm, llm = tiny_model_factory("llava"), tiny_model_factory("qwen2")
    data = build_mmstar(tmp_path / "mmstar")
    gain = multimodal_gain(
        "mmstar", f"hf:{vlm}", f"hf:{llm}", model_args="dtype=float32", backbone_model_args="dtype=float32",
        data=data, limit=4, store=tmp_path / "s.sqlite", output_dir=None,
    )  # fmt: skip
    runs = gain.runs
    assert all(run.results["counts"]["errors"] == 0 for run in runs.values())
    assert runs["S_t"].results["provenance"]["model"]["label"] == f"hf:{llm}"
    assert all(part["type"] == "text" for r in runs["S_wv"].records for part in r.prompt[0]["content"])
    assert gain.mg == pytest.approx(gain.s_v - gain.s_wv)
    assert gain.ml == pytest.approx(max(0.0, gain.s_wv - gain.s_t))
    for value, run in zip((gain.s_v, gain.s_wv, gain.s_t), runs.values(), strict=True):
        assert len(run.records) == 4
        assert value == pytest.approx(sum(r.scores["acc"] for r in run.records) / 4)
