"""SEED-Bench 1/2/2-Plus: likelihood ranking (summed vs per-token mean), dimensions, the generation
profile, both published formats."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from mmlens import api
from mmlens.core.messages import ImagePart, TextPart
from mmlens.core.parts import LoadContext
from mmlens.core.requests import Request, RequestKind, Response
from mmlens.core.sample import BadSample
from mmlens.core.task import TaskCatalog
from mmlens.inferencers.ranking import RankChoicesTokenMean
from mmlens.models.base import Emit, Model, ModelArgs, models
from mmlens.tasks.seedbench.metric import extract_first_character
from tests.fixtures.benchmark_data import (
    build_seed1_json,
    build_seed1_parquet,
    build_seed2_json,
    build_seed2plus_parquet,
)


@models.register("bench_a_word_scores")
class WordScoreModel(Model):
    """A test backend whose log-probability of a continuation is minus the letters of its words, one
    token per word: the summed score prefers few letters, the per-token mean prefers short words."""

    backend = "bench_a_word_scores"
    Args = ModelArgs
    supported_kinds: ClassVar[frozenset[RequestKind]] = frozenset({"loglikelihood"})

    def process(self, requests: Sequence[Request], emit: Emit) -> None:
        for index, request in enumerate(requests):
            words = (request.continuation or "").split()
            usage = {"completion_tokens": len(words)}
            emit(index, Response(logprob=-float(sum(len(w) for w in words)), usage=usage))


def load(task: str, data: Path) -> list:
    loaded = TaskCatalog().load(task)
    return list(loaded.scenario.load(LoadContext(task, loaded.task_dir, str(data))))


def test_seed1_parquet_keeps_the_image_dimensions(tmp_path: Path) -> None:
    samples = load("seedbench", build_seed1_parquet(tmp_path / "seed.parquet"))
    assert [s.id for s in samples] == ["101", "102", "103", "104", "105"]  # the video question is left out
    assert samples[0].category == ("Scene Understanding",)
    assert samples[4].category == ("Text Understanding",)
    assert samples[1].choices == ["aaaaa bbbbb", "cc", "ddddd", "ee ff gg hh ii"]


def test_summed_ranking_is_the_seed1_method(tmp_path: Path) -> None:
    data = build_seed1_parquet(tmp_path / "seed.parquet")
    result = api.evaluate("seedbench", "bench_a_word_scores", data=data, output_dir=None).results
    # fewest letters wins: 101 A, 102 B, 103 C right; 104 B (5 letters, tied with D) wrong; 105 D right
    assert result["metrics"]["acc"]["value"] == pytest.approx(4 / 5)
    assert result["breakdown"]["Instances Counting"]["acc"]["value"] == 0.5
    assert result["breakdown"]["Scene Understanding"]["acc"]["value"] == 1.0
    record = next(
        r for r in api.evaluate("seedbench", "bench_a_word_scores", data=data, output_dir=None).records
    )
    assert record.option_scores is not None
    assert record.option_scores.logprobs == [-3.0, -8.0, -12.0, -8.0]
    assert record.prompt[0]["content"][1]["text"] == "Question: Question 101?\nAnswer:"


def test_per_token_mean_ranking_is_the_seed2_method(tmp_path: Path) -> None:
    data = build_seed1_parquet(tmp_path / "seed.parquet")
    task = TaskCatalog().load("seedbench")
    mean_task = dataclasses.replace(task, inferencer=RankChoicesTokenMean())
    result = api.evaluate(mean_task, "bench_a_word_scores", data=data, output_dir=None)
    # shortest words win: 104 now picks "one two" (3 letters a word) = A, right; the rest as before
    assert result.results["metrics"]["acc"]["value"] == 1.0
    by_id = {r.id: r for r in result.records}
    assert by_id["104"].option_scores is not None
    assert by_id["104"].option_scores.logprobs == pytest.approx([-3.0, -5.0, -11 / 3, -5.0])
    assert by_id["102"].answer == "B"  # "cc" and "ee ff gg hh ii" tie at -2: the earlier option wins


def test_constant_backend_ranking_and_missing_token_counts(tmp_path: Path) -> None:
    data = build_seed1_parquet(tmp_path / "seed.parquet")
    result = api.evaluate("seedbench", "constant", data=data, output_dir=None).results
    # every option gets log-probability 0: the first option (A) wins every tie; answers A: 101, 104
    assert result["metrics"]["acc"]["value"] == pytest.approx(2 / 5)
    seed2 = build_seed2_json(tmp_path / "seed2")
    unscored = api.evaluate("seedbench2", "constant", data=seed2, output_dir=None)
    assert unscored.results["counts"]["errors"] == 3
    assert "completion_tokens" in (unscored.records[0].error or "")


def test_official_json_with_image_folder(tmp_path: Path) -> None:
    data = build_seed1_json(tmp_path / "seed")
    items = load("seedbench", data)
    bad = [item for item in items if isinstance(item, BadSample)]
    assert [b.id for b in bad] == ["999"] and "missing.png" in bad[0].reason
    samples = [item for item in items if not isinstance(item, BadSample)]
    assert samples[0].images[0].describe().endswith("SEED-Bench-image/101.png")
    result = api.evaluate("seedbench", "bench_a_word_scores", data=data, output_dir=None).results
    assert result["metrics"]["acc"]["value"] == pytest.approx(4 / 5)
    assert result["counts"]["bad_samples"] == 1


def test_seed2_multi_image_interleaved_and_level_filter(tmp_path: Path) -> None:
    data = build_seed2_json(tmp_path / "seed2")
    samples = load("seedbench2", data)
    assert [s.id for s in samples] == ["5_0", "17_0", "23_0"]  # 25_0 (L3, image options) is left out
    assert [s.category for s in samples] == [
        ("Instances Counting",),
        ("Difference Spotting",),
        ("In-Context Captioning",),
    ]
    assert len(samples[1].images) == 2
    content = samples[2].messages[0].content
    kinds = [type(part).__name__ for part in content]
    assert kinds == ["ImagePart", "TextPart", "ImagePart", "TextPart", "ImagePart", "TextPart"]
    assert [p.text for p in content if isinstance(p, TextPart)] == [": It is red. ", ": It is green. ", ":"]
    assert isinstance(content[0], ImagePart)
    result = api.evaluate("seedbench2", "bench_a_word_scores", data=data, output_dir=None).results
    # per-token mean: 5_0 One/Two tie -> A right; 17_0 same/left tie -> A (answer B); 23_0 red -> A (answer C)
    assert result["metrics"]["acc"]["value"] == pytest.approx(1 / 3)


def test_seed2_plus_image_types(tmp_path: Path) -> None:
    data = build_seed2plus_parquet(tmp_path / "plus.parquet")
    result = api.evaluate("seedbench2_plus", "bench_a_word_scores", data=data, output_dir=None).results
    # all options score alike: A everywhere; answers A, B (chart), A (map), C (web)
    assert result["metrics"]["acc"]["value"] == 0.5
    assert result["breakdown"]["Chart"]["acc"]["value"] == 0.5
    assert result["breakdown"]["Chart/gantt chart"]["acc"]["value"] == 0.0
    assert result["breakdown"]["Map"]["acc"]["value"] == 1.0
    assert result["breakdown"]["Web"]["acc"]["value"] == 0.0


@pytest.mark.parametrize(
    ("response", "letter"),
    [("B", "B"), (" C. three", "C"), ("b", None), ("", None), ("The answer is A", None)],
)
def test_generation_profile_reads_the_first_character(response: str, letter: str | None) -> None:
    assert extract_first_character(response, "ABCD").answer == letter


def test_generation_profile_end_to_end(tmp_path: Path) -> None:
    data = build_seed1_parquet(tmp_path / "seed.parquet")
    result = api.evaluate(
        "seedbench", "constant", model_args="text=D. q", data=data, profile="generate", output_dir=None
    )
    assert result.results["metrics"]["acc"]["value"] == pytest.approx(1 / 5)  # only 105 (D)
    assert result.records[0].prompt[0]["content"][1]["text"] == (
        "Question 101?\nA. a bb\nB. cccccccc\nC. dddd eeee ffff\nD. gg hh ii jj\n"
        "Answer with the option's letter from the given choices directly."
    )
    predictions = tmp_path / "p.jsonl"
    predictions.write_text('{"id": "101", "response": "A"}\n{"id": "105", "response": "d"}\n')
    scored = api.score("seedbench", predictions, data=data, profile="generate").results
    assert scored["metrics"]["acc"]["value"] == pytest.approx(1 / 5)  # "d" is not the letter D


# -- the token that closes the assistant's turn ------------------------------------------------------


def test_a_default_request_keeps_its_cache_key() -> None:
    from mmlens.core.messages import Message

    messages = (Message.user("Q?"),)
    default = Request("loglikelihood", messages, continuation=" A")
    # the canonical form and key of this request before continuation_ends_turn existed
    assert default.canonical() == {
        "kind": "loglikelihood",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Q?"}]}],
        "continuation": " A",
    }
    assert default.key("fp") == "0a6bf8fe39bf125d9c319495869bea9f250f69b2a48fd4aa6281068b9527d106"
    assert Request("generate", messages).key("fp") == (
        "dcb67c6af7046b2a43aebe0dafefd6217b54ae03534113b653b3e1fc6dd2466f"
    )
    whole = Request("loglikelihood", messages, continuation=" A", continuation_ends_turn=True)
    assert whole.canonical() == {**default.canonical(), "continuation_ends_turn": True}
    assert whole.key("fp") != default.key("fp")


@pytest.mark.parametrize(
    ("task", "profile", "inferencer", "ends_turn"),
    [
        ("seedbench", None, "RankChoices", True),
        ("seedbench", "option-tokens", "RankChoices", False),
        ("seedbench2", None, "RankChoicesTokenMean", True),
        ("seedbench2", "qwen-vl", "RankChoicesTokenMean", False),
        ("seedbench2_plus", None, "RankChoicesTokenMean", True),
        ("seedbench2_plus", "qwen-vl", "RankChoicesTokenMean", False),
    ],
)
def test_the_official_interfaces_score_the_closing_token(
    tmp_path: Path, task: str, profile: str | None, inferencer: str, ends_turn: bool
) -> None:
    loaded = TaskCatalog().load(task, profile)
    assert type(loaded.inferencer).__name__ == inferencer
    sample = next(iter(load("seedbench", build_seed1_parquet(tmp_path / "seed.parquet"))))
    requests = loaded.inferencer.plan(sample, sample.messages)
    assert len(requests) == 4 and all(r.continuation_ends_turn is ends_turn for r in requests)


def test_the_generate_profile_drops_the_ranking_options() -> None:
    for task in ("seedbench", "seedbench2", "seedbench2_plus"):
        assert type(TaskCatalog().load(task, "generate").inferencer).__name__ == "Generate"


def test_the_openai_backend_refuses_end_of_turn_likelihood_per_request() -> None:
    from mmlens.core.messages import Message
    from mmlens.models.base import ModelSpec, build_model

    # Port 9 (discard) is never contacted: the refusal comes before any request is sent.
    model = build_model(ModelSpec(backend="openai", name="m", args={"base_url": "http://127.0.0.1:9/v1"}))
    messages = (Message.user("Q?"),)
    requests = [Request("loglikelihood", messages, continuation="A", continuation_ends_turn=True)] * 2
    answers: dict[int, Response] = {}
    model.process(requests, lambda index, response: answers.__setitem__(index, response))
    assert sorted(answers) == [0, 1]
    for response in answers.values():
        assert response.error and "end-of-turn likelihood is not supported by this endpoint" in response.error


# -- the lmms-eval generation profile of SEED-Bench-2-Plus is case-insensitive ------------------------


def test_seed2_plus_generation_profile_ignores_letter_case(tmp_path: Path) -> None:
    data = build_seed2plus_parquet(tmp_path / "plus.parquet")  # answers A, B, A, C
    predictions = tmp_path / "p.jsonl"
    predictions.write_text(
        '{"id": "0", "response": "a"}\n{"id": "1", "response": "b) the chart"}\n'
        '{"id": "2", "response": "B"}\n{"id": "3", "response": " c"}\n'
    )
    plus = api.score("seedbench2_plus", predictions, data=data, profile="generate")
    assert plus.results["metrics"]["acc"]["value"] == pytest.approx(3 / 4)  # only "2" (B for A) is wrong
    assert [r.answer for r in plus.records] == ["A", "B", "B", "C"]
    # SEED-Bench (v1) and SEED-Bench-2 compare case-sensitively in lmms-eval: "b" is not B there
    assert extract_first_character("b) the chart", "ABCD").answer is None
    assert extract_first_character("b) the chart", "ABCD", case_insensitive=True).answer == "B"
