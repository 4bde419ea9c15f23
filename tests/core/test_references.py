"""Reference answers that are more than one string: accepted answers, numbers with a tolerance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.sample import AcceptedAnswers, NumberWithTolerance

TASK = """
name: refs
description: Toy questions with several accepted answers or a numeric tolerance.
id_scheme: 'the "id" field'
scenario: {type: jsonl, path: refs.jsonl}
instruction: {type: template}
inferencer: {type: generate}
metric: {type: accuracy, extractor: exact}
"""


def write_task(folder: Path, rows: list[dict[str, object]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "refs.yaml").write_text(TASK)
    (folder / "refs.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


def score(folder: Path, tmp_path: Path, responses: dict[str, str]) -> dict[str, float]:
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("".join(json.dumps({"id": k, "response": v}) + "\n" for k, v in responses.items()))
    result = api.score("refs", predictions, include=[folder])
    return {record.id: record.scores["acc"] for record in result.records}


ROWS: list[dict[str, object]] = [
    {"id": "a", "question": "How many?", "answers": ["2", "two"]},
    {"id": "n", "question": "What length?", "answer": 3.5, "tolerance": 0.1},
    {"id": "r", "question": "What mass?", "answer": 200, "tolerance": 0.05, "relative": True},
    {"id": "s", "question": "Colour?", "answer": "red"},
]


def test_any_accepted_answer_is_right_and_tolerances_hold(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", ROWS)
    right = score(folder, tmp_path, {"a": "Two", "n": "3.58 cm", "r": "about 209.9", "s": "Red"})
    assert right == {"a": 1.0, "n": 1.0, "r": 1.0, "s": 1.0}
    # Just outside each tolerance (0.1 absolute; 5% of 200 = 10), and an answer not in the list.
    wrong = score(folder, tmp_path, {"a": "three", "n": "3.61", "r": "210.1", "s": "blue"})
    assert wrong == {"a": 0.0, "n": 0.0, "r": 0.0, "s": 0.0}


def test_the_references_are_typed_on_the_sample_and_in_the_fingerprint(tmp_path: Path) -> None:
    from mmlens.core.parts import LoadContext
    from mmlens.runner.plan import load_samples

    folder = write_task(tmp_path / "t", ROWS)
    task = api.load_task("refs", include=[folder])
    samples, _ = load_samples(task, LoadContext("refs", folder))
    by_id = {sample.id: sample for sample in samples}
    assert by_id["a"].reference == AcceptedAnswers(answers=("2", "two")) and by_id["a"].target == "2"
    assert by_id["r"].reference == NumberWithTolerance(value=200, tolerance=0.05, relative=True)
    assert by_id["s"].reference is None and "reference" not in by_id["s"].canonical()
    assert by_id["a"].canonical()["reference"] == {"kind": "answers", "answers": ["2", "two"]}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"id": "x", "question": "q", "answers": []}, '"answers" must be a non-empty list'),
        ({"id": "x", "question": "q", "answer": "3", "tolerance": 0.1}, "must be numbers"),
    ],
)
def test_a_malformed_reference_is_a_bad_sample_naming_the_line(
    tmp_path: Path, row: dict[str, object], message: str
) -> None:
    folder = write_task(tmp_path / "t", [row, ROWS[3]])
    predictions = tmp_path / "p.jsonl"
    predictions.write_text(json.dumps({"id": "s", "response": "red"}) + "\n")
    scored = api.score("refs", predictions, include=[folder])
    bad = scored.results["bad_samples"]
    assert len(bad) == 1 and bad[0]["id"] == "x"
    assert message in bad[0]["reason"] and "line 1" in bad[0]["reason"]


def test_the_default_extractor_reads_structured_references_exactly(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", ROWS)
    yaml_file = folder / "refs.yaml"
    yaml_file.write_text(
        yaml_file.read_text().replace(
            "metric: {type: accuracy, extractor: exact}", "metric: {type: accuracy}"
        )
    )
    # choice_or_yes_no would find no letter or yes/no in these: structured references use exact.
    assert score(folder, tmp_path, {"a": "two", "n": "3.52", "r": "205", "s": "red"}) == {
        "a": 1.0,
        "n": 1.0,
        "r": 1.0,
        "s": 0.0,  # "red" is no yes/no answer: the plain target keeps its rule
    }
