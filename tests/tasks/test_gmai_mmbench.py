"""GMAI-MMBench: VLMEvalKit's exact-matching extraction, the per-axis accuracies and --select."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlens import api
from mmlens.cli import main
from mmlens.core.errors import ConfigError, DataError
from mmlens.tasks.gmai_mmbench.metric import extract_gmai_answer
from tests.fixtures.benchmark_data import write_predictions
from tests.fixtures.gmai_mmbench_data import (
    OPTIONS,
    build_gmai_test_parts,
    build_gmai_val,
    gmai_rows,
    write_tsv,
)

# Expected letters computed with VLMEvalKit e8e78f0 vlmeval/utils/matching_util.py::can_infer on the
# five options of OPTIONS (None where it returns False: exact_matching then gives "Z", a miss).
OFFICIAL_CASES = [
    ("C", "C"),
    ("(B)", "B"),
    ("B. Brain MRI", "B"),
    ("Answer: E", "E"),
    ("I think A or B", None),  # two letters, no "answer is"
    ("A quick look says the image is C", None),  # "A" is a second letter
    ("C is right because of the white matter lesions visible", None),  # not among the last 4 words
    ("The correct answer is **c**", "C"),
    ("The answer is C. Also A.", "C"),  # two letters, then "answer is C"
    ("The answer is B because the image shows a brain slice in axial view", "B"),
    ("The answer is E because the image shows the retina with its vessels", None),  # [ABCD] only
    ("the answer is E", "E"),  # E is one of the last 4 words
    ("brain mri", "B"),  # the option text
    ("chest x-ray or brain mri", None),  # two option texts
    ("It is an abdominal ct scan", "C"),
    ("Cannot determine the answer. A", "Z"),  # refusal phrase
    ("Sorry, I can't help with images of people yet. B", "Z"),
    ("Z", "Z"),
    ("Failed to obtain answer via API. B", None),  # the letter rules are skipped
    ("Failed to obtain answer via API. brain mri", "B"),  # ... the option text is not
    ("E)", "E"),
    ("", None),
]


@pytest.mark.parametrize(("response", "letter"), OFFICIAL_CASES)
def test_extraction_matches_vlmevalkit_can_infer(response: str, letter: str | None) -> None:
    assert extract_gmai_answer(response, OPTIONS).answer == letter


def test_a_letter_past_the_options_is_no_answer() -> None:
    assert extract_gmai_answer("E", OPTIONS[:4]).answer is None
    assert extract_gmai_answer("fundus photograph", OPTIONS[:4]).answer is None
    assert extract_gmai_answer("C", OPTIONS).method == "exact"
    assert extract_gmai_answer("(C)", OPTIONS).method == "rule"


# targets: 0 A, 1 B, 2 C, 3 D, 4 B, 5 E, 6 A, 7 C
RESPONSES = {
    "0": "A",  # right
    "1": "The answer is B",  # right
    "2": "I think A or B",  # failed: wrong
    "3": "Knee ultrasound",  # right (option text)
    "4": "C",  # wrong
    "5": "E",  # right
    "6": "Cannot determine the answer",  # Z: wrong
    "7": "C",  # right
}


def test_score_overall_and_per_axis_by_hand(tmp_path: Path) -> None:
    data = build_gmai_val(tmp_path)
    predictions = write_predictions(tmp_path / "p.jsonl", RESPONSES)
    result = api.score("gmai_mmbench_val", predictions, data=data, output_dir=None).results
    assert result["metrics"]["acc"]["value"] == pytest.approx(5 / 8)
    breakdown = result["breakdown"]
    assert breakdown["clinical vqa task/Modality Recognition"]["acc"]["value"] == 1.0
    assert breakdown["clinical vqa task/Disease Diagnosis"]["acc"]["value"] == pytest.approx(2 / 4)
    assert breakdown["clinical vqa task/Severity Grading"]["acc"]["value"] == pytest.approx(1 / 2)
    assert breakdown["department/Urology"]["acc"]["value"] == 1.0
    assert breakdown["department/Neurosurgery"]["acc"]["value"] == pytest.approx(1 / 2)
    assert breakdown["perceptual granularity/Organ Level"]["acc"]["value"] == pytest.approx(2 / 3)
    assert breakdown["perceptual granularity/Lesion Level"]["acc"]["value"] == 0.0
    assert breakdown["category/Brain MRI"]["acc"]["n"] == 2
    assert not any(node.startswith("modality") for node in breakdown)  # not reported officially
    assert result["counts"]["failed_extraction"] == 1


def test_select_a_subtree_and_break_it_down_by_the_chosen_axes(tmp_path: Path) -> None:
    data = build_gmai_val(tmp_path)
    predictions = write_predictions(tmp_path / "p.jsonl", RESPONSES)  # every id, selected or not
    result = api.score(
        "gmai_mmbench_val",
        predictions,
        data=data,
        transforms=[{"type": "select", "criteria": {"modality": ["CT", "MR"]}}],
        output_dir=None,
    ).results
    # CT: 2 failed, 3 right, 7 right; MR: 1 right, 4 wrong
    assert result["metrics"]["acc"]["n"] == 5
    assert result["metrics"]["acc"]["value"] == pytest.approx(3 / 5)
    assert result["breakdown"]["modality/CT"]["acc"]["value"] == pytest.approx(2 / 3)
    assert result["breakdown"]["modality/MR"]["acc"]["value"] == pytest.approx(1 / 2)
    assert "modality/X-Ray" not in result["breakdown"]
    assert result["breakdown"]["department/Urology"]["acc"]["n"] == 2


def test_select_on_the_command_line_and_its_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = build_gmai_val(tmp_path)
    predictions = write_predictions(tmp_path / "p.jsonl", RESPONSES)
    base = ["score", "gmai_mmbench_val", "--predictions", str(predictions), "--data", str(data), "--json"]
    assert main([*base, "--select", "modality=CT,clinical_vqa_task=Disease Diagnosis"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["metrics"]["acc"]["n"] == 2  # rows 2 and 3
    assert set(result["breakdown"]) >= {"modality/CT", "clinical vqa task/Disease Diagnosis"}

    assert main([*base, "--select", "department=Urolgy"]) != 0
    error = capsys.readouterr().err
    assert "--select department=Urolgy" in error and "did you mean 'Urology'" in error
    assert "valid values: Gastroenterology, Neurosurgery, Ophthalmology, Pulmonary Medicine, Urology" in error

    assert main([*base, "--select", "organ=liver"]) != 0
    error = capsys.readouterr().err
    assert "has no axis 'organ'" in error and "clinical vqa task, department, modality" in error

    assert main([*base, "--select", "modality"]) != 0
    assert "expected AXIS=VALUE" in capsys.readouterr().err


def test_limit_counts_selected_samples_and_a_run_asks_only_them(tmp_path: Path) -> None:
    data = build_gmai_val(tmp_path)
    result = api.evaluate(
        "gmai_mmbench_val",
        "constant",
        model_args="text=C",
        data=data,
        limit=2,
        transforms=["select:modality=CT"],
        store=tmp_path / "s.sqlite",
        output_dir=None,
    )
    assert [record.id for record in result.records] == ["2", "3"]
    assert result.results["metrics"]["acc"]["value"] == pytest.approx(1 / 2)
    prompt = result.records[0].prompt[0]["content"]
    assert prompt[0]["type"] == "image"
    assert prompt[1]["text"] == (
        "Question: Question 2: which kind of image is this?\nOptions:\nA. Chest X-ray\nB. Brain MRI\n"
        "C. Abdominal CT\nD. Knee ultrasound\nPlease select the correct answer from the options above. \n"
    )


def test_select_in_task_yaml(tmp_path: Path) -> None:
    data = build_gmai_val(tmp_path)
    source = Path(api.load_task("gmai_mmbench_val").source).read_text()
    include = tmp_path / "tasks"
    include.mkdir()
    own = source.replace("name: gmai_mmbench_val", "name: gmai_ct_urology").split("variants:")[0]
    (include / "gmai_ct_urology.yaml").write_text(
        own + "select: {modality: CT, department: [Urology]}\nscenario: {type: gmai_mmbench}\n"
    )
    (include / "gmai_mmbench").symlink_to(Path(api.load_task("gmai_mmbench_val").source).parent)
    predictions = write_predictions(tmp_path / "p.jsonl", RESPONSES)
    result = api.score("gmai_ct_urology", predictions, data=data, include=[include], output_dir=None)
    assert [record.id for record in result.records] == ["3", "7"]


def test_scoring_needs_no_images(tmp_path: Path) -> None:
    data = write_tsv(tmp_path / "no_images.tsv", gmai_rows(with_images=False))
    predictions = write_predictions(tmp_path / "p.jsonl", RESPONSES)
    result = api.score("gmai_mmbench_val", predictions, data=data, output_dir=None).results
    assert result["metrics"]["acc"]["value"] == pytest.approx(5 / 8)
    with pytest.raises(DataError, match="has no images, so no model can be run on it"):
        api.evaluate("gmai_mmbench_val", "constant", data=data, store=tmp_path / "s.db", output_dir=None)


def test_test_parts_are_read_in_order_and_refused_without_answers(tmp_path: Path) -> None:
    predictions = write_predictions(tmp_path / "p.jsonl", RESPONSES)
    with pytest.raises(DataError, match="no row with an answer"):
        api.score("gmai_mmbench_test", predictions, data=build_gmai_test_parts(tmp_path / "t"))
    answered = build_gmai_test_parts(tmp_path / "answered", with_answers=True)
    result = api.score("gmai_mmbench_test", predictions, data=answered, output_dir=None)
    assert [record.id for record in result.records] == [str(i) for i in range(8)]
    with pytest.raises(DataError, match="--data PATH"):
        api.score("gmai_mmbench_val", predictions)


def test_select_values_must_be_a_mapping_in_yaml() -> None:
    from mmlens.core.select import selection_spec

    with pytest.raises(ConfigError, match="select: expected a mapping"):
        selection_spec(["CT"], "task file x: select")


def test_run_select_from_the_command_line_and_a_run_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = build_gmai_val(tmp_path)
    common = ["--data", str(data), "--store", str(tmp_path / "s.db"), "--output-dir", str(tmp_path / "runs")]
    assert (
        main(["run", "gmai_mmbench_val", "--model", "constant", "--select", "department=Urology", *common])
        == 0
    )
    capsys.readouterr()
    config = tmp_path / "run.yaml"
    config.write_text("model: constant\ntasks: [gmai_mmbench_val]\nselect: {department: Urolgy}\n")
    assert main(["run", "--config", str(config), *common]) != 0
    assert "no sample of task gmai_mmbench_val has department 'Urolgy'" in capsys.readouterr().err
    config.write_text(
        "model: constant\ntasks: [gmai_mmbench_val]\nselect: {department: [Urology, Ophthalmology]}\n"
    )
    assert main(["run", "--config", str(config), *common]) == 0
    runs = sorted((tmp_path / "runs").rglob("results.json"))
    selected = [json.loads(path.read_text()) for path in runs]
    assert sorted(result["metrics"]["acc"]["n"] for result in selected) == [2, 3]


def test_the_judge_profile_asks_only_where_can_infer_finds_nothing(tmp_path: Path) -> None:
    data = build_gmai_val(tmp_path)
    predictions = write_predictions(tmp_path / "p.jsonl", RESPONSES)  # only "2" defeats can_infer
    scored = api.score(
        "gmai_mmbench_val",
        predictions,
        data=data,
        profile="vlmevalkit-judge",
        roles={"judge": "constant"},
        role_args={"judge": "text=The answer is (C)"},  # read by can_infer: C, right for row 2
        store=tmp_path / "s.db",
        output_dir=None,
    )
    by = {record.id: record.details.get("extracted_by") for record in scored.records}
    assert by == {**dict.fromkeys("0134567", "rule"), "2": "judge"}  # a refusal's Z is the rule's
    assert [record.answer for record in scored.records if record.id == "2"] == ["C"]
    result = scored.results
    assert result["metrics"]["acc"]["value"] == pytest.approx(6 / 8)
    assert result["breakdown"]["department/Gastroenterology"]["acc"]["value"] == 1.0
