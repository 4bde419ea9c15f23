"""MMNeedle, MIBench and MMIE through real backends: a tiny hf Llava built offline, the openai
backend against a real ``transformers serve`` on 127.0.0.1, and the ``mmlens score`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlens import api
from mmlens.cli import main
from mmlens.core.generation import GenerationOverrides
from tests.fixtures.mibench_data import build_mibench
from tests.fixtures.mmie_data import build_mmie
from tests.fixtures.mmneedle_data import build_haystacks
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401
from tests.models.test_openai_serve import served_llava  # noqa: F401

pytestmark = pytest.mark.timeout(240)


def test_three_tasks_with_a_tiny_hf_llava(tmp_path: Path, tiny_model_factory: TinyModelFactory) -> None:  # noqa: F811
    folder = tiny_model_factory("llava")
    model = f"hf:{folder}"
    short = GenerationOverrides(max_new_tokens=16)  # the tiny model's context is 512 tokens
    options = {
        "model_args": "dtype=float32",
        "store": tmp_path / "s.sqlite",
        "output_dir": None,
        "generation": short,
    }
    needle = api.evaluate("mmneedle", model, data=str(build_haystacks(tmp_path / "n")), **options)
    bench = api.evaluate("mibench", model, data=str(build_mibench(tmp_path / "b")), **options)
    mmie = api.evaluate(
        "mmie",
        model,
        data=str(build_mmie(tmp_path / "m")),
        roles={"judge": "constant"},  # the rubric alone exceeds the tiny model's context
        role_args={"judge": "text=### Feedback\nfine\n### Score\n3.5"},
        **options,
    )
    for run in (needle, bench, mmie):
        assert run.results["counts"]["errors"] == 0
        assert all(record.response is not None for record in run.records)
    # a random tiny model answers no coordinates: every positive is wrong, exist accuracy is defined
    assert needle.results["metrics"]["exact_accuracy"]["value"] == 0.0
    assert 0.0 <= bench.results["metrics"]["hit"]["value"] <= 1.0
    # round(3.5) == 4 for the three samples with at most 4 images; the 5-image one is dropped
    assert mmie.results["metrics"]["score"]["value"] == 4.0
    assert mmie.results["metrics"]["score"]["n"] == 3


def test_mibench_through_openai_against_a_served_llava(
    tmp_path: Path,
    served_llava: tuple[str, str],  # noqa: F811
) -> None:
    base_url, name = served_llava
    data = build_mibench(tmp_path / "b")
    result = api.evaluate(
        "mibench",
        f"openai:{name}",
        model_args=f"base_url={base_url}",
        data=str(data),
        output_dir=None,
        store=tmp_path / "s.sqlite",
    )
    assert result.results["counts"]["errors"] == 0
    assert len(result.records) == 4 and all(r.response is not None for r in result.records)


def test_mmlens_score_command_on_benchmark_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    annotations = build_haystacks(tmp_path / "n")
    records = json.loads(annotations.read_text())
    rows = [{"id": str(r["id"]), "response": "-1"} for r in records]
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("".join(json.dumps(row) + "\n" for row in rows))
    code = main(
        ["score", "mmneedle", "--data", str(annotations), "--predictions", str(predictions), "--json"]
    )
    assert code == 0
    results = json.loads(capsys.readouterr().out)
    assert results["metrics"]["exist_accuracy"]["value"] == pytest.approx(0.5)
    assert results["metrics"]["negative_exact_accuracy"]["value"] == 1.0
