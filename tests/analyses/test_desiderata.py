"""ChEF's desiderata scores worked out by hand from the official formulas (Coach257/ChEF@54df7bb
tools/eval_icl.py, eval_robust.py, eval_insfollow.py; metric/desiderata.py POPE_Metric)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mmlens import api
from mmlens.analyses.desiderata import (
    DesiderataError,
    accuracy,
    chef_random_accuracy,
    instruction_following,
    match_ratio,
    random_guess_accuracy,
    riam,
    robustness,
    rr,
    rrm,
)
from mmlens.core.errors import DataError
from mmlens.core.messages import Message, TextPart
from mmlens.core.results import SampleRecord
from mmlens.core.sample import Sample
from mmlens.transforms.verbalizer import CHEF_RUN_SET
from tests.fixtures.benchmark_helpers import first_questions


def record(sample_id: str, chosen: int | None, correct: bool, **extra: Any) -> SampleRecord:
    scores = None
    if chosen is not None:
        scores = {"logprobs": [0.0 if i == chosen else -1.0 for i in range(4)], "normalization": "sum",
                  "chosen": chosen}  # fmt: skip
    return SampleRecord.model_validate(
        {"id": sample_id, "extraction": "exact" if scores else "error", "correct": correct,
         "option_scores": scores, **extra}
    )  # fmt: skip


def test_riam() -> None:
    # (mean(60, 70, 80) - 50) / (50 - 25) * 50 + 50 = (70 - 50) / 25 * 50 + 50 = 90
    assert riam([50.0, 60.0, 70.0, 80.0], 25.0) == pytest.approx(90.0)
    # examples hurt: (mean(40, 45, 35) - 50) / (50 - 35.8) * 50 + 50 = -10 / 14.2 * 50 + 50
    assert riam([50.0, 40.0, 45.0, 35.0], 35.8) == pytest.approx(-10 / 14.2 * 50 + 50)
    with pytest.raises(DesiderataError, match="equals the random-guess accuracy"):
        riam([27.57, 30.0, 31.0, 32.0], 27.57)  # ChEF: ZeroDivisionError
    with pytest.raises(DesiderataError, match="at least one more"):
        riam([50.0], 25.0)  # ChEF: assert len(results) > 1


def test_rrm_rr_and_the_robustness_table() -> None:
    # RRM = (40 - 35.8) / (60 - 35.8) * 100 = 4.2 / 24.2 * 100; RR = 40 / 60 * 100
    assert rrm(40.0, 60.0, 35.8) == pytest.approx(4.2 / 24.2 * 100)
    assert rr(40.0, 60.0) == pytest.approx(200 / 3)
    rows = robustness(60.0, {"ic": 40.0, "tc": 60.0, "ictc": 35.8}, 35.8)
    assert [(r.setting, r.rrm, r.rr) for r in rows][0] == ("origin", 100.0, 100.0)  # as eval_robust.py writes
    assert (
        rows[2].rrm == pytest.approx(100.0) and rows[3].rrm == 0.0 and rows[3].rr == pytest.approx(35.8 / 0.6)
    )
    with pytest.raises(DesiderataError):
        rrm(30.0, 35.8, 35.8)
    with pytest.raises(DesiderataError):
        rr(30.0, 0.0)


def test_random_guess_accuracy_and_chefs_constants() -> None:
    def question(choices: list[str] | None, target: str) -> Sample:
        return Sample(
            id=target, messages=[Message("user", (TextPart("Q?"),))], target=target, choices=choices
        )

    # (1/2 + 1/4 + 1/2 (yes/no)) / 3 * 100 = 41.666...
    samples = [question(["a", "b"], "A"), question(["a", "b", "c", "d"], "B"), question(None, "yes")]
    assert random_guess_accuracy(samples) == pytest.approx(125 / 3)
    with pytest.raises(DesiderataError, match="neither"):
        random_guess_accuracy([question(None, "a cat")])
    assert chef_random_accuracy("ScienceQA") == 35.8
    assert chef_random_accuracy("MMBench") == 27.57  # Coach257/ChEF and LAMM ea57136 scenario/utils.py
    assert chef_random_accuracy("MMBench", "lamm_e3117c0") == 27.67  # LAMM e3117c0 tools/desiderata/utils.py
    assert chef_random_accuracy("MMBench", setting="circular") == 2.55
    with pytest.raises(DesiderataError):
        chef_random_accuracy("POPE")


def test_accuracy_counts_each_question_once_and_failed_samples_wrong() -> None:
    records = [
        record("1", 0, True),
        record("1#circular1", 1, False, details={"circular": {"of": "1", "pass": 1, "passes": 2}}),
        record("2", None, False, error="backend failed"),  # no answer: wrong, as ChEF's unmatched answer
        record("3", 2, True),
        record("1000003", 1, False, group="3"),  # MMBench's published rotation of question 3
    ]
    assert accuracy(records) == pytest.approx(2 / 4 * 100)  # 1, 2, 3, 1000003 (own id without groups)
    assert accuracy(records, rotation_groups=True) == pytest.approx(2 / 3 * 100)  # 1, 2, 3


def test_match_ratio_and_instruction_following() -> None:
    origin = [record("a", 0, True), record("b", 1, False), record("c", 2, True), record("d", 3, False)]
    # natural_0: positions 0, 1, 0, 0 -> matches a, b: MR = 2/4 = 50; right when the position is the
    # gold one: say a right, b wrong, c wrong, d wrong: Acc = 25
    natural = [record("a", 0, True), record("b", 1, False), record("c", 0, False), record("d", 0, False)]
    assert match_ratio(origin, natural) == 50.0
    same = [
        record(r.id, r.option_scores.chosen if r.option_scores else None, bool(r.correct)) for r in origin
    ]
    runs = {name: same for name in CHEF_RUN_SET}
    runs["natural_0"] = natural
    result = instruction_following(origin, runs)
    assert result.mr["natural_0"] == 50.0 and result.acc["natural_0"] == 25.0
    assert result.mr["neutral_1"] == 100.0 and result.acc["neutral_1"] == 50.0
    # means over the six maps: MR (50 + 5 * 100) / 6, Acc (25 + 5 * 50) / 6
    assert result.mean_mr == pytest.approx(550 / 6) and result.mean_acc == pytest.approx(275 / 6)
    with pytest.raises(DesiderataError, match="missing"):
        instruction_following(origin, {"natural_0": natural})
    with pytest.raises(DesiderataError, match="pairs sample 'b'"):
        match_ratio(
            origin, [natural[0], natural[2], natural[1], natural[3]]
        )  # ChEF: assert o['id'] == t['id']
    with pytest.raises(DesiderataError, match="4 records, the mapped run 3"):
        match_ratio(origin, natural[:3])
    with pytest.raises(DesiderataError, match="no ranked option"):
        match_ratio(origin, [*natural[:3], record("d", None, False, error="timeout")])


def test_pope_likelihood_scores_and_stops_without_a_yes(tmp_path: Path) -> None:
    data = first_questions(tmp_path / "pope", 4)
    task = api.load_task("pope_likelihood")
    from mmlens.core.parts import LoadContext

    samples = [s for s in task.scenario.load(LoadContext("pope_likelihood", task.task_dir, str(data)))
               if isinstance(s, Sample)]  # fmt: skip

    def predictions(answer: Any) -> Path:
        path = tmp_path / "p.jsonl"
        # option_logprobs over ["Yes", "No"]: the higher one is the answer
        lines = [
            {"id": s.id, "option_logprobs": [-1.0, -2.0] if answer(s) == "yes" else [-2.0, -1.0]}
            for s in samples
        ]
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        return path

    perfect = api.score("pope_likelihood", predictions(lambda s: s.target), data=data)
    metrics = perfect.results["metrics"]
    assert metrics["acc"]["value"] == 1.0 and metrics["f1"]["value"] == 1.0
    assert metrics["yes_ratio"]["value"] == pytest.approx(
        sum(s.target == "yes" for s in samples) / len(samples)
    )
    assert perfect.records[0].answer in ("yes", "no")
    with pytest.raises(DataError, match='no "yes" prediction'):
        api.score("pope_likelihood", predictions(lambda s: "no"), data=data)  # ChEF: ZeroDivisionError
