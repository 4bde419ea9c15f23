"""``mmlens score`` writes the ``judging`` section ``mmlens run`` writes, and the terminal summary
of a judged run has one judging line (judge, official or not, calls, failures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlens import api
from mmlens.cli import main
from mmlens.summary import format_summary
from tests.fixtures.judged_bench_data import build_mmvet
from tests.fixtures.mmdu_data import build_mmdu

VERDICT = (
    "{'Creativity': 1, 'Richness': 1, 'Visual Perception': 1, 'Logical Coherence': 1, "
    "'Answer Accuracy': 1, 'Image Relationship Understanding': 1, 'Overall Score': 3}"
)


def predictions(path: Path) -> Path:
    rows = [
        {"id": "d0", "responses": ["a", "b", "c"], "roles": {"judge": [VERDICT, VERDICT, "no verdict"]}},
        {"id": "d1", "responses": ["a"], "roles": {"judge": [VERDICT]}},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_replayed_judge_replies_are_counted_and_never_official(tmp_path: Path) -> None:
    data = build_mmdu(tmp_path / "m")
    result = api.score("mmdu", predictions(tmp_path / "p.jsonl"), data=data, store=tmp_path / "s.sqlite")
    judging = result.results["judging"]
    judge = judging["judges"]["judge"]
    assert judge["source"] == "replayed" and judge["calls"] == {"replayed": 4}
    assert judging["official"] is False  # who wrote the file's replies is unknown
    assert judging["failures"] == {"call_errors": 0, "unparsed": 1, "official_fallback": 0}
    assert judge["fingerprint"]["prompt_templates"] == ["judge_prompt.txt", "system"]
    line = next(x for x in format_summary(result.results).splitlines() if x.startswith("judging:"))
    assert line == (
        "judging: judge replayed (NOT the official judge; 4 replies from the file)"
        " · 0 call errors, 1 unparsed"
    )


def test_live_judge_in_score_and_saved_results_json(tmp_path: Path) -> None:
    data = build_mmvet(tmp_path)
    rows = [{"id": f"v1_{i}", "response": "x"} for i in range(4)]
    file = tmp_path / "p.jsonl"
    file.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = api.score(
        "mmvet",
        file,
        data=data,
        roles={"judge": "constant"},
        role_args={"judge": "text=0.5"},
        store=tmp_path / "s.sqlite",
        save=True,
        output_dir=tmp_path / "runs",
    )
    assert result.run_dir is not None
    saved = json.loads((result.run_dir / "results.json").read_text())
    judge = saved["judging"]["judges"]["judge"]
    assert judge["label"] == "constant" and judge["official"] is False
    assert judge["official_label"] == "openai:gpt-4-0613"
    assert judge["calls"]["computed"] == 4 and judge["calls"]["unique"] == 4  # one grading prompt each
    assert saved["judging"] == result.results["judging"]


def test_cli_score_prints_the_judging_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = build_mmdu(tmp_path / "m")
    code = main(
        ["score", "mmdu", "--data", str(data), "--predictions", str(predictions(tmp_path / "p.jsonl"))]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "judging: judge replayed (NOT the official judge; 4 replies from the file)" in out


def test_run_summary_has_the_judging_line(tmp_path: Path) -> None:
    data = build_mmvet(tmp_path)
    result = api.evaluate(
        "mmvet",
        "constant",
        model_args="text=0.5",
        data=data,
        roles={"judge": "constant"},
        role_args={"judge": "text=nonsense"},
        store=tmp_path / "s.sqlite",
        output_dir=None,
    )
    line = next(x for x in format_summary(result.results).splitlines() if x.startswith("judging:"))
    # 4 samples x 6 tries (the grading prompt, then 5 retries at rising temperatures)
    assert line.startswith(
        "judging: judge constant (NOT the official judge; 24 calls (24 computed, 0 cached))"
    )
    assert line.endswith("0 call errors, 0 unparsed")  # MM-Vet's failed tries are failed extractions
