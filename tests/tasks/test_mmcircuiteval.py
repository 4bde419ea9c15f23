"""MMCircuitEval: the official output reading and answer formatting, the four components and the
composite, replayed and through a local OpenAI-compatible judge and embedder; expected values
worked out by hand from cure-lab/MMCircuitEval@d7a44de evaluation/ (formatter.py, evaluator.py,
llm_scorer.py, prompts.py, run_benchmark.py's weights 1, 1, 1, 2)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from mmlens import api
from mmlens.core.parts import LoadContext
from mmlens.core.sample import Sample
from mmlens.tasks.mmcircuiteval.metric import (
    bleu,
    cosine,
    format_answer,
    format_model_output,
    llm_score,
    llm_scorer_prompt,
    rouge,
)
from mmlens.tasks.mmcircuiteval.scenario import MMCircuitEvalScenario, question_prompt
from tests.fixtures.mmcircuiteval_data import build_mmcircuiteval, build_mmcircuiteval_parquet
from tests.fixtures.scripted_server import ScriptedServer, last_user_text

JSON_REPLY = 'Sure.\n```json\n{"answer": "B", "explanation": "x"}\n```'


@pytest.mark.parametrize(
    ("out", "version", "expected"),
    [
        (JSON_REPLY, "v1", ("B", "x")),
        ('{"answer": ["A", "C"]}', "v1", (["A", "C"], None)),  # no fence: the whole text is parsed
        ("B because x", "v1", (None, None)),  # not JSON
        ("```json\n[1, 2]\n```", "v1", (None, None)),  # JSON but no object (the script raises there)
        (None, "v1", (None, None)),
        ("blah ### Answer ###\nB\n### Explanation ###\nbecause", "v2", ("B", "because")),
        ("no titles", "v2", ("no titles", "no titles")),  # split(...)[-1] is the whole text twice
    ],
)
def test_format_model_output(out: str | None, version: str, expected: tuple[Any, Any]) -> None:
    assert format_model_output(out, version) == expected


def test_format_answer() -> None:
    assert format_answer("B", "x", JSON_REPLY) == "Answer: B. Explanation: x."
    assert format_answer(None, None, "B because x") == "Answer: B because x."  # the raw output
    assert format_answer(["A", "C"], "") == "Answer: ['A', 'C']."  # str() of a JSON list
    assert format_answer(None, None, None) == "Answer: ."


def test_components_by_hand() -> None:
    pred, gt = "Answer: B.", "Answer: B. Explanation: x."
    # p1 = 2/2, p2 = 1/1, p3 = p4 = 0 -> method1's 0.1 / 1; brevity penalty exp(1 - 4/2)
    assert bleu(pred, gt) == pytest.approx(math.exp(-1) * 0.1**0.5)
    # rouge package: tokens split on "." then spaces; rouge-1 f = 2/3, rouge-2 f = 1/2, rouge-l f = 2/3
    assert rouge(pred, gt) == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3, abs=1e-7)
    assert cosine([1, 0], [0.6, 0.8]) == pytest.approx(0.6)
    assert cosine([0, 0], [1, 1]) == 0.0
    assert llm_score(" 0.8\n") == 0.8 and llm_score("1.5") == 1.5  # float(), not clipped
    assert llm_score("0.8.") is None and llm_score(None) is None  # the script's 0.5


def test_prompts_are_the_official_text() -> None:
    assert question_prompt("S", "Q?", "single", "v1", False) == (
        "S\nQ?\nAnswer this single-answer choice question in JSON format and return the JSON object only. "
        'The response format should be: {"answer": `single choice among "A", "B", "C", and "D"`, '
        '"explanation": `no more than 3 sentences to explain your thoughts to give the answer`}.'
    )
    assert llm_scorer_prompt().startswith("\n        You are a professional expert in electronic design")
    assert llm_scorer_prompt().endswith("**Student answer:**\n        {pred}\n        ")


def lines(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_replayed_composite_and_groups(tmp_path: Path) -> None:
    data = build_mmcircuiteval(tmp_path / "m")
    rows = [
        # pred "Answer: B." vs gt "Answer: B. Explanation: x.": bleu, rouge as above, emb 0.6, llm 0.8
        {
            "id": "0/0",
            "response": '{"answer": "B"}',
            "roles": {"judge": ["0.8"], "embedder": ["[1, 0]", "[0.6, 0.8]"]},
        },
        # pred "Answer: 0. Explanation: It inverts.." == gt: one embedding, cosine 1; unparsable judge -> 0.5
        {
            "id": "1/0",
            "response": '```json\n{"answer": "0", "explanation": "It inverts."}\n```',
            "roles": {"judge": ["about 0.9"], "embedder": ["[3, 4]"]},
        },
        # pred "Answer: AND." vs gt "Answer: NOT.": orthogonal embeddings, llm 0
        {
            "id": "1/1",
            "response": '{"answer": "AND"}',
            "roles": {"judge": ["0"], "embedder": ["[1, 0]", "[0, 1]"]},
        },
    ]
    result = api.score(
        "mmcircuiteval", lines(tmp_path / "p.jsonl", rows), data=data, store=tmp_path / "s.sqlite"
    )
    first = (math.exp(-1) * 0.1**0.5 + (2 / 3 + 1 / 2 + 2 / 3) / 3 + 0.6 + 2 * 0.8) / 5
    second = (1.0 + 1.0 + 1.0 + 2 * 0.5) / 5  # identical texts: bleu 1, rouge 1 (to 1e-8)
    # "Answer: AND." vs "Answer: NOT.": unigram 1 of 2 -> p1 = 1/2, p2..p4 = 0.1 / (1, 0->1, ...);
    third_bleu = bleu("Answer: AND.", "Answer: NOT.")
    assert third_bleu == pytest.approx((0.5 * 0.1 * 0.1 * 0.1) ** 0.25)  # c = r: no brevity penalty
    third_rouge = (1 / 2 + 0 + 1 / 2) / 3
    third = (third_bleu + third_rouge + 0.0 + 0.0) / 5
    metrics = {k: v["value"] for k, v in result.results["metrics"].items()}
    assert metrics["overall"] == pytest.approx((first + second + third) / 3 * 100, abs=1e-5)
    assert metrics["knowledge"] == pytest.approx((first + third) / 2 * 100, abs=1e-5)
    assert metrics["reasoning"] == pytest.approx(second * 100, abs=1e-5)
    assert metrics["text_only"] == pytest.approx(first * 100, abs=1e-5)
    assert metrics["multimodal"] == pytest.approx((second + third) / 2 * 100, abs=1e-5)
    assert metrics["llm"] == pytest.approx((0.8 + 0.5 + 0.0) / 3 * 100)
    by_id = {r.id: r for r in result.records}
    assert by_id["1/0"].details["judge_parse"] == "official fallback"
    judge = [e for e in by_id["0/0"].exchanges if e.role == "judge"]
    assert judge[0].prompt[0]["content"][0]["text"] == llm_scorer_prompt().format(
        gt="Answer: B. Explanation: x.", pred="Answer: B."
    )


def test_hub_layout_and_split_variant(tmp_path: Path) -> None:
    folder = build_mmcircuiteval_parquet(tmp_path / "hub")
    rows = [{"id": "0/0", "response": "B", "roles": {"judge": ["1"], "embedder": ["[1]", "[1]"]}}]
    spec = api.score("mmcircuiteval_spec", lines(tmp_path / "p.jsonl", rows), data=folder)
    assert spec.results["counts"]["scored"] == 1
    general = api.score(
        "mmcircuiteval",
        lines(
            tmp_path / "q.jsonl",
            [*rows, *[{"id": f"1/{k}", "response": "x", "roles": rows[0]["roles"]} for k in (0, 1)]],
        ),
        data=folder,
    )
    assert general.results["counts"]["scored"] == 3
    context = LoadContext("mmcircuiteval", tmp_path, str(folder))
    samples = {s.id: s for s in MMCircuitEvalScenario().load(context) if isinstance(s, Sample)}
    content = samples["1/0"].messages[0].content
    assert [type(part).__name__ for part in content] == ["ImagePart", "TextPart"]  # demo_mllm.py's order
    assert samples["1/0"].question.endswith(" You may refer to the provided images.")
    assert samples["1/1"].metadata["multimodal"] and not samples["0/0"].metadata["multimodal"]


def letters(text: str) -> list[float]:
    return [float(text.count(c)) for c in "aeiou"] + [1.0]


def scripted(body: dict[str, Any]) -> str:
    if body["model"] == "judge":
        text = last_user_text(body)  # row 1's ground truths get a reply float() cannot read
        return "n/a" if "inverts" in text or "NOT" in text else "0.75"
    return '```json\n{"answer": "B", "explanation": "x"}\n```'


def test_end_to_end_judge_and_embedder_through_a_local_server(tmp_path: Path) -> None:
    data = build_mmcircuiteval(tmp_path / "m")
    with ScriptedServer(chat=scripted, embed=letters) as server:

        def run() -> api.RunResult:
            return api.evaluate(
                "mmcircuiteval",
                "openai:toy",
                model_args=f"base_url={server.base_url}",
                data=data,
                roles={"judge": "openai:judge", "embedder": "openai:emb"},
                role_args={"judge": f"base_url={server.base_url}", "embedder": f"base_url={server.base_url}"},
                store=tmp_path / "s.sqlite",
                output_dir=None,
            )

        first = run()
        asked = len(server.received)
        second = run()
        assert len(server.received) == asked  # the rerun is answered from the store
        embeds = server.bodies("/v1/embeddings")
    # every prediction formats as "Answer: B. Explanation: x." (embedded once: the same request);
    # 0/0's equals its ground truth, so only the two other ground truths are embedded besides it.
    # formatAnswer adds its "." after an explanation that has one already.
    assert sorted(b["input"] for b in embeds) == [
        "Answer: 0. Explanation: It inverts..",
        "Answer: B. Explanation: x.",
        "Answer: NOT.",
    ]
    judging = first.results["judging"]
    assert judging["failures"]["official_fallback"] == 2  # "n/a" for the two sub-questions of row 1
    assert judging["official"] is False
    value = first.results["metrics"]["overall"]["value"]
    assert 0 < value <= 100 and second.results["metrics"]["overall"]["value"] == value
    # 0/0: identical texts -> bleu 1, rouge 1, emb 1, llm 0.75
    by_id = {r.id: r for r in first.records}
    assert by_id["0/0"].scores["overall"] == pytest.approx((3 + 1.5) / 5, abs=1e-7)
