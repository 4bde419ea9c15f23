"""The in-process vllm backend against a real vLLM (the CPU build in .venv-vllm).

vLLM lives in its own virtualenv (scripts/setup_vllm.sh), with mmlens installed into it: the
backend runs there, in a subprocess of this test, on a tiny float32 Qwen2 built here; its answers
are compared with the hf backend's on the same folder. A missing .venv-vllm fails the test.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mmlens.core.requests import Response
from mmlens.models.base import ModelSpec, build_model
from tests.fixtures.tiny_vllm_models import (
    VLLM_ENV,
    answer_all,
    assert_same_answers,
    build_vllm_qwen2,
    comparison_requests,
    require_vllm_venv,
)

pytest.importorskip("transformers")

ENGINE_ARGS = {"dtype": "float32", "max_model_len": 512, "enforce_eager": True, "max_images": 0, "seed": 0}

# Runs inside .venv-vllm: the vllm backend answers the comparison requests, written as JSON.
IN_VLLM_VENV = """
import json, sys
from mmlens.models.base import ModelSpec, build_model
from tests.fixtures.tiny_vllm_models import answer_all, comparison_requests

if __name__ == "__main__":
    folder, args, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    model = build_model(ModelSpec(backend="vllm", name=folder, args=args))
    answers = answer_all(model, comparison_requests())
    fingerprint = model.fingerprint()
    model.close()
    json.dump({"answers": [a.to_dict() for a in answers], "fingerprint": fingerprint}, open(out, "w"))
"""


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_vllm_qwen2(tmp_path_factory.mktemp("vllm-model") / "qwen2")


@pytest.fixture(scope="module")
def vllm_answers(tiny_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    python = require_vllm_venv()
    out = tmp_path_factory.mktemp("vllm-out") / "answers.json"
    script = out.with_name("run_vllm.py")
    script.write_text(IN_VLLM_VENV)
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [str(python), str(script), str(tiny_folder), json.dumps(ENGINE_ARGS), str(out)],
        cwd=repo,
        env={**os.environ, **VLLM_ENV, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(out.read_text())
    data["answers"] = [Response.from_dict(a) for a in data["answers"]]
    return data


def test_in_process_vllm_answers_like_hf_in_float32(tiny_folder: Path, vllm_answers: dict[str, Any]) -> None:
    hf = build_model(ModelSpec(backend="hf", name=str(tiny_folder), args={"dtype": "float32"}))
    expected = answer_all(hf, comparison_requests())
    got = vllm_answers["answers"]
    assert_same_answers(got, expected, "vllm vs hf")
    # the random model's greedy answers are not empty and depend on the question
    texts = [a.text for a in got if a.logprob is None]
    assert all(texts) and len(set(texts)) > 1
    assert all(a.logprob < 0 for a in got if a.logprob is not None)


def test_fingerprint_holds_the_engine_settings(vllm_answers: dict[str, Any]) -> None:
    fingerprint = vllm_answers["fingerprint"]
    assert fingerprint["args"]["dtype"] == "float32"
    assert fingerprint["args"]["max_model_len"] == 512
    assert fingerprint["args"]["seed"] == 0
    assert fingerprint["versions"]["vllm"].startswith("0.32.0")
    assert "tensor_parallel_size" not in fingerprint["args"]


def test_vllm_backend_outside_its_venv_says_where_to_run() -> None:
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("this python has vllm")
    from mmlens.core.errors import ConfigError

    with pytest.raises(ConfigError, match="setup_vllm.sh"):
        build_model(ModelSpec(backend="vllm", name="some/model"))


# Runs inside .venv-vllm: vllm and hf answer the image requests there, with the same transformers
# (the image processors of transformers 5.19 and 5.24 resize differently, by about 0.02 in logprob).
IMAGES_IN_VLLM_VENV = """
import json, sys
from mmlens.models.base import ModelSpec, build_model
from tests.fixtures.tiny_vllm_models import answer_all, image_requests

if __name__ == "__main__":
    folder, out = sys.argv[1], sys.argv[2]
    engine = {"dtype": "float32", "max_model_len": 512, "enforce_eager": True, "max_images": 1}
    answers = {}
    for backend, args in (("vllm", engine), ("hf", {"dtype": "float32"})):
        model = build_model(ModelSpec(backend=backend, name=folder, args=args))
        answers[backend] = [a.to_dict() for a in answer_all(model, image_requests())]
        model.close()
    json.dump(answers, open(out, "w"))
"""


def test_in_process_vllm_image_chat_and_likelihood_like_hf(tmp_path: Path) -> None:
    from tests.fixtures.tiny_vllm_models import build_vllm_llava

    python = require_vllm_venv()
    folder = build_vllm_llava(tmp_path / "llava")
    script, out = tmp_path / "images.py", tmp_path / "answers.json"
    script.write_text(IMAGES_IN_VLLM_VENV)
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [str(python), str(script), str(folder), str(out)],
        cwd=repo,
        env={**os.environ, **VLLM_ENV, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(out.read_text())
    got = [Response.from_dict(a) for a in data["vllm"]]
    assert_same_answers(got, [Response.from_dict(a) for a in data["hf"]], "vllm vs hf, images")
    # the image reaches the model: three images, three different answers and log-likelihoods
    assert len({a.text for a in got[:3]}) == 3
    assert len({round(a.logprob, 4) for a in got[3:]}) == 3
