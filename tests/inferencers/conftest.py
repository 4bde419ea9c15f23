"""Shared parts of the multi-round inferencer tests: the toy benchmark, the dialogue server, runs on
a tiny hf model batched and unbatched."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mmlens import api
from mmlens.core.results import SampleRecord
from tests.fixtures.dialogue_server import DialogueServer
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401 - a fixture

ROUNDS_BENCH = Path(__file__).resolve().parents[1] / "fixtures" / "rounds_bench"


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    """A copy of tests/fixtures/rounds_bench (tests may add task files or data to it)."""
    target = tmp_path / "bench"
    shutil.copytree(ROUNDS_BENCH, target)
    return target


@pytest.fixture
def server() -> Iterator[DialogueServer]:
    with DialogueServer() as running:
        yield running


@pytest.fixture(scope="session")
def llava(tiny_model_factory: TinyModelFactory) -> Path:  # noqa: F811
    pytest.importorskip("transformers")
    return tiny_model_factory("llava")


def openai_args(server: DialogueServer) -> str:
    return f"base_url={server.base_url},timeout=20,max_retries=0"


def run_on_server(
    task: str, bench: Path, server: DialogueServer, store: Path, **options: Any
) -> api.RunResult:
    return api.evaluate(
        task,
        "openai:toy",
        model_args=openai_args(server),
        include=[bench],
        store=store,
        output_dir=options.pop("output_dir", None),
        thumbnails=False,
        **options,
    )


def sample_lines(run_dir: Path | None) -> dict[str, dict[str, Any]]:
    assert run_dir is not None
    lines = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    return {line["id"]: line for line in lines}


def comparable(record: SampleRecord) -> dict[str, Any]:
    """A record without what says where a response came from (computed or cached)."""
    data = record.to_dict()
    for exchange in data.get("exchanges", []):
        exchange.pop("cached")
    return data


def run_on_hf_batched_and_unbatched(
    task: str, llava: Path, bench: Path, tmp_path: Path, rounds: int
) -> dict[str, dict[str, Any]]:
    """The task on the tiny Llava with batch sizes 1 and 4 (fresh stores): each run drives
    ``rounds`` rounds, an identical rerun computes nothing and agrees, and both batch sizes give the
    same records. Returns the batched run's samples.jsonl lines by id."""
    records: dict[int, list[dict[str, Any]]] = {}
    lines: dict[str, dict[str, Any]] = {}
    for batch_size in (1, 4):
        model = api.resolve_model(f"hf:{llava}", f"batch_size={batch_size}")
        options: dict[str, Any] = {
            "include": [bench],
            "store": tmp_path / f"hf-{batch_size}.sqlite",
            "output_dir": tmp_path / f"runs-{batch_size}",
            "thumbnails": False,
        }
        try:
            first = api.evaluate(task, model, **options)
            rerun = api.evaluate(task, model, **options)
        finally:
            model.close()
        assert first.results["provenance"]["requests"]["rounds"] == rounds
        assert first.stats is not None and rerun.stats is not None
        assert first.stats.computed == first.stats.unique_requests > 0
        assert (rerun.stats.computed, rerun.stats.cached) == (0, first.stats.unique_requests)
        assert rerun.results["metrics"] == first.results["metrics"]
        assert [comparable(r) for r in rerun.records] == [comparable(r) for r in first.records]
        records[batch_size] = [comparable(r) for r in first.records]
        lines = sample_lines(first.run_dir)
    assert records[1] == records[4]
    return lines
