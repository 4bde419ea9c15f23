"""POPE: the official extraction and metrics on all 9,000 real questions, checked against an
independent re-implementation of the official evaluate.py, plus hand-worked numbers and layouts."""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
from pathlib import Path

import pytest
from PIL import Image

from mmlens import api
from mmlens.core.errors import DataError
from mmlens.tasks.pope.metric import extract_pope_lmms_eval, extract_pope_official
from tests.fixtures.benchmark_helpers import (
    POPE_COCO,
    POPE_SPLITS,
    first_questions,
    placeholder_image,
    prompt_images,
    prompt_text,
    write_predictions,
)

SPLITS = POPE_SPLITS


def official_evaluate(responses: list[str], label_file: Path) -> dict[str, float]:
    """RUCAIBox/POPE evaluate.py, re-implemented line by line."""
    label_list = [json.loads(q)["label"] for q in label_file.read_text().splitlines()]
    pred_list = []
    for text in responses:
        if text.find(".") != -1:
            text = text.split(".")[0]
        text = text.replace(",", "")
        words = text.split(" ")
        pred_list.append(0 if ("No" in words or "not" in words or "no" in words) else 1)
    labels = [0 if label == "no" else 1 for label in label_list]
    tp = sum(p == 1 and t == 1 for p, t in zip(pred_list, labels, strict=True))
    fp = sum(p == 1 and t == 0 for p, t in zip(pred_list, labels, strict=True))
    tn = sum(p == 0 and t == 0 for p, t in zip(pred_list, labels, strict=True))
    fn = sum(p == 0 and t == 1 for p, t in zip(pred_list, labels, strict=True))
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    return {
        "acc": (tp + tn) / (tp + tn + fp + fn),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall),
        "yes_ratio": pred_list.count(1) / len(pred_list),
    }


YES_STYLE = ["Yes", "yes", "Yes, there is a {o} in the image.", "There is a {o}.", "Not really sure, but yes"]
NO_STYLE = [
    "No",
    "No, there is no {o} in the image.",
    "There is not a {o} in the image.",
    "no.",
    "Yes, there is no doubt that the {o} is missing",
    "No\nThere is none.",  # official: "No\nThere" is one word, so this counts as yes
]


def simulated_responses(split: str) -> list[str]:
    """Varied, label-correlated responses for every question of a split (seeded)."""
    rng = random.Random(split)
    responses = []
    for line in (POPE_COCO / f"coco_pope_{split}.json").read_text().splitlines():
        row = json.loads(line)
        match = re.search(r"Is there an? (.+) in the image\?", row["text"])
        thing = match.group(1) if match else "thing"
        agree = rng.random() < (0.8 if row["label"] == "yes" else 0.7)
        style = YES_STYLE if (row["label"] == "yes") == agree else NO_STYLE
        responses.append(rng.choice(style).format(o=thing))
    return responses


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("No.", "no"),
        ("No", "no"),
        ("no", "no"),
        ("Not really", "yes"),  # "Not" is not one of the official no-words
        ("There is not a dog", "no"),
        ("Yes, there is no doubt", "no"),  # commas removed, "no" is a word of the first sentence
        ("Yes. There is no cat.", "yes"),  # only the text before the first "." counts
        ("There is a dog, not a cat", "no"),
        ("nothing", "yes"),
        ("No\nThere is none", "yes"),  # split on single spaces only: "No\nThere" is one word
        ("", "yes"),
        ("NO", "yes"),
    ],
)
def test_official_extraction(response: str, answer: str) -> None:
    assert extract_pope_official(response).answer == answer


def test_lmms_eval_extraction_is_exact_after_lowering_and_stripping() -> None:
    assert extract_pope_lmms_eval(" Yes ").answer == "yes"
    assert extract_pope_lmms_eval("No.").answer is None
    assert extract_pope_lmms_eval("No.").method == "failed"


def test_all_9000_questions_score_exactly_as_the_official_script(tmp_path: Path) -> None:
    responses = {split: simulated_responses(split) for split in SPLITS}
    items = [
        (f"{split}/{index + 1}", response)
        for split in SPLITS
        for index, response in enumerate(responses[split])
    ]
    result = api.score("pope", write_predictions(tmp_path / "p.jsonl", items), data=POPE_COCO.parent)
    results = result.results
    assert results["counts"]["scored"] == 9000
    references = {
        split: official_evaluate(responses[split], POPE_COCO / f"coco_pope_{split}.json") for split in SPLITS
    }
    for split, reference in references.items():
        for name, value in reference.items():
            assert results["breakdown"][split][name]["value"] == pytest.approx(value, abs=1e-12), (
                split,
                name,
            )
    assert results["metrics"]["f1_avg"]["value"] == pytest.approx(
        sum(r["f1"] for r in references.values()) / 3
    )
    # The single-split task, with ids without the split prefix, on the file itself.
    adversarial = [(str(index + 1), response) for index, response in enumerate(responses["adversarial"])]
    single = api.score(
        "pope_adversarial",
        write_predictions(tmp_path / "a.jsonl", adversarial),
        data=POPE_COCO / "coco_pope_adversarial.json",
    ).results
    for name, value in references["adversarial"].items():
        assert single["metrics"][name]["value"] == pytest.approx(value, abs=1e-12)
    low, high = single["metrics"]["f1"]["ci95"]
    assert low < single["metrics"]["f1"]["value"] < high


HAND_RESPONSES = [
    "Yes",  # label yes -> yes: TP
    "No.",  # label no -> no: TN
    "Not really",  # label yes -> yes: TP
    "Yes, there is no doubt",  # label no -> no: TN
    "There is a dog, not a cat.",  # label yes -> no: FN
    "No\nThere is none",  # label no -> yes: FP
    "Yes. There is no truck.",  # label yes -> yes: TP
    "",  # label no -> yes: FP
]


def test_hand_worked_example_and_the_lmms_eval_profile(tmp_path: Path) -> None:
    copy = first_questions(tmp_path / "pope", 8)
    items = [(str(index + 1), response) for index, response in enumerate(HAND_RESPONSES)]
    predictions = write_predictions(tmp_path / "p.jsonl", items)
    metrics = api.score("pope_random", predictions, data=copy).results["metrics"]
    # TP 3, TN 2, FN 1, FP 2: acc 5/8, precision 3/5, recall 3/4, F1 = 2(.6)(.75)/1.35 = 2/3, yes 5/8.
    expected = {"acc": 5 / 8, "precision": 3 / 5, "recall": 3 / 4, "f1": 2 / 3, "yes_ratio": 5 / 8}
    assert {name: metrics[name]["value"] for name in expected} == pytest.approx(expected)
    # lmms-eval: only the bare "Yes" is an answer (TP); yes_ratio is the share of "yes" labels.
    lmms = api.score("pope_random", predictions, data=copy, profile="lmms-eval").results["metrics"]
    expected = {"acc": 1 / 8, "precision": 1.0, "recall": 1.0, "f1": 1.0, "yes_ratio": 0.5}
    assert {name: lmms[name]["value"] for name in expected} == pytest.approx(expected)


def test_local_copy_with_images_end_to_end(tmp_path: Path) -> None:
    copy = first_questions(tmp_path / "pope", 12)
    digests: dict[str, str] = {}
    for split in SPLITS:
        for line in (copy / f"coco_pope_{split}.json").read_text().splitlines():
            name = json.loads(line)["image"]
            if name not in digests:
                digests[name] = placeholder_image(copy / "val2014" / name, len(digests))
    run = api.evaluate(
        "pope",
        "constant",
        model_args="text=yes",
        data=copy,
        store=tmp_path / "s.sqlite",
        output_dir=tmp_path / "r",
    )
    results = run.results
    assert results["counts"]["samples"] == 36 and results["counts"]["bad_samples"] == 0
    assert [r.id for r in run.records[:2]] == ["random/1", "random/2"]
    for split in SPLITS:
        node = results["breakdown"][split]
        assert (node["acc"]["value"], node["yes_ratio"]["value"], node["recall"]["value"]) == (0.5, 1.0, 1.0)
    rows = {
        f"{split}/{json.loads(line)['question_id']}": json.loads(line)
        for split in SPLITS
        for line in (copy / f"coco_pope_{split}.json").read_text().splitlines()
    }
    for record in run.records:
        assert prompt_images(record.prompt) == [digests[rows[record.id]["image"]]]
        assert prompt_text(record.prompt) == rows[record.id]["text"]
    single = api.evaluate("pope_popular", "constant", data=copy, store=tmp_path / "s.sqlite", output_dir=None)
    assert [r.id for r in single.records][:3] == ["1", "2", "3"]
    assert single.results["metrics"]["f1"]["value"] == pytest.approx(2 / 3)


def test_questions_only_copy_scores_and_a_split_file_needs_its_task(tmp_path: Path) -> None:
    items = [(str(i), "yes") for i in range(1, 3001)]
    predictions = write_predictions(tmp_path / "p.jsonl", items)
    result = api.score("pope_popular", predictions, data=POPE_COCO)
    assert result.results["metrics"]["acc"]["value"] == 0.5
    with pytest.raises(DataError, match="is the random split; pass the folder holding all three files"):
        api.score("pope", predictions, data=POPE_COCO / "coco_pope_random.json")
    with pytest.raises(DataError, match="is the random split; pass coco_pope_popular.json"):
        api.score("pope_popular", predictions, data=POPE_COCO / "coco_pope_random.json")


def test_hugging_face_parquet_layout_filters_the_split(tmp_path: Path) -> None:
    pyarrow = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")

    columns: dict[str, list] = {
        key: [] for key in ("id", "question_id", "question", "answer", "image_source", "image", "category")
    }
    digests: dict[str, str] = {}
    for split in ("adversarial", "random"):
        for line in (POPE_COCO / f"coco_pope_{split}.json").read_text().splitlines()[:9]:
            row = json.loads(line)
            buffer = io.BytesIO()
            Image.new("RGB", (5, 5), (len(digests), 3, 9)).save(buffer, format="PNG")
            data = buffer.getvalue()
            digests[f"{split}/{row['question_id']}"] = "sha256:" + hashlib.sha256(data).hexdigest()
            columns["id"].append(len(columns["id"]))
            columns["question_id"].append(str(row["question_id"]))
            columns["question"].append(row["text"])
            columns["answer"].append(row["label"])
            columns["image_source"].append(row["image"].removesuffix(".jpg"))
            columns["image"].append({"bytes": data, "path": None})
            columns["category"].append(split)
    (tmp_path / "POPE" / "data").mkdir(parents=True)
    parquet.write_table(pyarrow.table(columns), tmp_path / "POPE" / "data" / "test-00000-of-00001.parquet")
    run = api.evaluate(
        "pope_adversarial", "constant", data=tmp_path / "POPE", store=tmp_path / "s.sqlite", output_dir=None
    )
    assert [r.id for r in run.records] == [str(i) for i in range(1, 10)]
    for record in run.records:
        assert prompt_images(record.prompt) == [digests[f"adversarial/{record.id}"]]
    both = api.evaluate(
        "pope", "constant", data=tmp_path / "POPE", store=tmp_path / "s.sqlite", output_dir=None
    )
    assert set(both.results["breakdown"]) == {"adversarial", "random"}
    assert both.records[0].group == "adversarial/COCO_val2014_000000310196"
