"""calibration and verbalizer through the real hf backend on a yes/no and a multiple-choice
benchmark (POPE, MMStar, shapes' mixed questions), after the likelihood transform."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlens import api
from mmlens.metrics.calibration import calibration_of_records
from tests.fixtures.benchmark_data import build_mmstar
from tests.fixtures.benchmark_helpers import pope_with_images
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401 - fixture


def test_calibration_and_verbalizer_with_a_tiny_vlm(
    tmp_path: Path,
    tiny_model_factory: TinyModelFactory,  # noqa: F811
) -> None:
    pytest.importorskip("transformers")
    model = f"hf:{tiny_model_factory('llava')}"
    options = {"model_args": "dtype=float32", "store": tmp_path / "s.sqlite", "output_dir": None}
    mmstar = build_mmstar(tmp_path / "mmstar")
    calibrated = {
        "pope": api.evaluate(
            "pope",
            model,
            data=pope_with_images(tmp_path / "pope", 3),
            transforms=["likelihood", "calibration"],
            **options,
        ),  # fmt: skip
        "mmstar": api.evaluate(
            "mmstar", model, data=mmstar, limit=6, transforms=["likelihood", "calibration"], **options
        ),  # fmt: skip
    }
    for name, run in calibrated.items():
        assert run.results["counts"]["errors"] == 0, name
        assert run.results["metrics"]["ece"]["value"] == pytest.approx(
            calibration_of_records(run.records).ece
        )
        assert run.results["reliability"]["bins"], name
    verbalized = {
        "mmstar": api.evaluate(
            "mmstar",
            model,
            data=mmstar,
            limit=6,
            transforms=["likelihood", "verbalizer:natural_0"],
            **options,
        ),  # fmt: skip
        "shapes": api.evaluate(
            "shapes_small", model, limit=10, transforms=["likelihood", "verbalizer:neutral_1"], **options
        ),  # fmt: skip
    }
    for name, run in verbalized.items():
        assert run.results["counts"]["errors"] == 0, name
        mapped = [r for r in run.records if "verbalizer" in r.details]
        assert mapped, name
        assert all(r.answer in "ABCD" for r in mapped)
    assert any('you need to output "1"' in str(r.prompt) for r in verbalized["mmstar"].records)
