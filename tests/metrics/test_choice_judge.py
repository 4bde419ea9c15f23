"""choice_rule_then_judge: the rule decides where it can, the judge only where it cannot (constant
models as deterministic replies); VLMEvalKit's prompt sent verbatim."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlens import api
from mmlens.metrics.choice_judge import mcq_prompt, option_block
from tests.fixtures.judged_task import write_judged_task

ROWS = [
    {"id": "c1", "question": "What animal is it", "choices": ["teddy bear", "cat"], "answer": "A"},
    {"id": "c2", "question": "What toy is it", "choices": ["cat", "teddy bear"], "answer": "B"},
]


def run(tmp_path: Path, response: str, reply: str) -> api.RunResult:
    folder = write_judged_task(tmp_path / "task", rows=ROWS, images=False)
    config = (
        (folder / "judged_toy.yaml")
        .read_text()
        .replace("type: judge_verdict", "type: choice_rule_then_judge")
    )
    (folder / "judged_toy.yaml").write_text(config.replace("max_new_tokens: 6", "max_new_tokens: 4"))
    return api.evaluate(
        "judged_toy",
        "constant",
        model_args=f"text={response}",
        include=[folder],
        store=tmp_path / "store.sqlite",
        output_dir=None,
        roles={"judge": "constant"},
        role_args={"judge": f"text={reply}"},
    )


def test_the_rule_decides_without_the_judge(tmp_path: Path) -> None:
    result = run(tmp_path, "B", "A")
    judging = result.results["judging"]
    assert judging["extracted_by"] == {"rule": 2, "judge": 0, "failed": 0}
    assert judging["judges"]["judge"]["calls"]["unique"] == 0
    assert result.results["metrics"]["acc"]["value"] == 0.5  # B is right for c2 only


@pytest.mark.parametrize(
    ("reply", "by", "acc", "unparsed"),
    [
        ("A", {"rule": 0, "judge": 2, "failed": 0}, 0.5, 0),
        ("Z", {"rule": 0, "judge": 2, "failed": 0}, 0.0, 0),
        ("no idea", {"rule": 0, "judge": 0, "failed": 2}, 0.0, 2),
    ],
)
def test_the_judge_decides_what_the_rule_cannot(
    tmp_path: Path, reply: str, by: dict[str, int], acc: float, unparsed: int
) -> None:
    result = run(tmp_path, "a cute teddy bear", reply)
    judging = result.results["judging"]
    assert judging["extracted_by"] == by and judging["failures"]["unparsed"] == unparsed
    assert result.results["metrics"]["acc"]["value"] == acc
    (exchange,) = [e for e in result.records[0].exchanges if e.role == "judge"]
    sent = exchange.prompt[-1]["content"][-1]["text"]
    expected = mcq_prompt().format(
        question=ROWS[0]["question"], options=option_block(ROWS[0]["choices"]), response="a cute teddy bear"
    )
    assert sent == expected
    assert sent.endswith(
        "Question: What animal is it?\nOptions: There are several options: \nA. teddy bear\n"
        "B. cat\n\nAnswer: a cute teddy bear\nYour output: "
    )
