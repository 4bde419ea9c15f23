"""The offline quickstart end to end: `mmlens run` with its defaults, and the reference model's answers
unchanged by batching, de-duplication, caching and an interrupted-then-resumed run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.requests import Request
from mmlens.models.base import Emit
from mmlens.models.reference import ReferenceModel
from mmlens.runner.execute import RunInterrupted


def answers(result: api.RunResult) -> dict[str, tuple[str | None, float]]:
    return {r.id: (r.response, r.scores["acc"]) for r in result.records}


def test_mmlens_run_with_its_defaults_works_offline_and_far_above_chance(tmp_path: Path) -> None:
    env = {**os.environ, "MMLENS_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "mmlens", "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "task shapes · model reference" in result.stdout
    results = json.loads(
        next((tmp_path / "mmlens-runs").glob("shapes__reference__*/results.json")).read_text()
    )
    assert results["counts"]["samples"] == 1000 and results["counts"]["errors"] == 0
    assert results["metrics"]["acc"]["value"] >= 0.8  # chance is at most 50% on every family
    for family in ("existence", "position", "count", "colour", "text"):
        assert results["breakdown"][f"perception/{family}"]["acc"]["value"] >= 0.75, family
    assert elapsed < 60


def test_answers_do_not_depend_on_batching_or_the_cache(tmp_path: Path) -> None:
    one_by_one = api.evaluate(
        "shapes_small", "reference", model_args="batch_size=1", store=tmp_path / "a.sqlite", output_dir=None
    )
    batched = api.evaluate(
        "shapes_small", "reference", model_args="batch_size=37", store=tmp_path / "b.sqlite", output_dir=None
    )
    cached = api.evaluate("shapes_small", "reference", store=tmp_path / "b.sqlite", output_dir=None)
    assert answers(one_by_one) == answers(batched) == answers(cached)
    assert cached.stats is not None and cached.stats.computed == 0
    assert one_by_one.results["metrics"]["acc"]["value"] >= 0.8


def test_duplicated_requests_are_asked_once_and_answered_for_every_sample(tmp_path: Path) -> None:
    """The same shapes questions under a second task name: its run is served entirely by the cache."""
    task = tmp_path / "shapes_again.yaml"
    task.write_text(
        "name: shapes_again\nscenario: {type: shapes, size: 200, seed: 0}\n"
        "inferencer: {type: generate, max_new_tokens: 8}\n"
        "metric: {type: accuracy, extractor: choice_or_yes_no}\n"
    )
    first = api.evaluate("shapes_small", "reference", store=tmp_path / "s.sqlite", output_dir=None)
    again = api.evaluate(
        "shapes_again", "reference", include=[task], store=tmp_path / "s.sqlite", output_dir=None
    )
    assert again.stats is not None and (again.stats.cached, again.stats.computed) == (200, 0)
    assert answers(first) == answers(again)


def test_an_interrupted_run_resumes_to_the_same_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = api.evaluate("shapes_small", "reference", store=tmp_path / "clean.sqlite", output_dir=None)
    real_process = ReferenceModel.process

    def interrupted_process(self: ReferenceModel, requests: Sequence[Request], emit: Emit) -> None:
        emitted = 0

        def counting_emit(index: int, response: object) -> None:
            nonlocal emitted
            emit(index, response)  # type: ignore[arg-type]
            emitted += 1
            if emitted == 70:
                raise KeyboardInterrupt

        real_process(self, requests, counting_emit)

    monkeypatch.setattr(ReferenceModel, "process", interrupted_process)
    store = tmp_path / "resumed.sqlite"
    with pytest.raises(RunInterrupted, match="responses are saved"):
        api.evaluate("shapes_small", "reference", model_args="batch_size=16", store=store, output_dir=None)
    monkeypatch.setattr(ReferenceModel, "process", real_process)
    resumed = api.evaluate("shapes_small", "reference", store=store, output_dir=None)
    assert resumed.stats is not None and resumed.stats.cached >= 64 and resumed.stats.computed <= 136
    assert resumed.stats.cached + resumed.stats.computed == 200
    assert answers(resumed) == answers(clean)
    assert resumed.results["metrics"] == clean.results["metrics"]
