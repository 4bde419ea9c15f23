"""The verbalizer transform: ChEF's OPTION_MAP (scenario/vqa_dataset.py L7-18 of
Coach257/ChEF@54df7bb), the clause per option, the words ranked instead of the options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.errors import ConfigError
from mmlens.core.messages import Message, TextPart
from mmlens.core.parts import LoadContext, TransformContext
from mmlens.core.requests import Response
from mmlens.core.sample import BadSample, Sample
from mmlens.core.task import TaskCatalog
from mmlens.inferencers.ranking import RankChoicesTokenMean
from mmlens.transforms.likelihood import ChefLikelihood, Likelihood
from mmlens.transforms.verbalizer import (
    CHEF_RUN_SET,
    MAP_NAMES,
    VerbalizedRanking,
    Verbalizer,
    clause,
    verbalizers,
)
from tests.fixtures.benchmark_data import build_seed2_json


def mc(choices: int = 4, target: str = "B", sample_id: str = "7") -> Sample:
    options = [f"option {i}" for i in range(choices)]
    text = (
        "Question: Which one?\nOptions: "
        + " ".join(f"({'ABCDEFGH'[i]}) {o}" for i, o in enumerate(options))
        + "\n"
    )
    return Sample(id=sample_id, messages=[Message("user", (TextPart(text),))], target=target, choices=options)


def test_the_maps_are_chefs() -> None:
    assert verbalizers("natural_0", 4) == ["1", "2", "3", "4"]
    assert verbalizers("natural_1", 5) == ["I", "II", "III", "IV", "V"]
    assert verbalizers("natural_2", 6) == ["first", "second", "third", "fourth", "fifth", "sixth"]
    assert verbalizers("natural_3", 2) == ["(1)", "(2)"]
    assert verbalizers("natural_4", 3) == ["α", "β", "γ"]
    assert verbalizers("neutral_0", 8) == [
        "Smith",
        "Johnson",
        "Williams",
        "Jones",
        "Brown",
        "Davis",
        "Miller",
        "Wilson",
    ]
    assert verbalizers("neutral_1", 8) == ["foo", "dog", "hip", "oh", "cat", "lake", "river", "joy"]
    assert verbalizers("neutral_2", 8) == ["~", "@", "#", "$", "%", "^", "&", "*"]
    # unnatural_0: options[1:] + options[:1] of ChEF's "(A", "(B", ... ; unnatural_1 rotates right
    assert verbalizers("unnatural_0", 4) == ["(B", "(C", "(D", "(A"]
    assert verbalizers("unnatural_1", 4) == ["(D", "(A", "(B", "(C"]
    assert verbalizers("origin", 3) == ["(A", "(B", "(C"]
    assert CHEF_RUN_SET == ("natural_0", "natural_1", "natural_2", "neutral_0", "neutral_1", "unnatural_0")
    assert len(MAP_NAMES) == 11
    with pytest.raises(ValueError, match="6 words"):
        verbalizers("natural_2", 7)


def test_the_question_gains_one_clause_per_option() -> None:
    # map_template = 'If the answer is "{}", you need to output "{}". ' with opt + ')' = "(A)"
    assert clause("natural_0", 2) == (
        'If the answer is "(A)", you need to output "1". If the answer is "(B)", you need to output "2". '
    )
    assert clause("unnatural_0", 2) == (
        'If the answer is "(A)", you need to output "(B". If the answer is "(B)", you need to output "(A". '
    )
    assert clause("origin", 4) == ""
    (out,) = Verbalizer(map="neutral_0").transform_sample(mc(2))
    assert out.question == (
        "Question: Which one?\nOptions: (A) option 0 (B) option 1\n"  # ends with a newline: no separator
        'If the answer is "(A)", you need to output "Smith". '
        'If the answer is "(B)", you need to output "Johnson". '
    )
    assert out.choices == ["option 0", "option 1"] and out.target == "B" and out.id == "7"  # as shown
    plain = Sample(id="q", messages=[Message("user", (TextPart("Which?"),))], target="A", choices=["x", "y"])
    assert Verbalizer(map="natural_0").transform_sample(plain)[0].question.startswith("Which?\nIf the answer")


def test_the_words_are_ranked_and_the_letter_is_the_answer() -> None:
    (question,) = Verbalizer(map="natural_1").transform_sample(mc(3, target="C"))
    inferencer = Verbalizer(map="natural_1").adapt_inferencer(RankChoicesTokenMean())
    requests = inferencer.plan(question, list(question.messages))
    assert [r.continuation for r in requests] == ["I", "II", "III"]
    responses = [Response(logprob=value, usage={"completion_tokens": 1}) for value in (-2.0, -1.0, -1.0)]
    prediction = inferencer.combine(question, requests, responses)
    assert prediction.answer == "B"  # the tie between II and III goes to the first
    assert prediction.details["verbalizer"] == {"map": "natural_1", "output": "II"}


def test_after_the_likelihood_transform_the_words_fill_its_template() -> None:
    likelihood = Likelihood(template="The answer is {option}")
    inferencer = Verbalizer(map="natural_0").adapt_inferencer(
        likelihood.adapt_inferencer(RankChoicesTokenMean())
    )
    assert isinstance(inferencer, VerbalizedRanking) and isinstance(inferencer.inner, ChefLikelihood)
    (question,) = Verbalizer(map="natural_0").transform_sample(likelihood.transform_sample(mc(2))[0])
    assert [r.continuation for r in inferencer.plan(question, list(question.messages))] == [
        "The answer is ",
        "The answer is 1",
        "The answer is 2",
    ]


def test_refusals() -> None:
    with pytest.raises(ConfigError, match="likelihood ranking"):
        TaskCatalog().load("mmstar", transforms=["verbalizer:natural_0"])  # generates text
    with pytest.raises(ConfigError, match="unknown verbalizer map"):
        TaskCatalog().load("seedbench2", transforms=["verbalizer:natural_9"])
    # seven options under natural_2 (six words): a bad sample, named, as ChEF cannot run it either
    transformed = Verbalizer(map="natural_2").apply([mc(7), mc(2, sample_id="8")], _context())
    assert isinstance(transformed[0], BadSample) and "6 words" in transformed[0].reason
    assert isinstance(transformed[1], Sample)
    # a yes/no question passes unchanged
    yes_no = Sample(id="y", messages=[Message("user", (TextPart("Is it?"),))], target="yes")
    assert Verbalizer().transform_sample(yes_no) == [yes_no]


def _context() -> TransformContext:
    return TransformContext("t", LoadContext("t", Path(".")), lambda _split: [])


def test_scored_from_option_logprobs_with_the_label(tmp_path: Path) -> None:
    data = build_seed2_json(tmp_path / "seed2")
    task = api.load_task("seedbench2", transforms=["verbalizer:unnatural_0"])
    assert [t.label() for t in task.transforms] == ["verbalizer:unnatural_0"]
    samples = [
        s
        for s in task.scenario.load(LoadContext("seedbench2", task.task_dir, str(data)))
        if isinstance(s, Sample)
    ]
    lines = []
    for sample in samples:
        gold = "ABCD".index(str(sample.target))
        lines.append({"id": sample.id, "option_logprobs": [0.0 if i == gold else -3.0 for i in range(4)]})
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("".join(json.dumps(line) + "\n" for line in lines))
    scored = api.score("seedbench2", predictions, data=data, transforms=["verbalizer:unnatural_0"])
    assert scored.results["metrics"]["acc"]["value"] == 1.0
    record = scored.records[0]
    gold = "ABCD".index(str(record.target))
    assert record.details["verbalizer"]["output"] == verbalizers("unnatural_0", 4)[gold]
