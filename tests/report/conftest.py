"""Real runs for the report tests: two jsonl tasks evaluated with the constant backend into one store."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mmlens import api
from tests.fixtures.report_builders import build_task
from tests.fixtures.report_tasks import build_typed_tasks, flaky_model, length_model

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
# Screenshots for a person to look at: outside the checkout (the suite leaves no files in it).
ARTIFACTS = Path(
    os.environ.get("MMLENS_TEST_ARTIFACTS") or Path(tempfile.gettempdir()) / "mmlens-test-artifacts"
)


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


@dataclass
class TypedRuns:
    store: Path
    folder: Path
    results: dict[str, api.RunResult]


@pytest.fixture(scope="package")
def typed_runs(tmp_path_factory: pytest.TempPathFactory) -> TypedRuns:
    """Runs whose records use what schema 2 added: debate (a judged two-round dialogue; once with
    the task's default judge, once with a judge given that calls every answer incorrect: compared
    automatically), pick (likelihood ranking: option_scores) and flaky_quiz (once with a backend
    that fails on one question: incomplete; once complete)."""
    folder = tmp_path_factory.mktemp("typed-bench")
    build_typed_tasks(folder)
    common: dict[str, Any] = {
        "include": [folder],
        "store": folder / "store.sqlite",
        "output_dir": folder / "runs",
    }
    results = {
        "debate_default": api.evaluate("debate", "constant", model_args="text=yes", **common),
        "debate_given": api.evaluate(
            "debate",
            "constant",
            model_args="text=no",
            roles={"judge": flaky_model("Verdict: incorrect")},
            **common,
        ),
        "pick": api.evaluate("pick", length_model(), **common),
        "flaky": api.evaluate("flaky_quiz", flaky_model(), **common),
        "steady": api.evaluate("flaky_quiz", "constant", model_args="text=yes", **common),
    }
    return TypedRuns(folder / "store.sqlite", folder, results)


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
