"""MMBench / CCBench on the real sample images: CircularEval passes, the judge-free extraction,
circular and vanilla accuracy worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.errors import DataError
from mmlens.core.options import rotate_options
from mmlens.core.parts import LoadContext
from mmlens.core.task import TaskCatalog
from mmlens.tasks.mmbench.metric import extract_mmbench_answer
from tests.fixtures.benchmark_data import (
    MMBENCH_QUESTIONS,
    PUBLISHED_ROTATION_21,
    build_ccbench_tsv,
    build_mmbench_parquet_with_rotations,
    build_mmbench_tsv,
    write_predictions,
)

TRUCKS = ["six", "five", "seven", "eight"]


@pytest.mark.parametrize(
    ("response", "answer", "method"),
    [
        ("B", "B", "exact"),
        ("B. five", "B", "rule"),  # punctuation becomes spaces; one letter, among the last 4 words
        ("(C)", "C", "rule"),
        ("The correct option is D", "D", "rule"),
        ("Sorry, I can't help with images of people yet.", "Z", "rule"),  # refusal phrase
        ("Cannot determine the answer from this photo, it is too dark", "Z", "rule"),
        ("Z", "Z", "rule"),  # no option letter, but the word Z
        ("A or B", None, "failed"),  # two option letters, no 'answer is', no option text
        ("B is my final choice for this question", None, "failed"),  # the letter is not in the last 4 words
        ("B is my final choice", None, "failed"),  # fifth word from the end: just outside
        ("B is my choice", "B", "rule"),  # fourth word from the end: inside
        ("I think the answer is C because there are seven of them", "C", "rule"),  # 'answer is X'
        ("My answer is b, seven trucks", "B", "rule"),  # case-insensitive 'answer is X'
        ("There are seven.", "C", "rule"),  # option text, once, short enough
        ("seven or eight", None, "failed"),  # two option texts
        ("I count " + "many " * 10 + "seven", None, "failed"),  # longer than twice all option texts
        ("", None, "failed"),
    ],
)
def test_extraction_steps(response: str, answer: str | None, method: str) -> None:
    extraction = extract_mmbench_answer(response, TRUCKS)
    assert (extraction.answer, extraction.method) == (answer, method)


def test_rotation_rule() -> None:
    # pass k shows original option (p + k) mod n at position p; the answer moves with it
    assert rotate_options(["a", "b", "c", "d"], 1, 1) == (["b", "c", "d", "a"], 0)
    assert rotate_options(["a", "b", "c", "d"], 1, 2) == (["c", "d", "a", "b"], 3)
    assert rotate_options(["x", "y", "z"], 2, 2) == (["z", "x", "y"], 0)


def load_samples(task: str, data: Path, profile: str | None = None) -> list:
    loaded = TaskCatalog().load(task, profile)
    return list(loaded.scenario.load(LoadContext(task, loaded.task_dir, str(data))))


def test_tsv_without_rotations_generates_them(tmp_path: Path) -> None:
    samples = load_samples("mmbench_dev_en", build_mmbench_tsv(tmp_path / "dev.tsv"))
    assert len(samples) == 4 + 4 + 3 + 3 + 4 + 4  # one pass per option
    by_id = {s.id: s for s in samples}
    assert [s.id for s in samples[:4]] == ["21", "1000021", "2000021", "3000021"]
    assert {s.group for s in samples[:4]} == {"21"}
    assert by_id["1000021"].choices == [
        "a young boy barefoot holding an umbrella touching the horn of a cow",
        "A giraffe standing by a stall in a field.",
        "A stop sign that has been vandalized with graffiti.",
        "A man rides a surfboard on a large wave.",
    ]
    assert [by_id[i].target for i in ("21", "1000021", "2000021", "3000021")] == ["B", "A", "D", "C"]
    assert [by_id[i].target for i in ("2222", "1002222", "2002222")] == ["C", "B", "A"]
    assert by_id["318"].metadata["hint_line"].startswith("Hint: The diagram below")
    assert by_id["21"].metadata["hint_line"] == ""
    assert by_id["21"].category == ("finegrained_perception (cross-instance)", "action_recognition")
    assert by_id["2000021"].images[0].encoded() == by_id["21"].images[0].encoded()
    vanilla = load_samples("mmbench_dev_en", tmp_path / "dev.tsv", profile="vanilla")
    assert [s.id for s in vanilla] == [str(q["index"]) for q in MMBENCH_QUESTIONS]


def test_published_rotations_are_used_as_published(tmp_path: Path) -> None:
    samples = load_samples("mmbench_dev_en", build_mmbench_parquet_with_rotations(tmp_path / "hub"))
    by_id = {s.id: s for s in samples}
    assert sorted(by_id) == ["1000021", "1000812", "2000812", "21", "3000812", "812"]
    options, answer = PUBLISHED_ROTATION_21[1_000_021]
    assert (by_id["1000021"].choices, by_id["1000021"].target) == (options, answer)
    assert by_id["812"].category == ("coarse_perception", "image_scene")  # from the L2-category column


def test_prompt_is_the_official_one(tmp_path: Path) -> None:
    data = build_mmbench_tsv(tmp_path / "dev.tsv")
    result = api.evaluate("mmbench_dev_en", "constant", model_args="text=A", data=data, output_dir=None)
    prompts = {r.id: r.prompt[0]["content"] for r in result.records}
    assert prompts["318"][0]["type"] == "image"
    assert prompts["318"][1]["text"] == (
        "Hint: The diagram below is a model of two solutions. "
        "Each green ball represents one particle of solute.\n"
        "Question: Which solution has a higher concentration of green particles?\n"
        "Options:\nA. neither; their concentrations are the same\nB. Solution B\nC. Solution A\n"
        "Please select the correct answer from the options above. \n"
    )
    assert prompts["1000672"][1]["text"] == (
        "Question: How many trucks are in this photo?\n"
        "Options:\nA. five\nB. seven\nC. eight\nD. six\n"
        "Please select the correct answer from the options above. \n"
    )
    # "A" is right exactly in the passes whose answer moved to A: one per question -> no question passes
    assert result.results["metrics"]["circular_acc"]["value"] == 0.0
    assert result.results["metrics"]["vanilla_acc"]["value"] == pytest.approx(2 / 6)  # 812 and 672 (A)
    assert result.results["counts"]["scored"] == 22


def test_circular_and_vanilla_accuracy_by_hand(tmp_path: Path) -> None:
    data = build_mmbench_tsv(tmp_path / "dev.tsv")
    responses = {
        # 21 (answer B; passes B, A, D, C): all right -> passes
        "21": "B", "1000021": "A", "2000021": "D", "3000021": "C",
        # 812 (A; passes A, D, C, B): pass 1 wrong -> fails; pass 0 right
        "812": "A", "1000812": "A", "2000812": "C", "3000812": "B",
        # 2222 (C; passes C, B, A): right through three different extraction steps -> passes
        "2222": "C", "1002222": "The answer is B", "2002222": "The egg will be broken",
        # 318 (B; passes B, A, C): pass 1 is a refusal -> fails; pass 0 right
        "318": "B", "1000318": "Cannot determine the answer", "2000318": "C",
        # 672 (A): pass 0 names two letters -> failed extraction -> fails, pass 0 wrong
        "672": "B A", "1000672": "D", "2000672": "C", "3000672": "B",
        # 2368 (B; passes B, A, D, C): pass 0 by "answer is" (the letter is not in the last 4 words)
        "2368": "I think the answer is B because the athletes are diving here clearly",
        "1002368": "A", "2002368": "D", "3002368": "C",
    }  # fmt: skip
    result = api.score(
        "mmbench_dev_en", write_predictions(tmp_path / "p.jsonl", responses), data=data
    ).results
    assert result["metrics"]["circular_acc"]["value"] == pytest.approx(3 / 6)
    assert result["metrics"]["circular_acc"]["n"] == 6
    assert result["metrics"]["vanilla_acc"]["value"] == pytest.approx(5 / 6)
    breakdown = result["breakdown"]
    assert (
        breakdown["finegrained_perception (cross-instance)"]["circular_acc"]["value"] == 0.5
    )  # 21 yes, 318 no
    assert (
        breakdown["finegrained_perception (cross-instance)/attribute_comparison"]["circular_acc"]["value"]
        == 0
    )
    assert breakdown["coarse_perception"]["circular_acc"]["value"] == 0.0
    assert breakdown["coarse_perception"]["vanilla_acc"]["value"] == 1.0
    assert breakdown["logic_reasoning"]["circular_acc"]["value"] == 1.0
    assert breakdown["attribute_reasoning"]["circular_acc"]["value"] == 1.0
    assert result["counts"]["failed_extraction"] == 1  # "B A"

    # the vanilla profile asks each question once: its ids are the pass-0 ones
    first_passes = {k: v for k, v in responses.items() if int(k) < 1_000_000}
    scored = api.score(
        "mmbench_dev_en", write_predictions(tmp_path / "v.jsonl", first_passes), data=data, profile="vanilla"
    ).results
    assert list(scored["metrics"]) == ["acc"]
    assert scored["metrics"]["acc"]["value"] == pytest.approx(5 / 6)


def test_predictions_with_unknown_ids_are_refused(tmp_path: Path) -> None:
    data = build_mmbench_tsv(tmp_path / "dev.tsv")
    with pytest.raises(DataError, match=r"'4000021'.*id scheme: the row index"):
        api.score("mmbench_dev_en", write_predictions(tmp_path / "p.jsonl", {"4000021": "A"}), data=data)


def test_test_split_without_answers_says_so(tmp_path: Path) -> None:
    data = build_mmbench_tsv(tmp_path / "test.tsv", with_answers=False)
    predictions = write_predictions(tmp_path / "p.jsonl", {"21": "B"})
    with pytest.raises(DataError, match="publishes no answers \\(targets are absent"):
        api.score("mmbench_test_en", predictions, data=data)


def test_ccbench_end_to_end(tmp_path: Path) -> None:
    data = build_ccbench_tsv(tmp_path / "ccbench.tsv")
    result = api.evaluate("ccbench", "constant", model_args="text=B", data=data, output_dir=None).results
    # answers A, B, D: "B" is right in exactly one pass of each question, so none passes
    assert result["metrics"]["circular_acc"]["value"] == 0.0
    assert result["metrics"]["vanilla_acc"]["value"] == pytest.approx(1 / 3)
    assert set(result["breakdown"]) == {"scenery_building", "cultural_relic"}
    responses = {"0": "A", "1000000": "D", "2000000": "C", "3000000": "B", "1": "长城", "101": "D"}
    scored = api.score("ccbench", write_predictions(tmp_path / "p.jsonl", responses), data=data).results
    # question 0 passes (all four rotations right); 1 and 101 miss their other passes
    assert scored["metrics"]["circular_acc"]["value"] == pytest.approx(1 / 3)
    assert scored["metrics"]["vanilla_acc"]["value"] == 1.0  # "长城" is option B's text
