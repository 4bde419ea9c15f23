"""Generation overrides (issue 16, item 2), end to end through the CLI: --max-new-tokens, --temperature,
--top-p, --system-prompt and --gen-args change the task's inferencer and instruction, every request's
key (a changed setting computes again, the same one is answered from the store), the run id, the
provenance and the summary's label; a setting the task's inferencer lacks is one error; chat-template
arguments reach a real (tiny) Hugging Face model's template."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from mmlens.cli import main
from mmlens.core.generation import GenerationOverrides
from mmlens.core.messages import Message
from mmlens.core.requests import GenerationSettings, Request
from mmlens.core.task import TaskCatalog
from mmlens.models.openai_payload import generation_body
from tests.fixtures.tiny_models import QWEN_CHAT_TEMPLATE, TinyModelFactory, tiny_model_factory  # noqa: F401


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_line(out: str) -> str:
    return next(line.split()[1].rstrip(":") for line in out.splitlines() if line.startswith("run "))


def requests_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("requests:"))


def results(output_dir: Path, run_id: str) -> dict:
    return json.loads((output_dir / run_id / "results.json").read_text())


def samples(output_dir: Path, run_id: str) -> list[dict]:
    return [json.loads(line) for line in (output_dir / run_id / "samples.jsonl").read_text().splitlines()]


@pytest.fixture
def common(tmp_path: Path) -> list[str]:
    return ["--store", str(tmp_path / "s.sqlite"), "--output-dir", str(tmp_path / "runs"), "--no-progress"]


def test_another_max_new_tokens_computes_again_and_the_same_one_is_cached(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, common: list[str]
) -> None:
    base = ["run", "shapes_small", "--limit", "4", *common]
    code, plain, _ = run_main(capsys, *base)
    assert code == 0 and "4 computed" in requests_line(plain)
    code, first, _ = run_main(capsys, *base, "--max-new-tokens", "5")
    assert code == 0 and requests_line(first).startswith("requests: 4 unique, 0 from the cache, 4 computed")
    assert run_line(first) != run_line(plain)  # another run, not the plain one overwritten
    code, again, _ = run_main(capsys, *base, "--max-new-tokens", "5")
    assert code == 0 and requests_line(again).startswith("requests: 4 unique, 4 from the cache, 0 computed")
    assert run_line(again) == run_line(first)
    code, other, _ = run_main(capsys, *base, "--max-new-tokens", "6")
    assert code == 0 and "4 computed" in requests_line(other) and run_line(other) != run_line(first)
    recorded = results(tmp_path / "runs", run_line(first))
    provenance = recorded["provenance"]
    assert provenance["generation_overrides"] == {"max_new_tokens": 5}
    assert provenance["generation"]["max_new_tokens"] == 5
    assert provenance["task"]["inferencer"]["max_new_tokens"] == 8  # the task file's own, as it is
    assert first.splitlines()[0] == "task shapes_small · model reference · max_new_tokens=5"  # the label
    assert "generation_overrides" not in results(tmp_path / "runs", run_line(plain))["provenance"]
    code, back, _ = run_main(capsys, *base)  # the plain run is still the plain run, all cached
    assert run_line(back) == run_line(plain) and "0 computed" in requests_line(back)


def test_temperature_top_p_and_system_prompt_reach_the_requests_and_provenance(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, common: list[str]
) -> None:
    code, out, err = run_main(
        capsys, "run", "shapes_small", "--model", "constant", "--limit", "3", "--seed", "7",
        "--temperature", "0.7", "--top-p", "0.9", "--system-prompt", "Answer with one word.", *common,
    )  # fmt: skip
    assert (code, err) == (0, "")
    run_id = run_line(out)
    provenance = results(tmp_path / "runs", run_id)["provenance"]
    assert provenance["generation_overrides"] == {
        "temperature": 0.7,
        "top_p": 0.9,
        "system_prompt": "Answer with one word.",
    }
    generation = provenance["generation"]
    assert (generation["temperature"], generation["top_p"], generation["seed"]) == (0.7, 0.9, 7)
    for record in samples(tmp_path / "runs", run_id):
        assert record["prompt"][0] == {
            "role": "system",
            "content": [{"type": "text", "text": "Answer with one word."}],
        }
    header = out.splitlines()[0]
    assert header == (
        "task shapes_small · model constant · "
        'temperature=0.7, top_p=0.9, system_prompt="Answer with one word."'
    )
    code, plan_out, _ = run_main(capsys, "plan", "shapes_small", "--limit", "1")
    assert "Answer with one word." not in plan_out  # the task itself is unchanged


def test_gen_args_set_inferencer_fields_and_chat_template_kwargs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, common: list[str]
) -> None:
    base = ["run", "shapes_small", "--model", "constant", "--limit", "2", *common]
    code, plain, _ = run_main(capsys, *base)
    code, out, err = run_main(
        capsys, *base, "--gen-args", 'enable_thinking=false,stop=["\\n"]', "--gen-args", "seed=4"
    )
    assert (code, err) == (0, "") and "2 computed" in requests_line(out)
    provenance = results(tmp_path / "runs", run_line(out))["provenance"]
    assert provenance["generation_overrides"] == {"enable_thinking": False, "stop": ["\n"], "seed": 4}
    generation = provenance["generation"]
    assert generation["chat_template_kwargs"] == {"enable_thinking": False}
    assert (generation["stop"], generation["seed"]) == (["\n"], 4)
    code, again, _ = run_main(
        capsys, *base, "--gen-args", 'enable_thinking=false,stop=["\\n"]', "--gen-args", "seed=4"
    )
    assert "0 computed" in requests_line(again) and run_line(again) == run_line(out)
    code, thinking, _ = run_main(capsys, *base, "--gen-args", "enable_thinking=true")
    assert "2 computed" in requests_line(thinking)


def test_a_setting_the_task_does_not_have_is_one_error(capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        (
            "seedbench",
            "--temperature",
            "0.5",
        ): "--temperature: task seedbench's inferencer rank_choices has no "
        "temperature (its settings: include_end_of_turn, normalize); "
        "generation options apply to tasks that generate",
        (
            "seedbench",
            "--max-new-tokens",
            "3",
        ): "--max-new-tokens: task seedbench's inferencer rank_choices has no",
        ("seedbench", "--gen-args", "enable_thinking=false"): "--gen-args enable_thinking: task seedbench's "
        "inferencer rank_choices has no enable_thinking and takes no chat-template arguments",
        ("shapes_small", "--gen-args", "max_new_token=3"): "--gen-args max_new_token: not a field of task "
        "shapes_small's inferencer generate (did you mean 'max_new_tokens'?)",
        ("shapes_small", "--gen-args", "novalue"): "--gen-args: expected key=value, got 'novalue'",
        ("shapes_small", "--top-p", "2"): "--top-p: Input should be less than or equal to 1",
        (
            "shapes_small",
            "--max-new-tokens",
            "0",
        ): "--max-new-tokens: Input should be greater than or equal to 1",
        (
            "shapes_small",
            "--gen-args",
            "max_new_tokens=lots",
        ): "task shapes_small: generation override max_new_tokens",
        (
            "mme",
            "shapes_small",
            "--temperature",
            "-1",
        ): "--temperature: Input should be greater than or equal to 0",
    }
    for args, message in cases.items():
        code, out, err = run_main(capsys, "run", *args, "--model", "constant")
        assert code == 2 and out == "" and message in err and len(err.splitlines()) == 1, (args, err)


def test_the_config_file_s_generation_is_merged_under_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "eval.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": "constant",
                "tasks": ["shapes_small"],
                "limit": 2,
                "generation": {
                    "max_new_tokens": 16,
                    "system_prompt": "Be brief.",
                    "args": {"enable_thinking": False},
                },
                "output_dir": "runs",
                "store": "s.sqlite",
            }
        )
    )
    code, out, err = run_main(
        capsys, "run", "--config", str(config), "--max-new-tokens", "9", "--no-progress"
    )
    assert (code, err) == (0, "")
    provenance = results(tmp_path / "runs", run_line(out))["provenance"]
    assert provenance["generation_overrides"] == {
        "max_new_tokens": 9,
        "system_prompt": "Be brief.",
        "enable_thinking": False,
    }


def test_request_keys_without_overrides_keep_their_form() -> None:
    plain = GenerationSettings()
    assert "chat_template_kwargs" not in plain.canonical()
    kwargs = GenerationSettings(chat_template_kwargs=(("enable_thinking", False),))
    assert kwargs.canonical()["chat_template_kwargs"] == {"enable_thinking": False}
    messages = (Message.user("Hi"),)
    assert Request("generate", messages, plain).key("m") != Request("generate", messages, kwargs).key("m")
    body = generation_body("m", [], kwargs, "max_tokens", {})
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert "chat_template_kwargs" not in generation_body("m", [], plain, "max_tokens", {})
    # the version hash follows the overrides; the same overrides give the same task
    catalog = TaskCatalog()
    hashes = {
        catalog.load("shapes_small").version_hash,
        catalog.load("shapes_small", generation=GenerationOverrides(max_new_tokens=5)).version_hash,
        catalog.load("shapes_small", generation=GenerationOverrides(system_prompt="x")).version_hash,
    }
    assert len(hashes) == 3
    again = catalog.load("shapes_small", generation=GenerationOverrides(max_new_tokens=5)).version_hash
    assert again in hashes


THINKING_SWITCH = (
    "{% if enable_thinking is defined and enable_thinking is false %}"
    "{{ raise_exception('the template was told: thinking off') }}{% endif %}"
)


@pytest.fixture(scope="module")
def thinking_model(tiny_model_factory: TinyModelFactory, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """The tiny Qwen2 text model with a chat template that reads ``enable_thinking``: off, it writes an
    empty think block after the generation prompt (as Qwen3's template does)."""
    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("thinking") / "qwen2"
    shutil.copytree(tiny_model_factory("qwen2"), folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE + (
        "{% if add_generation_prompt and enable_thinking is defined and enable_thinking is false %}"
        "<think>\n\n</think>\n\n{% endif %}"
    )
    tokenizer.save_pretrained(folder)
    return folder


def test_chat_template_kwargs_reach_a_real_hf_model_s_template(thinking_model: Path) -> None:
    from mmlens.models.base import build_model, parse_model_spec

    model = build_model(parse_model_spec(f"hf:{thinking_model}", "device=cpu"))
    try:
        loaded = model.load()  # type: ignore[attr-defined]
        messages = (Message.user("Is the sky blue?"),)
        off = GenerationSettings(chat_template_kwargs=(("enable_thinking", False),))
        plain = model._prepare(loaded, 0, Request("generate", messages))  # type: ignore[attr-defined]
        thinking_off = model._prepare(loaded, 0, Request("generate", messages, off))  # type: ignore[attr-defined]
    finally:
        model.close()
    assert plain.prompt.endswith("<|im_start|>assistant\n")
    assert thinking_off.prompt == plain.prompt + "<think>\n\n</think>\n\n"


def test_gen_args_reach_the_hf_template_through_the_cli(
    capsys: pytest.CaptureFixture[str], thinking_model: Path, tmp_path: Path, common: list[str]
) -> None:
    folder = tmp_path / "switch"
    shutil.copytree(thinking_model, folder)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = THINKING_SWITCH + QWEN_CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    base = ["run", "shapes_small", "--model", f"hf:{folder}", "--model-args", "device=cpu,drop_images=true",
            "--limit", "2", "--max-new-tokens", "3", *common]  # fmt: skip
    code, out, err = run_main(capsys, *base)
    assert code == 0, out + err
    code, out, err = run_main(capsys, *base, "--gen-args", "enable_thinking=false")
    assert code == 1  # every request failed in the template: the run is incomplete, and says why
    records = samples(tmp_path / "runs", run_line(out))
    assert all("the template was told: thinking off" in (record.get("error") or "") for record in records)
