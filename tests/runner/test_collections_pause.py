"""A run raises the collector's young threshold and freezes the loaded samples, and gives the
process its usual collector back when it ends, also when it fails."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.requests import Request, Response
from mmlens.models.base import Emit, Model, ModelArgs, models
from mmlens.runner.collections_pause import RUN_YOUNG_THRESHOLD, fewer_collections
from tests.fixtures.benchmark_data import build_mmstar

SEEN: list[tuple[tuple[int, int, int], int]] = []


@models.register("collector_probe")
class CollectorProbe(Model):
    """Answers "A" and notes the collector's thresholds and frozen count while the run asks."""

    backend = "collector_probe"
    Args = ModelArgs

    def process(self, requests: Sequence[Request], emit: Emit) -> None:
        SEEN.append((gc.get_threshold(), gc.get_freeze_count()))
        for index, _ in enumerate(requests):
            emit(index, Response(text="A"))


def test_a_run_collects_less_often_and_restores_the_collector(tmp_path: Path) -> None:
    before = gc.get_threshold()
    SEEN.clear()
    data = build_mmstar(tmp_path / "data")
    result = api.evaluate(
        "mmstar", "collector_probe", data=str(data), store=tmp_path / "s.sqlite", output_dir=tmp_path / "runs"
    )
    assert result.records
    assert SEEN, "the model was never asked"
    threshold, frozen = SEEN[0]
    assert threshold[0] == max(RUN_YOUNG_THRESHOLD, before[0]) and threshold[1:] == before[1:]
    assert frozen > 0  # the loaded samples (and all else alive then) are out of the collector's sight
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_the_collector_is_restored_when_the_run_fails() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_collections():
        gc.freeze()
        assert gc.get_threshold()[0] == max(RUN_YOUNG_THRESHOLD, before[0])
        raise RuntimeError("the run failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
