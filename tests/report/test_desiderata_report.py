"""The report's desiderata section in Chromium: the numbers ``mmlens dimensions`` printed, a radar
per task and a reliability diagram per model, recomputed from the runs in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mmlens.analyses.dimensions import run_dimensions
from mmlens.cli import main
from mmlens.metrics.calibration import calibration_of_records
from mmlens.report.payload import format_value
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401 - fixture


def test_desiderata_table_radar_and_reliability_diagram(
    browser: Any,
    tmp_path: Path,
    tiny_model_factory: TinyModelFactory,  # noqa: F811
) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("imagecorruptions")
    store = tmp_path / "s.sqlite"
    made: dict[str, Any] = {}
    report = run_dimensions(
        "shapes_small", f"hf:{tiny_model_factory('llava')}", model_args="dtype=float32", limit=12,
        only=["calibration", "hallucination", "robustness"], store=store, output_dir=None,
        on_run=made.__setitem__,
    )  # fmt: skip
    # a plain run of the same task and model: not a desideratum, left out of the section
    assert main(["--store", str(store), "run", "shapes_small", "--limit", "5", "--model", "reference",
                 "--no-progress", "--output-dir", str(tmp_path / "runs")]) == 0  # fmt: skip
    output = tmp_path / "report.html"
    assert main(["--store", str(store), "report", "-o", str(output)]) == 0
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(output.as_uri())
        page.wait_for_function("window.mmlens && window.mmlens.ready", timeout=15000)
        models = page.locator("#desiderata .desiderata-model")
        assert models.count() == 1  # the reference run has no likelihood ranking: no desiderata
        shown = {
            (row.get_attribute("data-dimension"), row.get_attribute("data-score")): row.locator(
                ".value"
            ).inner_text()
            for row in models.first.locator("tbody tr").all()
        }
        assert shown == {(s.dimension, s.name): format_value(s.value) for s in report.scores}
        polygon = page.locator("#desiderata svg.radar polygon.model")
        assert polygon.count() == 1
        values = polygon.first.get_attribute("data-values") or ""
        assert "calibration" in values and "robustness" in values and "hallucination" in values
        bins = page.locator("#desiderata svg.reliability circle.bin")
        expected = calibration_of_records(made["origin"].records)
        assert bins.count() == len(expected.bins)
        assert [int(b.get_attribute("data-count") or 0) for b in bins.all()] == [
            b.count for b in expected.bins
        ]
        assert page.locator("#desiderata .ece").inner_text() == format_value(expected.ece)
        assert not errors
    finally:
        context.close()
