"""Governed judges end to end (constant judges answer fixed replies; exact values worked by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlens import api
from mmlens.metrics.judge_agreement import cohen_kappa, krippendorff_alpha
from mmlens.metrics.judge_governance import prompt_version
from mmlens.metrics.judge_panel import PANEL_KEY
from tests.fixtures.judged_task import ROWS, write_judged_task


def run(tmp_path: Path, roles: dict[str, str], **options: object) -> api.RunResult:
    folder = write_judged_task(
        tmp_path / "task", roles={"judge": {"model": "constant", "args": {"text": "Verdict: correct"}}}
    )
    return api.evaluate(
        "judged_toy",
        "constant",
        model_args="text=3",
        include=[folder],
        store=tmp_path / "store.sqlite",
        output_dir=tmp_path / "runs",
        roles={name: spec.split("|", 1)[0] for name, spec in roles.items()},
        role_args={name: spec.split("|", 1)[1] for name, spec in roles.items() if "|" in spec} or None,
        **options,  # type: ignore[arg-type]
    )


def test_official_judge_fingerprint_and_rerun_makes_no_judge_call(tmp_path: Path) -> None:
    first = run(tmp_path, {})
    judging = first.results["judging"]
    judge = judging["judges"]["judge"]
    assert judging["official"] is True and judge["official"] is True and judge["source"] == "task default"
    fingerprint = judge["fingerprint"]
    from mmlens.metrics.judge import default_prompt

    assert fingerprint["prompt_version"] == prompt_version(default_prompt())
    assert fingerprint["decoding"] == [
        {"max_new_tokens": 6, "temperature": 0.0, "top_p": 1.0, "stop": [], "seed": None}
    ]
    assert fingerprint["model"]["backend"] == "constant"
    assert judge["calls"]["computed"] == len(ROWS)
    assert judging["failures"] == {"call_errors": 0, "unparsed": 0, "official_fallback": 0}
    # the rule decides q1 (response "3" == reference "3"): the judge agrees there
    assert judging["judge_vs_rule"] == {"n": 1, "agreement": 1.0, "differing_ids": []}
    second = run(tmp_path, {})
    assert second.run_id == first.run_id
    calls = second.results["judging"]["judges"]["judge"]["calls"]
    assert calls["computed"] == 0 and calls["cached"] == len(ROWS)


def test_another_judge_is_labelled_and_unparsed_replies_are_counted(tmp_path: Path) -> None:
    result = run(tmp_path, {"judge": "constant|text=no verdict here"})
    judging = result.results["judging"]
    assert judging["official"] is False and judging["judges"]["judge"]["source"] == "given"
    assert judging["failures"]["unparsed"] == len(ROWS)
    assert result.results["counts"]["extraction"] == {"failed": len(ROWS)}
    assert result.results["metrics"]["acc"]["value"] == 0.0


def test_two_judges_disagree_on_every_sample(tmp_path: Path) -> None:
    result = run(
        tmp_path, {"judge": "constant|text=Verdict: correct", "judge-2": "constant|text=Verdict: incorrect"}
    )
    agreement = result.results["judging"]["agreement"]
    assert agreement["samples"] == len(ROWS)
    assert agreement["disagreement"]["count"] == len(ROWS)
    assert agreement["members"]["judge"]["mean_score"] == 1.0
    assert agreement["members"]["judge-2"]["mean_score"] == 0.0
    # every pair disagrees: observed disagreement 1, expected 8/7 * 1/2 ... -> alpha = 1 - 1/(4*4*2/(8*7)) < 0
    assert agreement["krippendorff_alpha"] < 0
    assert agreement["cohen_kappa"] is None or agreement["cohen_kappa"] <= 0
    assert result.results["metrics"]["acc"]["value"] == 1.0  # the primary judge scores
    record = result.records[0]
    assert [vote["member"] for vote in record.details[PANEL_KEY]] == ["judge", "judge-2"]
    assert {e.role for e in record.exchanges} >= {"judge", "judge-2"}


def test_judge_repeats_and_prices(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("constant: {input: 1.0, output: 2.0}\n", encoding="utf-8")
    result = run(tmp_path, {}, judge_repeats=3, prices=prices)
    judging = result.results["judging"]
    agreement = judging["agreement"]
    assert agreement["repeats"] == 3 and agreement["repeat_temperature"] == 1.0
    assert list(agreement["members"]) == ["judge", "judge#2", "judge#3"]
    assert agreement["disagreement"]["count"] == 0  # a constant judge always agrees with itself
    assert judging["judges"]["judge"]["calls"]["unique"] == 3 * len(ROWS)  # repeats are other requests
    assert set(judging["cost"]) == {"model", "judge"}
    assert judging["cost"]["judge"]["price"] == "constant"


def test_agreement_statistics_by_hand() -> None:
    # Cohen: p_o = 3/4, p_e = 1/2*1/4 + 1/2*3/4 = 1/2 -> kappa = (3/4 - 1/2) / (1 - 1/2) = 0.5
    assert abs(cohen_kappa(["a", "a", "b", "b"], ["a", "b", "b", "b"]) - 0.5) < 1e-12
    # Krippendorff nominal, 2 coders, 4 units: values a a b b / a b b b; coincidences o_aa=2, o_ab=o_ba=1,
    # o_bb=4; n_a=3, n_b=5, n=8; D_o = 2/8, D_e = 2*3*5/(8*7) -> alpha = 1 - (2/8)/(30/56) = 1 - 56/120
    alpha = krippendorff_alpha([["a", "a", "b", "b"], ["a", "b", "b", "b"]])
    assert alpha is not None and abs(alpha - (1 - 56 / 120)) < 1e-12
    assert krippendorff_alpha([["a", "a"], ["a", "a"]]) is None  # one category: undefined


def test_the_report_shows_a_non_official_judge_as_such(tmp_path: Path) -> None:
    from mmlens.core.results import RunResults
    from mmlens.report.payload import judging_rows
    from mmlens.report.table import run_variant

    result = run(tmp_path, {"judge": "constant|text=Verdict: incorrect"})
    typed = RunResults.load(result.results)
    rows = dict(judging_rows(typed))
    assert rows["official judge"].startswith("NO")
    assert rows["judge"] == "constant (not official)"
    assert "judge=constant" in run_variant(typed.provenance)  # a leaderboard row of its own
    official = RunResults.load(run(tmp_path / "official", {}).results)
    assert dict(judging_rows(official))["official judge"] == "yes"
    assert run_variant(official.provenance) == []


def test_a_failed_judge_call_leaves_the_run_incomplete_until_a_rerun_fills_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fixtures.fault_server import FaultServer

    monkeypatch.setenv("OPENAI_API_KEY", "test")
    folder = write_judged_task(tmp_path / "task", images=False)
    with FaultServer() as server:
        options: dict[str, object] = {
            "model_args": "text=#fault=500",  # the judge prompt holds it: its first call gets a 500
            "include": [folder],
            "store": tmp_path / "store.sqlite",
            "output_dir": None,
            "roles": {"judge": "openai:judge"},
            "role_args": {"judge": f"base_url={server.base_url},max_retries=0"},
        }
        first = api.evaluate("judged_toy", "constant", **options)  # type: ignore[arg-type]
        assert first.results["complete"] is False
        assert first.results["judging"]["failures"]["call_errors"] == len(ROWS)
        assert first.results["counts"]["extraction"] == {"error": len(ROWS)}  # no made-up verdict
        second = api.evaluate("judged_toy", "constant", **options)  # type: ignore[arg-type]
    assert second.results["complete"] is True
    assert second.results["judging"]["failures"]["call_errors"] == 0
    assert "error" not in second.results["counts"]["extraction"]  # the echoed replies were read
    assert second.results["judging"]["judges"]["judge"]["calls"]["computed"] == len(ROWS)
