"""Embedding tasks end to end through a local OpenAI-compatible ``/v1/embeddings`` endpoint (a
real aiohttp server on 127.0.0.1): MMEB's queries and candidates are sent once per distinct
content, and a rerun sends nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mmlens import api
from mmlens.models.base import ModelSpec
from tests.fixtures.mmeb_data import build_mmeb
from tests.models.test_embed import EmbeddingServer

pytestmark = pytest.mark.timeout(120)


def test_mmeb_through_an_openai_embeddings_endpoint_sends_each_distinct_request_once(tmp_path: Path) -> None:
    pytest.importorskip("aiohttp")
    data = build_mmeb(tmp_path / "mmeb", queries=3, datasets=("ImageNet-1K", "CIRR", "MSCOCO"))
    task = api.load_task("mmeb")
    task = dataclasses.replace(
        task, scenario=task.scenario.model_copy(update={"datasets": ("ImageNet-1K", "CIRR", "MSCOCO")})
    )
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
        assert first.results["counts"]["errors"] == 0
        assert requests["planned"] == 9 * (1 + 4)  # 9 queries, 4 candidates each
        assert requests["computed"] == requests["unique"] == len(server.bodies) < requests["planned"]
        sent = len(server.bodies)
        again = api.evaluate(
            task, model, data=data, store=store, output_dir=tmp_path / "r2", thumbnails=False
        )
        assert len(server.bodies) == sent and again.results["provenance"]["requests"]["computed"] == 0
        assert again.results["metrics"] == first.results["metrics"]
    # image candidates go as chat messages with the image, text candidates as "input"
    assert any("messages" in body for body in server.bodies) and any(
        "input" in body for body in server.bodies
    )
