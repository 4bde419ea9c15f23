"""The report's "Reported vs measured" section in headless Chromium (issue 12 item 3): the rows equal
what mmlens compare-reported computes from results.json, and a report without published results has
no such section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mmlens import api
from mmlens.cli import main
from mmlens.report.payload import format_interval, format_value
from tests.fixtures.report_builders import build_task


@pytest.fixture(scope="module")
def reported_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("reported-report")
    build_task(folder, "poll", count=24, distinct_images=6)
    store = folder / "store.sqlite"
    runs = {
        text: api.evaluate(
            "poll",
            "constant",
            model_args=f"text={text}",
            include=[folder],
            store=store,
            output_dir=folder / "runs",
        )
        for text in ("yes", "no")
    }
    yes = runs["yes"].results["metrics"]["acc"]
    entries = [
        {
            "task": "poll",
            "model": "Yes-VLM",
            "models": ["constant (text=yes*"],
            "value": round(100 * yes["value"], 1),
            "scale": 100,
            "source": "Fixture paper, Table 1",
            "settings": {"resolution": "448px"},
        },
        {
            "task": "poll",
            "model": "No-VLM",
            "models": ["constant (text=no*"],
            "value": 99.5,
            "scale": 100,
            "source": "Fixture paper, Table 2",
        },
    ]
    (folder / "reported.yaml").write_text(yaml.safe_dump({"reported": entries}))
    return {"folder": folder, "store": store, "runs": runs, "entries": entries}


def test_the_report_shows_measured_next_to_reported(
    browser: Any, reported_runs: dict[str, Any], tmp_path: Path
) -> None:
    output = tmp_path / "report.html"
    assert main(["--store", str(reported_runs["store"]), "report", "-o", str(output)]) == 0
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(output.as_uri())
        page.wait_for_function("window.mmlens && window.mmlens.ready", timeout=15000)
        assert page.locator('nav a[href="#reported"]').count() == 1
        assert page.locator("#reported h2").inner_text() == "Reported vs measured"
        for text, entry, verdicts in (
            ("yes", reported_runs["entries"][0], {"within noise"}),
            ("no", reported_runs["entries"][1], {"below reported"}),
        ):
            run = reported_runs["runs"][text]
            metric = run.results["metrics"]["acc"]
            measured = 100 * metric["value"]
            ci = [100 * bound for bound in metric["ci95"]]
            row = page.locator(f'#reported-table tr[data-run="{run.run_id}"]')
            assert row.count() == 1
            assert row.get_attribute("data-verdict") in verdicts
            assert row.locator(".verdict").inner_text() == row.get_attribute("data-verdict")
            assert row.locator(".reported").inner_text() == format_value(entry["value"])
            assert row.locator(".measured").inner_text() == format_value(measured)
            assert row.locator(".ci").inner_text() == format_interval(ci)
            difference = measured - entry["value"]
            shown = format_value(difference)
            assert row.locator(".difference").inner_text() == ("+" + shown if difference > 0 else shown)
            assert row.locator(".difference-ci").inner_text() == format_interval(
                [bound - entry["value"] for bound in ci]
            )
            assert entry["source"] in row.locator(".source").inner_text()
        yes_row = page.locator(f'#reported-table tr[data-run="{reported_runs["runs"]["yes"].run_id}"]')
        assert "resolution: 448px" in yes_row.locator(".source").inner_text()
        assert page.locator("#reported").is_visible()
        assert not errors
    finally:
        context.close()


def test_no_reported_section_without_published_results(reported_runs: dict[str, Any], tmp_path: Path) -> None:
    reported = reported_runs["folder"] / "reported.yaml"
    saved = reported.read_text()
    reported.write_text("reported: []\n")
    try:
        output = tmp_path / "plain.html"
        assert main(["--store", str(reported_runs["store"]), "report", "-o", str(output)]) == 0
        html = output.read_text()
        assert 'id="reported"' not in html and 'href="#reported"' not in html
    finally:
        reported.write_text(saved)
