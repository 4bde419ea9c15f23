"""``api.plan``: the first round a run would send, without loading or sending anything."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.errors import ConfigError, UnknownNameError
from mmlens.core.media import GeneratedImage
from mmlens.models.hf import HFModel
from tests.fixtures.judged_task import ROWS, write_judged_task


@pytest.fixture
def nothing_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a model, loading hf weights or drawing a generated image fails the test."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("plan must not load models or draw images")

    monkeypatch.setattr("mmlens.models.base.build_model", refuse)
    monkeypatch.setattr("mmlens.api.build_model", refuse)
    monkeypatch.setattr("mmlens.runner.roles.build_model", refuse)
    monkeypatch.setattr(HFModel, "load", refuse)
    monkeypatch.setattr(GeneratedImage, "pil", refuse)
    monkeypatch.setattr(GeneratedImage, "encoded", refuse)


def test_plan_lists_the_first_round_of_each_sample(nothing_loads: None, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    plan = api.plan("shapes", limit=3, model=f"hf:{missing}", model_args="dtype=float32")
    assert plan.task == "shapes" and plan.model == f"hf:{missing}"
    assert [sample_id for sample_id, _ in plan.samples] == ["shapes-0", "shapes-1", "shapes-2"]
    assert plan.request_count == 3 and plan.later_rounds is False and plan.bad_samples == []
    assert not missing.exists()
    for _, requests in plan.samples:
        (request,) = requests
        assert request.role == "model" and request.kind == "generate"
        (message,) = request.canonical["messages"]
        image, text = message["content"]
        # A generated image is named by its generator's key (the pixels are never drawn here).
        assert image["type"] == "image" and image["image"].startswith("gen:shapes-v1:")
        assert text["type"] == "text" and text["text"]
        assert request.canonical["settings"] == {
            "max_new_tokens": 8,
            "temperature": 0.0,
            "top_p": 1.0,
            "stop": [],
            "seed": None,
        }
    data = plan.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["requests"] == 3 and data["later_rounds"] is False
    assert data["samples"][0]["requests"][0]["role"] == "model"
    assert data["samples"][0]["requests"][0]["kind"] == "generate"
    assert "Is there" in data["samples"][0]["requests"][0]["messages"][0]["content"][1]["text"]


def test_a_model_given_to_plan_is_validated_not_loaded(nothing_loads: None) -> None:
    with pytest.raises(ConfigError, match="dtype"):
        api.plan("shapes", limit=1, model="hf:/no/such/folder", model_args="dtype=float64")
    with pytest.raises(UnknownNameError, match="unknown model backend 'nope'"):
        api.plan("shapes", limit=1, model="nope:thing")


def test_a_judged_task_plans_the_model_round_and_says_more_rounds_follow(
    nothing_loads: None, tmp_path: Path
) -> None:
    folder = write_judged_task(tmp_path / "task")
    plan = api.plan("judged_toy", include=[folder])  # no judge needed to plan
    assert plan.later_rounds is True
    assert [sample_id for sample_id, _ in plan.samples] == [row["id"] for row in ROWS]
    for (sample_id, requests), row in zip(plan.samples, ROWS, strict=True):
        (request,) = requests
        assert request.role == "model" and request.kind == "generate"
        image, text = request.canonical["messages"][0]["content"]
        digest = hashlib.sha256((folder / f"{sample_id}.png").read_bytes()).hexdigest()
        assert image == {"type": "image", "image": f"sha256:{digest}"}
        assert text == {"type": "text", "text": row["question"]}
        assert request.canonical["settings"]["max_new_tokens"] == 8
    data = plan.to_dict()
    assert json.loads(json.dumps(data)) == data and data["later_rounds"] is True


def test_plan_reports_bad_samples(nothing_loads: None, tmp_path: Path) -> None:
    rows = [ROWS[0], {"id": "broken", "answer": "x"}]
    folder = write_judged_task(tmp_path / "task", rows=rows, images=False)
    plan = api.plan("judged_toy", include=[folder])
    assert [sample_id for sample_id, _ in plan.samples] == ["q1"]
    assert plan.bad_samples == [
        {"id": "broken", "reason": f"{folder / 'data.jsonl'}, line 2: missing question"}
    ]
    assert plan.to_dict()["bad_samples"] == plan.bad_samples


def test_runs_with_two_seeds_of_one_loaded_task_sample_anew(tmp_path: Path) -> None:
    """The run seed is applied to a copy: the caller's Task keeps no seed from an earlier run."""
    from mmlens.core.task import TaskCatalog

    (tmp_path / "toy.yaml").write_text(
        "name: sampled_toy\ndescription: Sampled answers.\nid_scheme: 'the \"id\" field'\n"
        "scenario: {type: jsonl, path: rows.jsonl}\n"
        "inferencer: {type: generate, temperature: 0.7}\nmetric: {type: accuracy}\n"
    )
    (tmp_path / "rows.jsonl").write_text(json.dumps({"id": "a", "question": "Yes?", "answer": "yes"}) + "\n")
    task = TaskCatalog([tmp_path]).load("sampled_toy")
    store = tmp_path / "s.sqlite"
    first = api.evaluate(task, "constant", seed=0, store=store, output_dir=None)
    second = api.evaluate(task, "constant", seed=1, store=store, output_dir=None)
    assert task.inferencer.model_dump()["seed"] is None
    assert second.stats is not None and second.stats.computed == 1  # seed 1 is a new request
    assert first.results["provenance"]["generation"]["seed"] == 0
    assert second.results["provenance"]["generation"]["seed"] == 1
