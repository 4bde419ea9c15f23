"""``mmlens dimensions``: the runs each desideratum needs (cached and resumable), the scores from
the same functions the desiderata tests check by hand, and failures said per dimension."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from mmlens import api
from mmlens.analyses import desiderata
from mmlens.analyses.dimensions import run_dimensions, scores_from_labelled_runs
from mmlens.cli.app import main
from mmlens.core.errors import ConfigError
from mmlens.metrics.calibration import calibration_of_records
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401 - fixture


def by_name(report: Any, dimension: str) -> dict[str, float]:
    return {s.name: s.value for s in report.scores if s.dimension == dimension}


def test_calibration_and_hallucination_with_the_reference_model(tmp_path: Path) -> None:
    options: dict[str, Any] = {"limit": 30, "store": tmp_path / "s.sqlite", "output_dir": None}
    made: dict[str, api.RunResult] = {}
    report = run_dimensions("shapes_small", "reference", only=["calibration", "hallucination"],
                            on_run=made.__setitem__, **options)  # fmt: skip
    assert list(made) == ["origin"]  # both read the one likelihood run
    origin = made["origin"]
    assert origin.results["provenance"]["task"]["transforms"] == ["likelihood"]
    calibration = by_name(report, "calibration")
    assert calibration["ece"] == calibration_of_records(origin.records).ece
    assert calibration["accuracy_pct"] == desiderata.accuracy(origin.records)
    # the same ECE as the calibration transform's metric on the same (cached) requests
    calibrated = api.evaluate(
        "shapes_small", "reference", transforms=["likelihood", "calibration"], **options
    )
    assert calibrated.stats is not None and calibrated.stats.computed == 0
    assert calibrated.results["metrics"]["ece"]["value"] == pytest.approx(calibration["ece"])
    # hallucination: POPE's confusion counts over the yes/no questions, by hand
    yes_no = [r for r in origin.records if r.target in ("yes", "no")]
    tp = sum(r.answer == "yes" and r.target == "yes" for r in yes_no)
    fp = sum(r.answer == "yes" and r.target == "no" for r in yes_no)
    fn = sum(r.answer == "no" and r.target == "yes" for r in yes_no)
    hallucination = by_name(report, "hallucination")
    assert hallucination["precision"] == tp / (tp + fp) and hallucination["recall"] == tp / (tp + fn)
    assert hallucination["yes_ratio"] == (tp + fp) / len(yes_no)
    again: dict[str, api.RunResult] = {}
    run_dimensions("shapes_small", "reference", only=["calibration"], on_run=again.__setitem__, **options)
    assert again["origin"].stats is not None and again["origin"].stats.computed == 0


def test_a_run_the_model_cannot_answer_is_said_for_its_dimension_only(tmp_path: Path) -> None:
    """The reference model refuses words it never saw: the text corruptions' run fails, and
    robustness says so; the image corruptions' run and calibration still give numbers."""
    pytest.importorskip("imagecorruptions")
    report = run_dimensions("shapes_small", "reference", only=["calibration", "robustness"], limit=20,
                            store=tmp_path / "s.sqlite", output_dir=None)  # fmt: skip
    robustness = [s for s in report.scores if s.dimension == "robustness"]
    assert len(robustness) == 1 and math.isnan(robustness[0].value)
    assert "run text failed" in robustness[0].note and "never saw" in robustness[0].note
    assert "text" in report.incomplete and "image" in report.runs
    assert not math.isnan(by_name(report, "calibration")["ece"])


def test_cli_table_json_and_one_line_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    common = ["--store", store, "dimensions", "shapes_small", "--limit", "20", "--output-dir", str(tmp_path)]
    assert main([*common, "--only", "calibration", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in printed["scores"]] == ["ece", "accuracy_pct"]
    assert set(printed["runs"]) == {"origin"} and printed["incomplete"] == {}
    assert main([*common, "--only", "calibration,hallucination"]) == 0
    table = capsys.readouterr().out
    assert "calibration" in table and "hallucination" in table and "f1" in table
    assert main([*common, "--only", "calibraton"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "unknown dimension 'calibraton'" in err
    with pytest.raises(ConfigError, match="unknown dimension"):
        run_dimensions("shapes_small", only=["nope"])


def test_the_report_path_scores_from_labelled_runs_alike(tmp_path: Path) -> None:
    made: dict[str, api.RunResult] = {}
    options: dict[str, Any] = {"limit": 20, "store": tmp_path / "s.sqlite", "output_dir": None}
    only = ["calibration", "hallucination"]
    report = run_dimensions("shapes_small", "reference", only=only, on_run=made.__setitem__, **options)
    labelled = {tuple(run.results["provenance"]["task"]["transforms"]): run.records for run in made.values()}
    again = scores_from_labelled_runs(labelled)
    assert [(s.dimension, s.name, s.value) for s in again] == [
        (s.dimension, s.name, s.value) for s in report.scores
    ]
    assert scores_from_labelled_runs({(): made["origin"].records[:0]}) == []  # no ranked run: nothing


def test_every_dimension_with_a_tiny_vlm(
    tmp_path: Path,
    tiny_model_factory: TinyModelFactory,  # noqa: F811
) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("imagecorruptions")
    model = f"hf:{tiny_model_factory('llava')}"
    only = ["calibration", "hallucination", "robustness", "instruction_following", "in_context_learning",
            "language_performance"]  # fmt: skip
    report = run_dimensions("shapes_small", model, model_args="dtype=float32", only=only, limit=10,
                            store=tmp_path / "s.sqlite", output_dir=None, roles={"judge": "constant"},
                            role_args={"judge": "text=[Overall Score] 5"})  # fmt: skip
    assert not report.incomplete
    for dimension in only:
        values = by_name(report, dimension)
        assert values and "-" not in values, (dimension, values)
    assert set(by_name(report, "robustness")) >= {"rrm_image", "rr_text", "acc_pct_image_text"}
    assert 0 <= by_name(report, "instruction_following")["mr_pct_mean"] <= 100
    icl = by_name(report, "in_context_learning")
    assert set(icl) == {"accuracy_pct_k0", "accuracy_pct_k1", "accuracy_pct_k2", "accuracy_pct_k3", "riam"}
    assert by_name(report, "language_performance") == {"language_score": 5.0}


def test_the_corruption_sweep_gives_accuracy_by_kind_and_severity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("imagecorruptions")
    from mmlens.analyses.dimensions import chosen_dimensions
    from mmlens.transforms import image_corruptions

    assert "corruption_sweep" not in [d.name for d in chosen_dimensions(None)]  # opt-in: 116 runs
    monkeypatch.setattr(image_corruptions, "KINDS", ("gaussian_noise", "rotate"))
    made: dict[str, api.RunResult] = {}
    options: dict[str, Any] = {"limit": 8, "store": tmp_path / "s.sqlite", "output_dir": None}
    report = run_dimensions(
        "shapes_small", "reference", only=["corruption_sweep"], on_run=made.__setitem__, **options
    )
    assert sorted(made) == sorted(
        ["origin", *(f"{k}@{s}" for k in ("gaussian_noise", "rotate") for s in range(1, 6))]
    )
    assert made["rotate@3"].results["provenance"]["task"]["transforms"] == [
        "likelihood",
        "corrupt_image:rotate@3",
    ]
    values = by_name(report, "corruption_sweep")
    accuracy = {key: desiderata.accuracy(run.records) for key, run in made.items()}
    assert values["acc_pct_rotate@3"] == accuracy["rotate@3"]
    assert values["acc_pct_gaussian_noise_mean"] == pytest.approx(
        sum(accuracy[f"gaussian_noise@{s}"] for s in range(1, 6)) / 5
    )
    assert values["acc_pct_severity2_mean"] == pytest.approx(
        (accuracy["gaussian_noise@2"] + accuracy["rotate@2"]) / 2
    )
