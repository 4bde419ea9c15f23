"""MMR: the official letter extraction and pair metrics on all 600 real questions, checked against an
independent re-implementation of the official calculation.py, plus hand-worked numbers and layouts."""

from __future__ import annotations

import json
import random
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.errors import DataError
from mmlens.tasks.mmr.metric import extract_mmr_letter
from mmlens.tasks.mmr.scenario import extract_images
from tests.fixtures.benchmark_helpers import (
    MMR_JSON,
    local_copy,
    prompt_images,
    prompt_text,
    write_predictions,
)

SUFFIX = "\nAnswer with the option's letter from the given choices directly."


def official_calculation(responses: list[str], data: list[dict]) -> dict[str, dict[str, float]]:
    """evaluation/models/calculation.py re-implemented: consecutive items are a pair, the category
    is the first two parts of the id joined by "_" (counted here, so the published dict's
    'attribute_existential' key, which the data does not use, cannot raise KeyError)."""
    preds, labels, types, keys = [], [], [], []
    for text, item in zip(responses, data, strict=True):
        if text.find(".") != -1:
            text = text.split(".")[0]
        text = text.replace(",", " ")
        words = text.split(" ")
        preds.append(next((letter for letter in "ABCD" if letter in words), "E"))
        labels.append(item["ground_truth"])
        types.append(item["question_type"])
        keys.append(item["id"].split("/")[0] + "_" + item["id"].split("/")[1])
    robust, misled, total = Counter(), Counter(), Counter()
    for i in range(0, len(preds), 2):
        if preds[i] == labels[i] and preds[i + 1] == labels[i + 1]:
            robust["all"] += 1
            robust[keys[i]] += 1
        elif (preds[i] == labels[i] and preds[i + 1] != labels[i + 1] and types[i] == "POS") or (
            preds[i] != labels[i] and preds[i + 1] == labels[i + 1] and types[i + 1] == "POS"
        ):
            misled["all"] += 1
            misled[keys[i]] += 1
        total[keys[i]] += 1
        total["all"] += 1
    return {
        key: {
            "ra": robust[key] / total[key],
            "mr": misled[key] / (robust[key] + misled[key]) if robust[key] + misled[key] else 0.0,
        }
        for key in total
    }


FORMATS = [
    "{L}",
    "{L}.",
    "({L})",
    "The answer is {L}",
    "Answer: {L}. Because of the sign.",
    "{l}",
    "{L}, since",
]
# Official quirks: the article "A" is a standalone "A", and "A" wins over a letter written before it.
FORMATS += ["A cat is shown, so {L}", "{L} rather than A"]


def simulated_responses(data: list[dict]) -> list[str]:
    rng = random.Random(7)
    responses = []
    for item in data:
        right = rng.random() < (0.75 if item["question_type"] == "POS" else 0.55)
        letter = (
            item["ground_truth"] if right else rng.choice([x for x in "ABCD" if x != item["ground_truth"]])
        )
        responses.append(rng.choice(FORMATS).format(L=letter, l=letter.lower()))
    return responses


def sample_ids(data: list[dict]) -> list[str]:
    seen: Counter[str] = Counter()
    ids = []
    for item in data:
        ids.append(f"{item['id']}/{seen[item['id']]}")
        seen[item["id"]] += 1
    return ids


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("B", "B"),
        ("B.", "B"),
        ("(B)", None),  # split on spaces: "(B)" is not a standalone letter
        ("The answer is C", "C"),
        ("Answer: D. Because", "D"),
        ("b", None),  # case-sensitive
        ("C, then A", "A"),  # letters are tried in the order A, B, C, D, not by position
        ("D. A is wrong", "D"),  # only the text before the first "."
        ("A dog", "A"),
        ("E", None),
        ("", None),
    ],
)
def test_official_extraction(response: str, answer: str | None) -> None:
    assert extract_mmr_letter(response).answer == answer


def test_all_600_questions_score_exactly_as_the_official_calculation(tmp_path: Path) -> None:
    data = json.loads(MMR_JSON.read_text())
    responses = simulated_responses(data)
    items = list(zip(sample_ids(data), responses, strict=True))
    results = api.score("mmr", write_predictions(tmp_path / "p.jsonl", items), data=MMR_JSON.parent).results
    reference = official_calculation(responses, data)
    assert results["counts"]["scored"] == 600
    assert results["metrics"]["ra"]["value"] == pytest.approx(reference["all"]["ra"], abs=1e-12)
    assert results["metrics"]["mr"]["value"] == pytest.approx(reference["all"]["mr"], abs=1e-12)
    categories = {key: value for key, value in reference.items() if key != "all"}
    assert len(categories) == 12
    for key, expected in categories.items():
        node = results["breakdown"][key.replace("_", "/", 1)]
        assert node["ra"]["value"] == pytest.approx(expected["ra"], abs=1e-12), key
        assert node["mr"]["value"] == pytest.approx(expected["mr"], abs=1e-12), key
    low, high = results["metrics"]["mr"]["ci95"]
    assert low < results["metrics"]["mr"]["value"] < high


def test_ground_truth_answers_are_fully_robust(tmp_path: Path) -> None:
    data = json.loads(MMR_JSON.read_text())
    items = list(zip(sample_ids(data), [item["ground_truth"] for item in data], strict=True))
    metrics = api.score("mmr", write_predictions(tmp_path / "p.jsonl", items), data=MMR_JSON).results[
        "metrics"
    ]
    assert (metrics["ra"]["value"], metrics["mr"]["value"], metrics["acc"]["value"]) == (1.0, 0.0, 1.0)


HAND = [
    "D",  # 01 NEG (D): right
    "(C)",  # 01 POS (C): no answer -> pair 01 is neither robust nor misled
    "The answer is C",  # 02 NEG (C): right
    "B.",  # 02 POS (B): right -> pair 02 robust
    "A dog, then D",  # 03 NEG (D): "A" -> wrong
    "D",  # 03 POS (D): right -> pair 03 misled
    "C",  # 04 NEG (D): wrong
    "b",  # 04 POS (B): no answer -> neither
]


def test_hand_worked_pairs(tmp_path: Path) -> None:
    copy, _ = local_copy(tmp_path / "mmr", 8, with_images=False)
    data = json.loads((copy / "MMR-benchmark.json").read_text())
    predictions = write_predictions(tmp_path / "p.jsonl", zip(sample_ids(data), HAND, strict=True))
    results = api.score("mmr", predictions, data=copy).results
    # 4 pairs: 1 robust (02), 1 misled (03) -> RA 1/4, MR 1/(1+1); 4 of 8 questions right.
    metrics = results["metrics"]
    assert (metrics["ra"]["value"], metrics["mr"]["value"], metrics["acc"]["value"]) == (0.25, 0.5, 0.5)
    assert results["counts"]["failed_extraction"] == 2
    assert set(results["breakdown"]) == {"character", "character/character"}


def test_local_copy_with_images_end_to_end(tmp_path: Path) -> None:
    copy, digests = local_copy(tmp_path / "mmr", 8, with_images=True)
    run = api.evaluate(
        "mmr",
        "constant",
        model_args="text=C",
        data=copy,
        store=tmp_path / "s.sqlite",
        output_dir=tmp_path / "r",
    )
    data = json.loads((copy / "MMR-benchmark.json").read_text())
    assert [r.id for r in run.records] == sample_ids(data)
    for record, item in zip(run.records, data, strict=True):
        assert prompt_images(record.prompt) == [digests[item["image"]]]
        assert prompt_text(record.prompt) == item["question"] + SUFFIX
    # Always "C": pair 01 (NEG D, POS C) is misled; pairs 02-04 get at most the negative right.
    metrics = run.results["metrics"]
    assert (metrics["ra"]["value"], metrics["mr"]["value"]) == (0.0, 1.0)


def test_image_zip_with_a_top_folder_is_extracted_to_the_json_paths(tmp_path: Path) -> None:
    archive = tmp_path / "MMR-benchmark-images.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("MMR-benchmark-images/character/character/01.jpg", b"one")
        handle.writestr("MMR-benchmark-images/context/expert/02.jpg", b"two")
        handle.writestr("__MACOSX/._01.jpg", b"junk")
    extract_images(archive, tmp_path / "out")
    assert (tmp_path / "out" / "character" / "character" / "01.jpg").read_bytes() == b"one"
    assert (tmp_path / "out" / "context" / "expert" / "02.jpg").is_file()
    assert not (tmp_path / "out" / "__MACOSX").exists()


def test_missing_inputs_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    predictions = write_predictions(tmp_path / "p.jsonl", [("character/character/01/0", "A")])
    with pytest.raises(DataError, match="expected MMR-benchmark.json or a folder holding it"):
        api.score("mmr", predictions, data=tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(
        DataError, match=r"cannot load BAAI/Multimodal-Robustness-Benchmark from the Hugging Face hub"
    ):
        api.score("mmr", predictions)


@pytest.mark.parametrize(("response", "letter"), [("B\n", "B"), ("\nB", "B"), ("  C. because", "C")])
def test_the_response_is_stripped_as_the_official_model_scripts_do(response: str, letter: str) -> None:
    from mmlens.tasks.mmr.metric import extract_mmr_letter

    assert extract_mmr_letter(response).answer == letter
