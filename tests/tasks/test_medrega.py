"""MedRegA: classification (BLEU-1 class mapping, macro F1) and grounding (IoU) scorers.

Expected values were computed with MedRegA@dfdb0db src/eval/cls/evaluator.py (torchmetrics 1.9,
scikit-learn) on the same predictions, and by hand from src/eval/regt2r/evaluator_reg.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.errors import DataError
from mmlens.tasks.medrega.classes import CLASS_LISTS
from mmlens.tasks.medrega.metric import (
    answer_classes,
    bleu1,
    grounding_iou,
    macro_f1,
    predicted_boxes,
    vqa_scores,
)
from tests.fixtures.benchmark_data import write_predictions
from tests.fixtures.medrega_data import build_busi, build_chexpert, build_grounding, build_vqa


@pytest.mark.parametrize(
    ("candidate", "reference", "value"),
    [
        ("pleural effusion", "pleural effusion", 1.0),
        ("effusion", "pleural effusion", 0.36787945),  # brevity penalty exp(1 - 2/1)
        ("pleural effusion", "effusion", 0.5),
        ("a a a", "a", 0.33333331),  # clipped counts, float32
        ("", "normal", 0.0),
        ("the heart is enlarged", "cardiomegaly", 0.0),
    ],
)
def test_bleu1_is_torchmetrics_bleuscore_of_one_gram(candidate: str, reference: str, value: float) -> None:
    assert bleu1(candidate, reference) == pytest.approx(value, abs=1e-7)


def test_answers_map_to_classes_as_medrega_does() -> None:
    busi = CLASS_LISTS["busi_test"]  # benign, malignant, normal
    assert answer_classes("Benign.", busi) == [0]
    assert answer_classes("the breast looks normal", busi) == [2]
    assert answer_classes("I cannot tell", busi) == [0]  # no shared word: the first class
    assert answer_classes("", busi) == [0]
    assert answer_classes("benign, malignant", busi) == [0, 1]  # single-label data keeps the first
    chexpert = CLASS_LISTS["chexpert_test"]
    assert answer_classes("effusion", chexpert) == [chexpert.index("Pleural Effusion")]


# busi targets: benign, malignant, normal, benign, malignant, normal
BUSI_RESPONSES = {
    "0": "Benign.",
    "1": "malignant tumor",
    "2": "the breast looks normal",
    "3": "",
    "4": "benign, malignant",
    "5": "I cannot tell",
}


def test_single_label_f1_and_accuracy(tmp_path: Path) -> None:
    data = build_busi(tmp_path / "busi")
    predictions = write_predictions(tmp_path / "p.jsonl", BUSI_RESPONSES)
    result = api.score("medrega_cls", predictions, data=data, output_dir=None).results
    # official: {'F1-macro': 0.6667, 'Accuracy': 0.6667}
    assert result["metrics"]["f1_macro"]["value"] == pytest.approx(2 / 3)
    assert result["metrics"]["acc"]["value"] == pytest.approx(4 / 6)
    assert set(result["breakdown"]) == {"busi_test"}


def test_single_label_f1_skips_classes_nobody_has_or_predicts() -> None:
    # oct2017_test (4 classes), official: {'F1-macro': 0.25, ...}: drusen and normal only count
    assert macro_f1([[0], [1], [0]], [[0], [0], [1]], 4, multilabel=False) == pytest.approx(0.25)
    assert macro_f1([[0], [1], [0]], [[0], [0], [1]], 4, multilabel=True) == pytest.approx(0.125)


def test_a_missing_prediction_predicts_no_class(tmp_path: Path) -> None:
    data = build_busi(tmp_path / "busi")
    predictions = write_predictions(tmp_path / "p.jsonl", {"0": "benign", "1": "benign", "3": "malignant"})
    result = api.score("medrega_cls", predictions, data=data, output_dir=None, limit=4).results
    # ids 0-3: gold benign, malignant, normal, benign; predicted benign, benign, (missing: none), malignant.
    # labels present: benign, malignant, normal -> F1 benign 2*1/(2+1+1) = .5, malignant 0, normal 0
    assert result["metrics"]["f1_macro"]["value"] == pytest.approx(0.5 / 3)


def test_multilabel_f1_counts_every_class(tmp_path: Path) -> None:
    data = build_chexpert(tmp_path / "chexpert")
    responses = {
        "0": "cardiomegaly, edema",
        "1": "no finding.",
        "2": "effusion",
        "3": "lung opacity",
        "4": "support devices, fracture",
    }
    result = api.score(
        "medrega_cls", write_predictions(tmp_path / "p.jsonl", responses), data=data, output_dir=None
    )
    # official: {'F1-macro': 0.42857 (= 6/14: six classes right, the rest 0), 'Accuracy': 0.6}
    assert result.results["metrics"]["f1_macro"]["value"] == pytest.approx(0.42857142857142855)
    assert result.results["metrics"]["acc"]["value"] == pytest.approx(0.6)
    assert result.records[0].answer == "Cardiomegaly,Edema"


def test_cls_data_errors(tmp_path: Path) -> None:
    data = build_busi(tmp_path / "x")
    renamed = data.rename(data.with_name("mystery_set.jsonl"))
    with pytest.raises(DataError, match="names dataset 'mystery_set.jsonl'.*known: bhx_test"):
        api.score("medrega_cls", write_predictions(tmp_path / "p.jsonl", {"0": "a"}), data=renamed)
    text = data.with_name("busi_test_cls.jsonl")
    text.write_text(renamed.read_text().replace('"value": "normal"', '"value": "Normal"'))
    result = api.score(
        "medrega_cls", write_predictions(tmp_path / "p.jsonl", {"0": "a"}), data=text, output_dir=None
    )
    assert any(
        "'Normal' is not a class of busi_test" in bad["reason"] for bad in result.results["bad_samples"]
    )


@pytest.mark.parametrize(
    ("response", "targets", "iou"),
    [
        ("<ref>lesion</ref>[[0, 0, 100, 100]]", [[0, 0, 100, 100]], 1.0),
        ("[[0, 0, 50, 100]]", [[0, 0, 100, 100]], 0.5),
        ("[[0, 0, 50, 100], [0, 0, 100, 100]]", [[0, 0, 100, 100]], 1.0),  # more predictions: the best
        ("[[0, 0, 50, 100]][[0, 0, 100, 100]]", [[0, 0, 100, 100], [1, 1, 2, 2]], 0.5),  # else the first
        ("[[0, 0, 100, 100]]", [[500, 500, 600, 600], [0, 0, 100, 100]], 0.0),  # only the first target
        ("[[0.1, 0.1, 0.5, 0.5]]", [[0, 0, 100, 100]], 0.0),  # integers only
        ("no box", [[0, 0, 100, 100]], 0.0),
    ],
)
def test_grounding_iou(response: str, targets: list[list[float]], iou: float) -> None:
    assert grounding_iou(predicted_boxes(response), targets) == pytest.approx(iou)


def test_grounding_scores_by_threshold(tmp_path: Path) -> None:
    data = build_grounding(tmp_path / "g")
    responses = {
        "0": "The lesion is at [[0, 0, 50, 100]].",  # IoU 0.5: not above 0.5
        "1": "[[0, 0, 500, 500]]",  # IoU 250000/998001 = 0.2505
        "2": "[[100, 100, 300, 300]]",  # 1.0
        "3": "",  # no box: 0
    }
    result = api.score(
        "medrega_grounding", write_predictions(tmp_path / "p.jsonl", responses), data=data, output_dir=None
    )
    metrics = result.results["metrics"]
    assert metrics["acc25"]["value"] == pytest.approx(3 / 4)
    assert metrics["acc50"]["value"] == pytest.approx(1 / 4)
    assert metrics["acc75"]["value"] == pytest.approx(1 / 4)
    assert metrics["iou"]["value"] == pytest.approx((0.5 + 250000 / 998001 + 1.0) / 4)


def test_a_run_shows_the_image_at_its_token(tmp_path: Path) -> None:
    data = build_busi(tmp_path / "busi")
    result = api.evaluate("medrega_cls", "constant", model_args="text=benign", data=data, limit=2,
                          store=tmp_path / "s.db", output_dir=None)  # fmt: skip
    content = result.records[0].prompt[0]["content"]
    assert [part["type"] for part in content] == ["text", "image", "text"]
    assert content[2]["text"] == "Which class does this image show?"
    assert result.results["metrics"]["acc"]["value"] == pytest.approx(1 / 2)
    absent = build_busi(tmp_path / "no_images", with_images=False)
    with pytest.raises(DataError, match="has no images"):
        api.evaluate("medrega_cls", "constant", data=absent, store=tmp_path / "s.db", output_dir=None)


@pytest.mark.parametrize(
    ("response", "reference", "recall", "f1", "bleu"),
    [  # checked against vqa/postprocess_utils.py cleanStr and torchmetrics BLEUScore(n_gram=1)
        ("Yes.", "yes", 0.0, 0.0, 0.0),  # cleanStr makes it "yes,"
        ("The left lung", "left lung", 1.0, 0.8, 0.66666669),
        ("Head CT", "brain ct", 1.0, 1.0, 1.0),  # the contraction head -> brain
        ("x-ray, pa view", "posterior anterior", 1.0, 0.5714286, 0.4),
        ("see image_1. it is liver", "liver", 1.0, 0.5, 0.33333334),  # a piece with "_" is dropped
        ("right kidney and liver", "liver, right kidney", 2 / 3, 0.5714286, 0.5),
    ],
)
def test_vqa_scores_match_medrega(
    response: str, reference: str, recall: float, f1: float, bleu: float
) -> None:
    scores = vqa_scores(response, reference)
    assert scores["recall"] == pytest.approx(recall)
    assert scores["f1"] == pytest.approx(f1, abs=1e-6)
    assert scores["bleu1"] == pytest.approx(bleu, abs=1e-6)


def test_vqa_closed_and_open_by_hand(tmp_path: Path) -> None:
    data = build_vqa(tmp_path / "vqa")
    responses = {"0": "Yes.", "1": "no", "2": "The left lung", "3": "Head CT", "4": "right kidney"}
    result = api.score(
        "medrega_vqa", write_predictions(tmp_path / "p.jsonl", responses), data=data, output_dir=None
    )
    metrics = result.results["metrics"]
    assert metrics["closed_acc"]["value"] == pytest.approx(1 / 2)
    assert metrics["open_recall"]["value"] == pytest.approx(2 / 3)
    assert metrics["open_acc"]["value"] == pytest.approx(2 / 3)
    assert metrics["recall"]["value"] == pytest.approx(3 / 5)
    assert metrics["bleu1"]["value"] == pytest.approx((1 + 0.66666669 + 1) / 5, abs=1e-6)
    open_only = build_vqa(tmp_path / "open", references=["left lung", "liver"])
    predictions = write_predictions(tmp_path / "q.jsonl", {"0": "left lung", "1": "liver"})
    only_open = api.score("medrega_vqa", predictions, data=open_only, output_dir=None)
    assert only_open.results["metrics"]["open_acc"]["value"] == 1.0
    assert (
        only_open.results["metrics"]["closed_acc"]["value"] == 0.0
    )  # no closed question: 0, as MedRegA writes it
    with pytest.raises(DataError, match="Chinese set"):
        api.score("medrega_vqa", tmp_path / "q.jsonl", data=build_vqa(tmp_path / "zh", name="slake_zh_vqa"))
