"""ECE as ChEF's compute_ECE (src/ChEF/metric/desiderata.py L7-39), HELM's get_ece_em and the
equal-width get_ece, worked out by hand; the calibration transform on a likelihood-ranked task
with a tiny hf model and through ``mmlens score``.

The values marked "official" were also produced by the official functions themselves (ChEF's
compute_ECE and p-lambda/uncertainty-calibration's get_equal_bins / fast_bin / plugin_ce, copied
into a temporary folder, never into this repository) on the same inputs: equal to the last digit.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmlens import api
from mmlens.core.errors import ConfigError
from mmlens.core.parts import LoadContext
from mmlens.core.results import OptionScores, RunResults, SampleRecord
from mmlens.core.sample import Sample
from mmlens.core.task import TaskCatalog
from mmlens.metrics.calibration import (
    CalibrationError,
    CalibrationMetric,
    calibration_of_records,
    confidence,
    expected_calibration_error,
)
from tests.fixtures.benchmark_data import build_seed2_json
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401 - fixture

# Twelve answers in record order (N % 10 = 2: the first two bins hold two answers, the rest one).
CONF = [0.5, 0.9, 0.5, 0.5, 0.5, 0.6, 0.7, 0.8, 1.0, 0.6, 0.75, 0.95]
HITS = [1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 1]


def test_chef_bins_by_count_in_a_stable_order_of_confidence() -> None:
    # Stable sort by confidence (ties keep record order):
    #   0.5 (r0, 1), 0.5 (r2, 1), 0.5 (r3, 0), 0.5 (r4, 0), 0.6 (r5, 0), 0.6 (r9, 1), 0.7 (r6, 1),
    #   0.75 (r10, 0), 0.8 (r7, 1), 0.9 (r1, 1), 0.95 (r11, 1), 1.0 (r8, 1)
    # bins of 2, 2, 1 x 8:
    #   {r0, r2}: 2 * |0.5 - 1| = 1.0      {r3, r4}: 2 * |0.5 - 0| = 1.0
    #   r5 0.6, r9 0.4, r6 0.3, r10 0.75, r7 0.2, r1 0.1, r11 0.05, r8 0
    #   ECE = 4.4 / 12 = 0.3666...
    # (the four tied 0.5 answers in another order, 1, 0, 1, 0, would give bins of accuracy 0.5: 0 + 0)
    result = expected_calibration_error(CONF, HITS)
    assert result.ece == pytest.approx(4.4 / 12, rel=1e-12)
    assert result.ece == 0.36666666666666664  # official compute_ECE, same inputs
    assert [b.count for b in result.bins] == [2, 2, 1, 1, 1, 1, 1, 1, 1, 1]
    assert [b.accuracy for b in result.bins] == [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    assert [b.confidence for b in result.bins][:3] == [0.5, 0.5, 0.6]
    # The same confidences with r2 wrong and r3 right: the tied 0.5 answers in record order are
    # 1, 0, 1, 0, so bins {r0, r2} and {r3, r4} both have accuracy 0.5: 0 + 0; ECE = 2.4 / 12 = 0.2.
    swapped = [1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 0, 1]
    assert expected_calibration_error(CONF, swapped).ece == pytest.approx(0.2, rel=1e-12)


def test_helm_equal_mass_puts_equal_confidences_in_one_bin() -> None:
    # get_equal_bins: sorted confidences in 10 groups (array_split: 2, 2, 1 x 8); edges halfway
    # between neighbouring groups: 0.5, 0.55, 0.6, 0.65, 0.725, 0.775, 0.85, 0.925, 0.975, 1.0.
    # A confidence goes to the first edge >= it: the four 0.5 share bin 0, the two 0.6 bin 2.
    #   bin 0: 4 answers, |0.5 - 2/4| = 0      bin 2: 2 answers, |0.6 - 1/2| = 0.1
    #   0.7: 0.3, 0.75: 0.75, 0.8: 0.2, 0.9: 0.1, 0.95: 0.05, 1.0: 0
    #   ECE = (2 * 0.1 + 0.3 + 0.75 + 0.2 + 0.1 + 0.05) / 12 = 1.6 / 12
    result = expected_calibration_error(CONF, HITS, "helm_equal_mass")
    assert result.ece == pytest.approx(1.6 / 12, rel=1e-12)
    assert result.ece == 0.13333333333333333  # official get_equal_bins + fast_bin + plugin_ce
    assert [b.count for b in result.bins] == [4, 2, 1, 1, 1, 1, 1, 1]  # empty bins are not drawn


def test_equal_width_bins() -> None:
    # edges 0.1 ... 1.0, bin (e_{b-1}, e_b]: (0.4, 0.5] four 0.5 (acc 0.5, error 0); (0.5, 0.6] the
    # two 0.6 (acc 0.5: 0.1 each); (0.6, 0.7] 0.7 (0.3); (0.7, 0.8] 0.75 and 0.8 (mean 0.775, acc
    # 0.5: 0.275 each); (0.8, 0.9] 0.9 (0.1); (0.9, 1.0] 0.95 and 1.0 (mean 0.975, acc 1: 0.025 each)
    # ECE = (0.2 + 0.3 + 0.55 + 0.1 + 0.05) / 12 = 1.2 / 12 = 0.1
    result = expected_calibration_error(CONF, HITS, "equal_width")
    assert result.ece == pytest.approx(0.1, rel=1e-12)
    assert result.ece == 0.09999999999999999  # official get_equal_prob_bins + fast_bin + plugin_ce
    assert [b.count for b in result.bins] == [4, 2, 1, 2, 1, 2]


def test_bin_sizes_for_small_and_round_counts() -> None:
    # N = 3 < 10: three one-answer bins: (|0.2-0| + |0.6-1| + |0.9-1|) / 3 = (0.2 + 0.4 + 0.1) / 3
    small = expected_calibration_error([0.9, 0.2, 0.6], [1, 0, 1])
    assert [b.count for b in small.bins] == [1, 1, 1]
    assert small.ece == pytest.approx(0.7 / 3, rel=1e-12)
    # N = 20: ten bins of two; N = 23: three bins of three then seven of two
    assert [b.count for b in expected_calibration_error([0.5] * 20, [1] * 20).bins] == [2] * 10
    assert [b.count for b in expected_calibration_error([0.5] * 23, [1] * 23).bins] == [3] * 3 + [2] * 7
    # all right at confidence 0.5: every bin |0.5 - 1| = 0.5
    assert expected_calibration_error([0.5] * 23, [1] * 23).ece == pytest.approx(0.5)


def test_no_answers_is_an_error() -> None:
    with pytest.raises(CalibrationError, match="no samples"):
        expected_calibration_error([], [])
    with pytest.raises(CalibrationError, match="2 confidences but 1"):
        expected_calibration_error([0.5, 0.6], [1])
    with pytest.raises(CalibrationError, match="unknown binning"):
        expected_calibration_error([0.5], [1], "quantile")


def test_confidence_is_the_largest_softmax_probability() -> None:
    # equal scores: a uniform softmax, 1/3 each (the ranking's argmax is the first option)
    assert confidence([-1.0, -1.0, -1.0]) == pytest.approx(1 / 3)
    # [0, log 0.25 - log 0.75]: softmax (0.75, 0.25)
    assert confidence([0.0, math.log(0.25 / 0.75)]) == pytest.approx(0.75)
    assert confidence(OptionScores(logprobs=[-3.0, -1.0], normalization="sum", chosen=1)) == pytest.approx(
        1 / (1 + math.exp(-2))
    )


def _record(sample_id: str, scores: list[float] | None, correct: bool, **extra: Any) -> SampleRecord:
    option_scores = None
    if scores is not None:
        chosen = max(range(len(scores)), key=scores.__getitem__)
        option_scores = {"logprobs": scores, "normalization": "token_mean", "chosen": chosen}
    return SampleRecord.model_validate(
        {
            "id": sample_id,
            "extraction": "exact" if scores is not None else "error",
            "correct": correct,
            "option_scores": option_scores,
            **extra,
        }
    )


def test_records_originals_only_and_failed_samples_left_out() -> None:
    records = [
        _record("1", [-1.0, -1.0], True),  # uniform: confidence 0.5, right
        _record("2", [0.0, math.log(0.25 / 0.75)], False),  # confidence 0.75, wrong
        _record("3", None, False, error="backend failed"),  # no ranking: not in the ECE
        # a circular pass of question 1: only the question as published counts
        _record(
            "1#circular1", [0.0, -10.0], False, details={"circular": {"of": "1", "pass": 1, "passes": 2}}
        ),
        _record("4", [0.0, math.log(0.1 / 0.9)], False),  # confidence 0.9; answer not found -> wrong
    ]
    # N = 3 (one-answer bins): (|0.5 - 1| + |0.75 - 0| + |0.9 - 0|) / 3 = 2.15 / 3
    result = calibration_of_records(records)
    assert result.n == 3
    assert result.ece == pytest.approx(2.15 / 3, rel=1e-12)
    assert [b.confidence for b in result.bins] == pytest.approx([0.5, 0.75, 0.9])
    with pytest.raises(CalibrationError, match="no samples"):
        calibration_of_records([records[2]])


def test_the_transform_needs_a_ranking_and_a_right_wrong_metric() -> None:
    catalog = TaskCatalog()
    with pytest.raises(ConfigError, match="likelihood ranking"):
        catalog.load("mmstar", transforms=["calibration"])  # generates text
    task = catalog.load("mmstar", transforms=["likelihood", "calibration:helm_equal_mass"])
    assert isinstance(task.metric, CalibrationMetric) and task.metric.binning == "helm_equal_mass"
    with pytest.raises(ConfigError, match="unknown binning"):
        catalog.load("seedbench2", transforms=["calibration:quantile"])


def _predictions(path: Path, rows: dict[str, list[float]]) -> Path:
    path.write_text("".join(json.dumps({"id": k, "option_logprobs": v}) + "\n" for k, v in rows.items()))
    return path


def test_score_computes_ece_from_option_logprobs_made_elsewhere(tmp_path: Path) -> None:
    data = build_seed2_json(tmp_path / "seed2")
    task = TaskCatalog().load("seedbench2")
    loaded = task.scenario.load(LoadContext("seedbench2", task.task_dir, str(data)))
    samples = [s for s in loaded if isinstance(s, Sample)]
    targets = {s.id: "ABCD".index(str(s.target)) for s in samples}
    rows = {}
    for number, (sample_id, gold) in enumerate(targets.items()):
        scores = [-2.0, -2.0, -2.0, -2.0]
        scores[gold if number % 2 == 0 else (gold + 1) % 4] = -1.0  # right on even rows, wrong on odd
        rows[sample_id] = scores
    scored = api.score(
        "seedbench2", _predictions(tmp_path / "p.jsonl", rows), data=data, transforms=["calibration"]
    )
    results = RunResults.load(scored.results)
    # every answer's confidence: e^-1 / (e^-1 + 3 e^-2) = 1 / (1 + 3/e)
    top = 1 / (1 + 3 / math.e)
    n = len(rows)
    expected = expected_calibration_error([top] * n, [i % 2 == 0 for i in range(n)])
    assert results.metrics["ece"].value == expected.ece
    assert results.metrics["ece"].n == n
    assert results.reliability is not None and results.reliability.ece == expected.ece
    assert sum(b.count for b in results.reliability.bins) == n
    assert results.primary_metric == "ece" and "acc" in results.metrics
    plain = api.score("seedbench2", tmp_path / "p.jsonl", data=data)
    assert "reliability" not in plain.results  # other results keep their keys


def test_calibration_run_with_a_tiny_hf_model(
    tmp_path: Path,
    tiny_model_factory: TinyModelFactory,  # noqa: F811
) -> None:
    pytest.importorskip("transformers")
    folder = tiny_model_factory("llava")
    data = build_seed2_json(tmp_path / "seed2")
    run = api.evaluate(
        "seedbench2", f"hf:{folder}", model_args="dtype=float32", data=data, store=tmp_path / "s.sqlite",
        output_dir=None, transforms=["calibration"],
    )  # fmt: skip
    results = RunResults.load(run.results)
    assert results.counts.errors == 0
    confidences, hits = [], []
    for record in run.records:
        assert record.option_scores is not None and record.correct is not None
        scores = np.array(record.option_scores.logprobs, dtype=np.float64)
        probs = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        confidences.append(float(probs.max()))
        hits.append(record.correct)
    expected = expected_calibration_error(confidences, hits)
    assert results.metrics["ece"].value == pytest.approx(expected.ece, abs=1e-12)
    assert results.reliability is not None and len(results.reliability.bins) == len(expected.bins)


@pytest.mark.parametrize("after", ["circular", "leading_question"])
def test_a_metric_wrapped_after_calibration_keeps_the_reliability_diagram(after: str) -> None:
    # calibration's ECE stays a metric (vanilla_ece) when another transform wraps its metric; so
    # must its reliability diagram (results.json's ``reliability``, the report's diagram).
    task = api.load_task("shapes_small", transforms=["likelihood", "calibration", after])
    records = []
    for number, (logprobs, right) in enumerate(
        [([-1.0, -2.0], True), ([-1.0, -1.5], False), ([-3.0, -1.0], True)]
    ):
        for leading in (False, True) if after == "leading_question" else (False,):
            tag = {"transforms": {"leading_question": {"of": str(number), "leading": leading}}}
            record = _record(f"{number}#leading" if leading else str(number), logprobs, right, details=tag)
            records.append(record.model_copy(update={"scores": {"acc": float(right)}, "group": str(number)}))
    aggregate = task.metric.aggregate(records)
    assert "vanilla_ece" in aggregate.metrics
    expected = calibration_of_records(records[:: 2 if after == "leading_question" else 1])
    assert aggregate.reliability is not None and aggregate.reliability.ece == expected.ece
