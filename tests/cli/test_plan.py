"""mmlens plan: the first-round requests of a run, as text, as JSON and to a file; no model is called."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mmlens.cli import main
from mmlens.cli.plan import format_plan, short_digest
from tests.fixtures.numbers_bench import build_numbers_task


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def numbers(tmp_path: Path) -> Path:
    return build_numbers_task(tmp_path / "bench", count=6, duplicates=0)


def image_digest(numbers: Path, number: int) -> str:
    return "sha256:" + hashlib.sha256((numbers.parent / "images" / f"{number}.png").read_bytes()).hexdigest()


def test_plan_as_text(capsys: pytest.CaptureFixture[str], numbers: Path) -> None:
    code, out, err = run_main(capsys, "plan", "numbers", "--include", str(numbers), "--limit", "2")
    assert code == 0 and err == ""
    digest = image_digest(numbers, 0)
    expected_first_sample = f"""sample n0
  request 1/1: model generate
    [user]
      [image sha256:{digest.removeprefix("sha256:")[:8]}…]
      Does this picture show the number 0? Please answer yes or no.
    settings: max_new_tokens=4, temperature=0.0, top_p=1.0, stop=[], seed=null
"""
    assert out.startswith("task numbers: 2 sample(s), 2 first-round request(s)\n")
    assert 'ids: the "id" field of each line' in out
    assert expected_first_sample in out
    assert "sample n1" in out and "sample n2" not in out
    assert "later rounds" not in out


def test_plan_as_json_and_to_a_file(
    capsys: pytest.CaptureFixture[str], numbers: Path, tmp_path: Path
) -> None:
    code, out, _ = run_main(capsys, "plan", "numbers", "--include", str(numbers), "--limit", "3", "--json")
    planned = json.loads(out)
    assert code == 0 and planned["task"] == "numbers" and planned["later_rounds"] is False
    assert [sample["id"] for sample in planned["samples"]] == ["n0", "n1", "n2"]
    (request,) = planned["samples"][1]["requests"]
    assert (request["role"], request["kind"]) == ("model", "generate")
    assert request["settings"]["max_new_tokens"] == 4
    assert request["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "image", "image": image_digest(numbers, 1)},
                {"type": "text", "text": "Does this picture show the number 2? Please answer yes or no."},
            ],
        }
    ]
    output = tmp_path / "plan.json"
    code, out, _ = run_main(
        capsys, "plan", "numbers", "--include", str(numbers), "--limit", "3", "--output", str(output)
    )
    assert code == 0 and out == f"wrote {output}: 3 sample(s), 3 first-round request(s)\n"
    assert json.loads(output.read_text()) == planned


def test_plan_of_a_likelihood_ranking_shows_the_continuations(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "mc.yaml").write_text(
        "name: mc\nscenario: {type: jsonl, path: mc.jsonl}\ninferencer: {type: rank_choices}\n"
        "metric: {type: accuracy}\n"
    )
    row = {"id": "q1", "question": "Which colour is the sky?", "choices": ["blue", "green"], "answer": "A"}
    (tmp_path / "mc.jsonl").write_text(json.dumps(row) + "\n")
    code, out, _ = run_main(capsys, "plan", "mc", "--include", str(tmp_path / "mc.yaml"))
    assert code == 0
    assert "2 first-round request(s)" in out
    assert "request 1/2: model loglikelihood" in out and "request 2/2: model loglikelihood" in out
    assert "settings:" not in out
    assert out.count("continuation: ") == 2


def test_plan_of_a_judged_task_says_later_rounds_follow(
    capsys: pytest.CaptureFixture[str], judged: Path
) -> None:
    code, out, _ = run_main(capsys, "plan", "judged", "--include", str(judged), "--limit", "1", "--json")
    planned = json.loads(out)
    assert code == 0 and planned["later_rounds"] is True
    assert [r["role"] for r in planned["samples"][0]["requests"]] == ["model"]  # the judge's come later
    code, out, _ = run_main(capsys, "plan", "judged", "--include", str(judged), "--limit", "1")
    assert "; later rounds depend on the answers" in out.splitlines()[0]
    assert out.rstrip().endswith(
        "later rounds (a next turn, a judge's call) depend on the answers; a run plans them"
    )


def test_plan_with_a_model_validates_it_without_loading_it(
    capsys: pytest.CaptureFixture[str], numbers: Path
) -> None:
    base = ["plan", "numbers", "--include", str(numbers), "--limit", "1"]
    code, out, _ = run_main(capsys, *base, "--model", "constant", "--model-args", "text=no")
    assert code == 0 and "\nmodel: constant\n" in out
    code, out, err = run_main(capsys, *base, "--model", "hugface")
    assert code == 2 and out == "" and "unknown model backend 'hugface'" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", "numbrs"], "unknown task 'numbrs'. Did you mean 'numbers'?"),
        (["plan", "numbers", "--limit", "0"], "--limit must be at least 1"),
        (["plan", "numbers", "--output", "/proc/forbidden/plan.json"], "--output /proc/forbidden/plan.json:"),
        (["plan"], "the following arguments are required: task"),
    ],
)
def test_plan_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], numbers: Path, args: list[str], message: str
) -> None:
    code, out, err = run_main(capsys, *args, "--include", str(numbers))
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_text_rendering_of_the_plan_contract() -> None:
    digest = "sha256:" + "ab" * 32
    planned = {
        "task": "clips",
        "id_scheme": "clip ids",
        "model": None,
        "later_rounds": True,
        "bad_samples": [{"id": "c9", "reason": "video missing"}],
        "samples": [
            {
                "id": "c1",
                "requests": [
                    {
                        "role": "model",
                        "kind": "generate",
                        "messages": [
                            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
                            {
                                "role": "user",
                                "content": [
                                    {"type": "video", "video": digest, "subtitles": "hello"},
                                    {"type": "text", "text": "What happens?\nAnswer with a letter."},
                                ],
                            },
                            {"role": "assistant", "content": [{"type": "text", "text": "B"}]},
                        ],
                        "settings": {"max_new_tokens": 2, "stop": ["\n"]},
                    },
                    {"role": "judge", "kind": "embed", "messages": []},
                ],
            }
        ],
    }
    assert format_plan(planned) == "\n".join(
        [
            "task clips: 1 sample(s), 2 first-round request(s); later rounds depend on the answers",
            "ids: clip ids",
            "bad sample c9: video missing",
            "",
            "sample c1",
            "  request 1/2: model generate",
            "    [system]",
            "      Be brief.",
            "    [user]",
            "      [video sha256:abababab…]",
            "      subtitles: hello",
            "      What happens?",
            "      Answer with a letter.",
            "    [assistant]",
            "      B",
            '    settings: max_new_tokens=2, stop=["\\n"]',
            "  request 2/2: judge embed",
            "",
            "later rounds (a next turn, a judge's call) depend on the answers; a run plans them",
        ]
    )
    assert short_digest("rgb:" + "0" * 64) == "rgb:00000000…"
    assert short_digest("gen:shapes-v1:0:3") == "gen:shapes-v1:0:3"
    assert short_digest("absent:mme/existence/000000006040.jpg") == "absent:mme/existence/000000006040.jpg"
