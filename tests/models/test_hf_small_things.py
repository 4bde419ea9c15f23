"""The hf backend where users trip: GGUF files, a folder without its processor, the extra not
installed, library versions in the fingerprint and provenance, token usage per run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from mmlens.cli import main
from mmlens.core.requests import GenerationSettings, Request, Response
from mmlens.models.base import build_model, parse_model_spec
from tests.fixtures.tiny_gguf import write_tiny_gguf
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401 - fixture

pytest.importorskip("transformers")

QUESTIONS = ["Is there a red circle?", "How many squares are there?", "What colour is the ball?"]


def answers(spec: str, args: str = "") -> list[str | None]:
    from mmlens.core.messages import Message

    model = build_model(parse_model_spec(spec, args or None))
    requests = [
        Request("generate", [Message.user(q)], settings=GenerationSettings(max_new_tokens=6))
        for q in QUESTIONS
    ]
    got: dict[int, Response] = {}
    model.process(requests, lambda index, response: got.__setitem__(index, response))
    model.close()
    assert all(got[i].ok for i in range(len(QUESTIONS))), got
    return [got[i].text for i in range(len(QUESTIONS))]


@pytest.fixture(scope="module")
def gguf_file(tiny_model_factory: TinyModelFactory, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    pytest.importorskip("gguf")
    folder = tmp_path_factory.mktemp("gguf")
    return write_tiny_gguf(tiny_model_factory("qwen2"), folder / "tiny-qwen2-f32.gguf")


def test_a_gguf_file_answers_as_the_model_it_was_written_from(
    gguf_file: Path,
    tiny_model_factory: TinyModelFactory,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    expected = answers(f"hf:{tiny_model_factory('qwen2')}")
    assert answers(f"hf:{gguf_file.parent}", f"gguf_file={gguf_file.name}") == expected
    assert answers(f"hf:{gguf_file}") == expected  # the file itself names the folder and the file

    by_file = build_model(parse_model_spec(f"hf:{gguf_file}")).fingerprint()
    by_arg = build_model(
        parse_model_spec(f"hf:{gguf_file.parent}", f"gguf_file={gguf_file.name}")
    ).fingerprint()
    assert by_file == by_arg and by_file["args"]["gguf_file"] == gguf_file.name
    shutil.copy(gguf_file, gguf_file.parent / "another-quantisation.gguf")  # another file beside it
    assert build_model(parse_model_spec(f"hf:{gguf_file}")).fingerprint() == by_file

    store, out = tmp_path / "store.sqlite", tmp_path / "runs"
    argv = ["--store", str(store), "run", "shapes_small", "--model", f"hf:{gguf_file}", "--limit", "3"]
    argv += ["--model-args", "drop_images=true", "--output-dir", str(out), "--json"]
    assert main(argv) == 0, capsys.readouterr().err
    results = json.loads(capsys.readouterr().out)
    assert results["counts"]["errors"] == 0 and results["counts"]["scored"] == 3
    assert results["provenance"]["model"]["fingerprint"]["args"]["gguf_file"] == gguf_file.name


def test_a_missing_gguf_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--store", str(tmp_path / "s.sqlite"), "run", "shapes_small", "--limit", "1"]
    assert main([*argv, "--model", f"hf:{tmp_path / 'nothing.gguf'}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such GGUF file" in err


def test_library_versions_are_in_the_fingerprint_and_the_provenance(
    tiny_model_factory: TinyModelFactory,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    installed = {"torch": version("torch"), "transformers": version("transformers")}
    folder = tiny_model_factory("qwen2")
    assert build_model(parse_model_spec(f"hf:{folder}")).fingerprint()["versions"] == installed
    argv = ["--store", str(tmp_path / "store.sqlite"), "run", "shapes_small", "--model", f"hf:{folder}"]
    argv += [
        "--model-args",
        "drop_images=true",
        "--limit",
        "4",
        "--output-dir",
        str(tmp_path / "runs"),
        "--json",
    ]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["provenance"]["libraries"] == installed
    assert first["provenance"]["model"]["fingerprint"]["versions"] == installed
    # token usage: summed over the run's requests, the same when every answer comes from the store
    usage = first["provenance"]["requests"]["by_role"]["model"]["usage"]
    assert usage["prompt_tokens"] > 0 and 0 < usage["completion_tokens"] <= 4 * 8
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)["provenance"]["requests"]
    assert again["cached"] == 4 and again["by_role"]["model"]["usage"] == usage


def test_a_folder_whose_processor_is_only_a_tokenizer_fails_in_one_line_with_its_reason(
    tiny_model_factory: TinyModelFactory,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "llava-without-processor"
    shutil.copytree(tiny_model_factory("llava"), folder)
    for name in ("preprocessor_config.json", "processor_config.json"):
        (folder / name).unlink(missing_ok=True)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("processor_class", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    store = tmp_path / "store.sqlite"
    argv = ["--store", str(store), "run", "shapes_small", "--model", f"hf:{folder}", "--limit", "2"]
    assert main([*argv, "--output-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "processor" in err and "save_pretrained" in err
    assert main(["--store", str(store), "show", "shapes_small"]) == 0
    shown = capsys.readouterr().out
    assert ": failed (hf model" in shown and "processor" in shown  # the failed run says why


BLOCK_HF = """
import sys

class BlockHF:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, BlockHF())
from mmlens.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_hf_without_the_extra_is_one_line_and_leaves_no_run(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    command = [sys.executable, "-c", BLOCK_HF, "--store", str(store), "run", "shapes_small"]
    command += [
        "--model",
        "hf:Qwen/Qwen2-VL-2B-Instruct",
        "--limit",
        "2",
        "--output-dir",
        str(tmp_path / "runs"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    needs = "the hf backend needs torch and transformers, which are not installed: pip install 'mmlens[hf]'"
    assert result.stderr == f"error: {needs}\n"
    shown = subprocess.run(
        [sys.executable, "-c", BLOCK_HF, "--store", str(store), "show"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "failed" not in shown.stdout
