"""Real runs for the report tests: two jsonl tasks evaluated with the constant backend into one store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mmlens import api
from tests.report.builders import build_task

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@dataclass
class Runs:
    store: Path
    folder: Path
    # (task, constant model text) -> the api result
    results: dict[tuple[str, str], api.RunResult]

    def run(self, task: str, text: str) -> api.RunResult:
        return self.results[(task, text)]

    def records(self, task: str, text: str) -> list[dict[str, Any]]:
        return [record.to_dict() for record in self.run(task, text).records]


@pytest.fixture(scope="package")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """survey (30 samples) x {yes, no, maybe}; quiz (24 samples) x {yes, no}: quiz has exactly two runs
    (compared automatically), survey three (compared only when asked)."""
    folder = tmp_path_factory.mktemp("report-bench")
    build_task(folder, "survey", count=30, distinct_images=20)
    build_task(folder, "quiz", count=24, two_image_every=0, no_image_every=0, first_image=1000)
    store = folder / "store.sqlite"
    results = {}
    for task, texts in (("survey", ("yes", "no", "maybe")), ("quiz", ("yes", "no"))):
        for text in texts:
            results[(task, text)] = api.evaluate(
                task,
                "constant",
                model_args=f"text={text}",
                include=[folder],
                store=store,
                output_dir=folder / "runs",
            )
    return Runs(store, folder, results)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if os.environ.get("MMLENS_NO_BROWSER") == "1":
        pytest.skip("MMLENS_NO_BROWSER=1: browser tests skipped")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()
