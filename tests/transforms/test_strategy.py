"""strategy:<name>: each strategy's requests per round (exact prompt texts), the answer-trigger round,
the rounds in provenance, caching of every round, extraction from the final round; ChEF's PPL chain
of thought on likelihood rankings; the CLI; tiny hf models on POPE (yes/no), MMStar (multiple
choice) and SEED-Bench (likelihood ranking)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mmlens import api
from mmlens.cli.app import main
from mmlens.core.errors import ConfigError
from mmlens.core.messages import Message, TextPart
from mmlens.core.parts import Inferencer, Prediction, TransformContext
from mmlens.core.requests import GenerationSettings, Request, Response
from mmlens.core.sample import BadSample, Sample
from mmlens.inferencers.basic import Generate
from mmlens.inferencers.ranking import RankChoices
from mmlens.inferencers.self_consistency import sample_seed
from mmlens.inferencers.two_step import TwoStep
from mmlens.transforms.likelihood import ChefLikelihood
from mmlens.transforms.strategy import (
    ANALOGICAL_PROMPT,
    CHAIN_OF_THOUGHT_PROMPT,
    EXAMPLES_KEY,
    KNOWLEDGE_PROMPT,
    TREE_PROPOSE_PROMPT,
    TREE_VOTE_PROMPT,
    Strategy,
    answer_trigger,
)
from tests.fixtures.benchmark_helpers import pope_with_images
from tests.fixtures.task_data import data_builder
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401 - fixture

MC_QUESTION = (
    "What color is the circle?\nA. red\nB. green\nC. blue\nD. yellow\nAnswer with the option's letter."
)
YES_NO_QUESTION = "Is there a red circle in the image? Please answer yes or no."
TASK_SETTINGS = GenerationSettings(max_new_tokens=8)
REASONING = GenerationSettings(max_new_tokens=256)


def text_sample(sample_id: str, text: str, target: str, **fields: Any) -> Sample:
    return Sample(id=sample_id, messages=[Message("user", (TextPart(text),))], target=target, **fields)


def adapted(strategy: str, inferencer: Inferencer | None = None, **fields: Any) -> Inferencer:
    transform = Strategy(strategy=strategy, **fields)  # type: ignore[arg-type]
    return transform.adapt_inferencer(inferencer or Generate(max_new_tokens=8))


def drive(
    inferencer: Inferencer, sample: Sample, replies: list[list[Response]]
) -> tuple[list[list[Request]], Prediction]:
    """The inferencer's rounds on the sample, answered round by round with ``replies``."""
    rounds = inferencer.rounds(sample, list(sample.messages))
    sent = [next(rounds)]
    try:
        for reply in replies:
            assert len(reply) == len(sent[-1])
            sent.append(rounds.send(reply))
    except StopIteration as stop:
        return sent, stop.value
    raise AssertionError(f"more rounds than replies: {sent[-1]}")


def texts(*values: str) -> list[Response]:
    return [Response(text=value) for value in values]


def user(text: str) -> Message:
    return Message("user", (TextPart(text),))


def test_chain_of_thought_reasons_then_asks_kojimas_answer_trigger() -> None:
    sample = text_sample("q", MC_QUESTION, "C")
    sent, prediction = drive(adapted("chain_of_thought"), sample, [texts("It is blue."), texts("C")])
    asked = (user(f"{MC_QUESTION}\n{CHAIN_OF_THOUGHT_PROMPT}"),)
    assert [(r.messages, r.settings) for r in sent[0]] == [(asked, REASONING)]
    trigger = "Therefore, among A through D, the answer is"
    answer_round = (*asked, Message.assistant("It is blue."), user(trigger))
    assert [(r.messages, r.settings) for r in sent[1]] == [(answer_round, TASK_SETTINGS)]
    assert prediction.text == "C"  # the final round's reply: the task's metric extracts from it
    assert prediction.details == {
        "strategy": {"name": "chain_of_thought", "rounds": 2},
        "reasoning": "It is blue.",
    }


def test_answer_triggers_follow_the_question_kind() -> None:
    assert answer_trigger(text_sample("a", MC_QUESTION, "C")) == "Therefore, among A through D, the answer is"
    assert answer_trigger(text_sample("b", "Which?", "B", choices=["x", "y"])) == (
        "Therefore, among A through B, the answer is"
    )
    assert answer_trigger(text_sample("c", YES_NO_QUESTION, "yes")) == "Therefore, the answer (Yes or No) is"
    assert answer_trigger(text_sample("d", "How many?", "3")) == "Therefore, the answer is"


def test_analogical_recalls_relevant_problems_first() -> None:
    sample = text_sample("q", YES_NO_QUESTION, "yes")
    sent, prediction = drive(adapted("analogical"), sample, [texts("Q: ... A: ..."), texts("Yes")])
    asked = (user(f"{YES_NO_QUESTION}\n{ANALOGICAL_PROMPT}"),)
    assert sent[0][0].messages == asked and sent[0][0].settings == REASONING
    assert ANALOGICAL_PROMPT.startswith("Recall three relevant and distinct problems.")
    assert sent[1][0].messages == (
        *asked,
        Message.assistant("Q: ... A: ..."),
        user("Therefore, the answer (Yes or No) is"),
    )
    assert prediction.text == "Yes" and prediction.details["strategy"]["rounds"] == 2


def test_generated_knowledge_answers_the_question_with_the_knowledge_before_it() -> None:
    sample = text_sample("q", YES_NO_QUESTION, "yes")
    sent, prediction = drive(
        adapted("generated_knowledge"), sample, [texts(" Circles are round. "), texts("yes")]
    )
    assert sent[0][0].messages == (user(f"{YES_NO_QUESTION}\n{KNOWLEDGE_PROMPT}"),)
    assert KNOWLEDGE_PROMPT == "Generate some knowledge about the concepts in the input."
    # knowledge integration: the question, under the task's own settings, with the knowledge first
    assert sent[1][0].messages == (user(f"Knowledge: Circles are round.\n{YES_NO_QUESTION}"),)
    assert sent[1][0].settings == TASK_SETTINGS
    assert prediction.text == "yes" and prediction.details["knowledge"] == " Circles are round. "


def test_tree_of_thought_proposes_votes_and_answers_from_the_best_thought() -> None:
    sample = text_sample("q", MC_QUESTION, "C")
    inferencer = adapted("tree_of_thought").model_copy(update={"seed": 4})
    vote = "Choice 2 looks right.\nThe best choice is 2."
    sent, prediction = drive(inferencer, sample, [texts("t1", "t2", "t3"), texts(vote), texts("C")])
    asked = (user(f"{MC_QUESTION}\n{TREE_PROPOSE_PROMPT}"),)
    assert [r.messages for r in sent[0]] == [asked] * 3
    assert [r.settings for r in sent[0]] == [
        GenerationSettings(max_new_tokens=256, temperature=0.7, seed=sample_seed(4, i)) for i in range(3)
    ]
    vote_text = f"{MC_QUESTION}\n{TREE_VOTE_PROMPT}\n\nChoice 1:\nt1\nChoice 2:\nt2\nChoice 3:\nt3"
    assert [(r.messages, r.settings) for r in sent[1]] == [((user(vote_text),), REASONING)]
    trigger = user("Therefore, among A through D, the answer is")
    assert sent[2][0].messages == (*asked, Message.assistant("t2"), trigger)
    assert sent[2][0].settings == TASK_SETTINGS
    assert prediction.text == "C"
    assert prediction.details["strategy"] == {"name": "tree_of_thought", "rounds": 3}
    assert (prediction.details["best"], prediction.details["vote_parsed"]) == (2, True)
    # a vote naming no thought (or one out of range) keeps the first thought, and says so
    sent, prediction = drive(
        inferencer, sample, [texts("t1", "t2", "t3"), texts("The best choice is 7"), texts("A")]
    )
    assert sent[2][0].messages[-2] == Message.assistant("t1")
    assert (prediction.details["best"], prediction.details["vote_parsed"]) == (1, False)


def test_self_consistency_samples_chains_asks_each_for_its_answer_and_votes() -> None:
    sample = text_sample("q", MC_QUESTION, "C")
    inferencer = adapted("self_consistency", k=3).model_copy(update={"seed": 0})
    chains = texts("c1", "c2", "c3")
    sent, prediction = drive(inferencer, sample, [chains, texts("B", "the answer is C", "C.")])
    asked = (user(f"{MC_QUESTION}\n{CHAIN_OF_THOUGHT_PROMPT}"),)
    assert [r.settings for r in sent[0]] == [
        GenerationSettings(max_new_tokens=256, temperature=0.7, seed=sample_seed(0, i)) for i in range(3)
    ]
    assert {r.messages for r in sent[0]} == {asked}
    trigger = user("Therefore, among A through D, the answer is")
    assert [r.messages for r in sent[1]] == [
        (*asked, Message.assistant(c), trigger) for c in ("c1", "c2", "c3")
    ]
    assert {r.settings for r in sent[1]} == {TASK_SETTINGS}  # the answers greedy, as the task asks
    assert prediction.text == "the answer is C"  # the first answer that voted for the winner
    assert prediction.details["votes"] == {"B": 1, "C": 2} and prediction.details["strategy"]["rounds"] == 2


def test_sampling_strategies_take_the_runs_seed(tmp_path: Path) -> None:
    task = api.load_task("shapes_small", transforms=["strategy:self_consistency:k=2"])
    assert task.inferencer.temperature == 0.7 and task.inferencer.seed is None  # type: ignore[attr-defined]
    runs = [
        api.evaluate(
            task,
            "constant",
            model_args="text=A",
            limit=2,
            seed=seed,
            store=tmp_path / "s.sqlite",
            output_dir=None,
        )  # fmt: skip
        for seed in (0, 1)
    ]
    assert runs[0].run_id != runs[1].run_id
    assert runs[1].stats is not None and runs[1].stats.computed > 0  # other seeds: other chains


def test_one_and_few_shot_show_examples_of_other_questions_as_earlier_turns() -> None:
    pool = [text_sample(f"s{i}", f"Question {i}?", "yes" if i % 2 else "no") for i in range(6)]
    pool[1] = text_sample("s1", "Question 1?", "yes", group="g")
    pool[2] = text_sample("s2", "Question 2?", "no", group="g")
    context = TransformContext("t", None, lambda fields: [])  # type: ignore[arg-type]
    few = Strategy(strategy="few_shot")
    first, again = few.apply(pool, context), few.apply(pool, context)
    for sample, same in zip(first, again, strict=True):
        assert isinstance(sample, Sample) and isinstance(same, Sample)
        examples = sample.metadata[EXAMPLES_KEY]
        assert [e.id for e in examples] == [e.id for e in same.metadata[EXAMPLES_KEY]]  # seeded
        assert len(examples) == 3 and sample.id not in {e.id for e in examples}
        if sample.group == "g":
            assert not {"s1", "s2"} & {e.id for e in examples}  # never a question of its own group
    assert Strategy(strategy="few_shot", seed=2).label() == "strategy:few_shot:seed=2"
    query = first[0]
    assert isinstance(query, Sample)
    system = Message.system("Be brief.")
    sent, prediction = drive(adapted("few_shot"), query, [texts("no")])
    turns = [
        turn for e in query.metadata[EXAMPLES_KEY] for turn in (*e.messages, Message.assistant(e.answer))
    ]
    assert sent[0][0].messages == (*turns, *query.messages)
    with_system = adapted("few_shot").plan(query, [system, *query.messages])
    assert with_system[0].messages == (system, *turns, *query.messages)  # examples after the system prompt
    assert prediction.details["strategy"]["examples"] == [e.id for e in query.metadata[EXAMPLES_KEY]]
    one = Strategy(strategy="one_shot").apply(pool[:2], context)
    assert all(isinstance(s, Sample) and len(s.metadata[EXAMPLES_KEY]) == 1 for s in one)
    lonely = Strategy(strategy="few_shot").apply(pool[:2], context)
    assert all(isinstance(s, BadSample) and "needs 3 other samples" in s.reason for s in lonely)


def test_chain_of_thought_on_a_likelihood_ranking_is_chefs_ppl_cot() -> None:
    sample = text_sample("q", "Which one?", "B", choices=["cat", "dog"])
    sent, prediction = drive(
        adapted("chain_of_thought", RankChoices()),
        sample,
        [texts("A dog."), [Response(logprob=-5.0), Response(logprob=-9.0), Response(logprob=-6.0)]],
    )
    # ChEF's generate_CoT_query: question + "\nLet's think step by step.", 256 new tokens
    assert [(r.kind, r.messages, r.settings) for r in sent[0]] == [
        ("generate", (user(f"Which one?\n{CHAIN_OF_THOUGHT_PROMPT}"),), REASONING)
    ]
    # then the question itself, every option after the reasoning (ChEF's CoT + "\n" + answer), and
    # the reasoning alone so that only the option's own tokens are scored
    assert [(r.kind, r.messages, r.continuation) for r in sent[1]] == [
        ("loglikelihood", (user("Which one?"),), "A dog.\n"),
        ("loglikelihood", (user("Which one?"),), "A dog.\ncat"),
        ("loglikelihood", (user("Which one?"),), "A dog.\ndog"),
    ]
    assert prediction.answer == "B" and prediction.option_scores is not None
    assert prediction.option_scores.logprobs == [-4.0, -1.0]
    assert prediction.details == {
        "strategy": {"name": "chain_of_thought", "rounds": 2},
        "reasoning": "A dog.",
    }


def test_chain_of_thought_on_chefs_ppl_template_scores_the_option_tokens_only() -> None:
    sample = text_sample("q", "Which one?", "A", choices=["cat", "dog"])
    inferencer = adapted("chain_of_thought", ChefLikelihood(template="The answer is {option}"))
    counted = [(-4.0, 4), (-7.0, 6), (-9.0, 7), (-8.0, 8)]  # prefix, prefix + template, two options
    sent, prediction = drive(
        inferencer,
        sample,
        [texts("Hmm."), [Response(logprob=lp, usage={"completion_tokens": n}) for lp, n in counted]],
    )
    assert [r.continuation for r in sent[1]] == [
        "Hmm.\n",
        "Hmm.\nThe answer is ",
        "Hmm.\nThe answer is (A",
        "Hmm.\nThe answer is (B",
    ]
    assert prediction.option_scores is not None
    assert prediction.option_scores.logprobs == [-2.0, -0.5]  # (-9 - -7) / 1, (-8 - -7) / 2
    assert prediction.answer == "B"


def test_one_line_errors_and_the_argument_forms() -> None:
    with pytest.raises(ConfigError, match="self_consistency votes on generated answers"):
        api.load_task("seedbench", transforms=["strategy:self_consistency"])
    with pytest.raises(ConfigError, match="already has rounds of its own"):
        Strategy(strategy="chain_of_thought").adapt_inferencer(TwoStep())
    with pytest.raises(ConfigError, match="already has a strategy"):
        api.load_task("shapes_small", transforms=["strategy:chain_of_thought", "strategy:analogical"])
    with pytest.raises(ConfigError, match="expected strategy:<name>, one of zero_shot"):
        api.load_task("shapes_small", transforms=["strategy:cot"])
    with pytest.raises(ConfigError, match="takes no number"):
        api.load_task("shapes_small", transforms=["strategy:chain_of_thought:3"])
    with pytest.raises(ConfigError, match="one_shot shows one example"):
        api.load_task("shapes_small", transforms=["strategy:one_shot:shots=2"])
    labels = {
        "strategy:few_shot:5": "strategy:few_shot:shots=5",
        "strategy:self_consistency:k=10": "strategy:self_consistency:k=10",
        "strategy:tree_of_thought:2": "strategy:tree_of_thought:breadth=2",
        "strategy:zero_shot": "strategy:zero_shot",
    }
    for spec, label in labels.items():
        assert api.load_task("shapes_small", transforms=[spec]).transform_labels == [label]
    plain, zero = (
        api.load_task("shapes_small"),
        api.load_task("shapes_small", transforms=["strategy:zero_shot"]),
    )
    assert type(zero.inferencer) is type(plain.inferencer)  # zero-shot is the task's own prompt


STRATEGY_ROUNDS = {
    "zero_shot": 1,
    "one_shot": 1,
    "few_shot:2": 1,
    "chain_of_thought": 2,
    "analogical": 2,
    "generated_knowledge": 2,
    "tree_of_thought:2": 3,
    "self_consistency:3": 2,
}


@pytest.mark.parametrize("strategy", list(STRATEGY_ROUNDS))
def test_rounds_in_provenance_every_round_cached_and_the_final_round_extracted(
    strategy: str, tmp_path: Path
) -> None:
    options: dict[str, Any] = {
        "model_args": "text=A",
        "limit": 6,
        "store": tmp_path / "s.sqlite",
        "output_dir": None,
    }
    run = api.evaluate("shapes_small", "constant", transforms=[f"strategy:{strategy}"], **options)
    provenance = run.results["provenance"]
    assert provenance["requests"]["rounds"] == STRATEGY_ROUNDS[strategy]
    assert provenance["task"]["transforms"] == [Strategy(**Strategy.from_args(strategy)).label()]
    assert run.results["counts"]["errors"] == 0 and run.stats is not None and run.stats.computed > 0
    assert "seconds" in provenance["requests"]["by_role"]["model"]  # the model's time, every round
    for record in run.records:
        multiple_choice = record.target in ("A", "B", "C", "D")
        if strategy.startswith("self_consistency") and not multiple_choice:
            assert record.response is None and record.details["votes"] == {}  # "A" is no yes/no vote
            continue
        assert record.response == "A"  # the final round's reply, extracted by the task's metric:
        assert record.answer == ("A" if multiple_choice else None)
        if STRATEGY_ROUNDS[strategy] > 1:
            assert record.exchanges and record.exchanges[-1].round == STRATEGY_ROUNDS[strategy]
            assert record.details["strategy"]["rounds"] == STRATEGY_ROUNDS[strategy]
    rerun = api.evaluate("shapes_small", "constant", transforms=[f"strategy:{strategy}"], **options)
    assert rerun.stats is not None and rerun.stats.computed == 0 and rerun.stats.cached > 0
    assert rerun.results["metrics"] == run.results["metrics"]


def test_cli_run_with_a_strategy(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    args = ["run", "shapes_small", "--model", "constant", "--model-args", "text=B", "--limit", "4",
            "--transform", "strategy:chain_of_thought", "--store", store,
            "--output-dir", str(tmp_path / "runs"), "--no-progress", "--json"]  # fmt: skip
    assert main(args) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["provenance"]["task"]["transforms"] == ["strategy:chain_of_thought"]
    assert results["provenance"]["requests"]["rounds"] == 2
    lines = [
        json.loads(line) for line in next((tmp_path / "runs").rglob("samples.jsonl")).read_text().splitlines()
    ]
    assert all(line["exchanges"][0]["prompt"][-1]["content"][-1]["text"].endswith(CHAIN_OF_THOUGHT_PROMPT)
               for line in lines)  # fmt: skip


@pytest.fixture(scope="module")
def llava(tiny_model_factory: TinyModelFactory) -> Path:  # noqa: F811
    pytest.importorskip("transformers")
    return tiny_model_factory("llava")


@pytest.mark.parametrize("strategy", ["chain_of_thought", "generated_knowledge", "tree_of_thought:2"])
def test_strategies_on_pope_and_mmstar_with_a_tiny_vlm(strategy: str, llava: Path, tmp_path: Path) -> None:
    spec = f"strategy:{strategy}:reasoning_max_new_tokens=6"
    options: dict[str, Any] = {
        "model_args": "dtype=float32",
        "store": tmp_path / "s.sqlite",
        "output_dir": None,
    }
    pope_data, mmstar_data = pope_with_images(tmp_path / "pope", 1), data_builder("mmstar", "mmstar")
    assert mmstar_data is not None
    runs = {
        "pope": {"data": pope_data},
        "mmstar": {"data": mmstar_data(tmp_path / "mmstar"), "limit": 3},
    }
    rounds = 3 if strategy.startswith("tree") else 2
    for name, given in runs.items():
        run = api.evaluate(name, f"hf:{llava}", transforms=[spec], **given, **options)
        assert run.results["counts"]["errors"] == 0, name
        assert run.results["provenance"]["requests"]["rounds"] == rounds, name
        for record in run.records:
            assert record.exchanges is not None and record.response == record.exchanges[-1].response
            assert record.details["strategy"]["rounds"] == rounds
        rerun = api.evaluate(name, f"hf:{llava}", transforms=[spec], **given, **options)
        assert rerun.stats is not None and rerun.stats.computed == 0, name


def test_chain_of_thought_on_seedbench_likelihood_with_a_tiny_vlm(llava: Path, tmp_path: Path) -> None:
    seed_data = data_builder("seedbench", "seedbench")
    assert seed_data is not None
    options: dict[str, Any] = {
        "model_args": "dtype=float32",
        "data": seed_data(tmp_path / "seed"),
        "limit": 3,
        "store": tmp_path / "s.sqlite",
        "output_dir": None,
        "transforms": ["strategy:chain_of_thought:reasoning_max_new_tokens=6"],
    }
    run = api.evaluate("seedbench", f"hf:{llava}", **options)
    assert run.results["counts"]["errors"] == 0
    assert run.results["provenance"]["requests"]["rounds"] == 2
    for record in run.records:
        reasoning = record.details["reasoning"]
        assert record.option_scores is not None and len(record.option_scores.logprobs) >= 2
        ranked = record.exchanges[-1] if record.exchanges else None
        assert ranked is not None and ranked.round == 2
        assert isinstance(reasoning, str)
    rerun = api.evaluate("seedbench", f"hf:{llava}", **options)
    assert rerun.stats is not None and rerun.stats.computed == 0
