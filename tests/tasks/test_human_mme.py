"""Human-MME: the official parsing, per-question metrics and per-q_type means, on synthetic data in the
published final_qa/<id>/qa.json layout; the text-similarity formula through tiny local encoders."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from mmlens import api
from mmlens.core.parts import LoadContext
from mmlens.core.sample import Sample
from mmlens.core.task import TaskCatalog
from mmlens.tasks.human_mme.metric import (
    HumanMMEMetrics,
    evaluate_ranking,
    max_guess_format_iou,
    parse_response,
)
from mmlens.tasks.human_mme.scenario import FORMAT_INSTRUCTIONS
from tests.fixtures.benchmark_data import write_predictions
from tests.fixtures.human_mme_data import build_human_mme

RESPONSES: dict[str, str | None] = {
    "000001": "Analyze: the face.\nAnswer: [0, 0, 100, 50]",  # absolute pixels of 200x100: IoU 1
    "000002": "Analyze: x\nanswer: b",  # case-insensitive: B
    "000003": "First: A\nSecond: B\nThird: D\nFourth: C",
    "000004": "Past: A\nFuture: D",
    "000005": "Answer: [1, 2, 3, 4]",  # a box where none is: tf_correct is still 1 (official quirk)
}


def test_prompt_and_ids_follow_the_published_layout(tmp_path: Path) -> None:
    data = build_human_mme(tmp_path)
    loaded = TaskCatalog().load("human_mme")
    samples = [
        s
        for s in loaded.scenario.load(LoadContext("human_mme", loaded.task_dir, str(data)))
        if isinstance(s, Sample)
    ]
    assert [s.id for s in samples] == sorted(RESPONSES)
    first = samples[0]
    assert first.messages[0].text == "A face_bbox question?\n\n" + FORMAT_INSTRUCTIONS["bbox"]
    assert first.images[0].pil().size == (200, 100)
    tiled = next(s for s in samples if s.id == "000003").images[0].pil()
    # 4096x1024 tiles: scale = min(1080/1024, 1920/4096, 1.0) * 2 = 0.9375 (upscale after the cap)
    assert tiled.size == (3840, 960)


@pytest.mark.parametrize(
    ("a_type", "text", "key", "value"),
    [
        ("bbox", "```json\nAnswer: [[1.5, 2, 3, 4]]\n```", "bbox", [1.5, 2.0, 3.0, 4.0]),
        ("bbox", "Answer: 1, 2, 3, 4", "bbox", [-1, -1, -1, -1]),  # no bracket: no box
        ("choice", "Answer: e\nAnswer: C", "choice", "C"),  # re.search moves on to the next "Answer:"
        ("choice", "Answer: (B)", "choice", None),  # "(" is not [A-D] and \\s* does not skip it
        ("blank", "Analyze: x\nAnswer: **a young man**", "answer", "a young man"),
        ("sequence", "First: A\nSecond: A", "answer", ["A", "A", None, None]),
        ("double_choice", "past: b future: c", "past", "B"),
        ("open_hoi", "Name: cup\nBox: [1,2,3,4]", "name", "cup"),
    ],
)
def test_parsing_as_the_official_regexes(a_type: str, text: str, key: str, value: Any) -> None:
    assert parse_response(a_type, text)[key] == value


def test_box_readings_and_rankings_by_hand() -> None:
    gt = [0.0, 0.0, 0.5, 0.5]
    assert max_guess_format_iou([0, 0, 0.5, 0.5], gt, 200, 100) == 1.0  # normalised reading only
    assert max_guess_format_iou([0, 0, 500, 500], gt, 200, 100) == 1.0  # 0-1000 reading wins
    # 4000x2000 image: scale = min(1920/4000, 1080/2000) = 0.48, copy 1920x960; [0,0,960,480] is its
    # top-left quarter -> IoU 1 (pixels of the original: 0.0576; 0-1000: 0.24/0.4708)
    assert max_guess_format_iou([0, 0, 960, 480], gt, 4000, 2000) == pytest.approx(1.0)
    tau, rho, ndcg = evaluate_ranking(["A", "B", "D", "C"], ["A", "B", "C", "D"])
    # one discordant pair of 6: tau = 4/6 -> 5/6; rho = 1 - 6*2/(4*15) = 0.8 -> 0.9;
    # DCG = 4 + 3/log2(3) + 1/2 + 2/log2(5) over the ideal 4 + 3/log2(3) + 2/2 + 1/log2(5)
    assert (tau, rho) == (pytest.approx(5 / 6), pytest.approx(0.9))
    assert ndcg == pytest.approx(
        (4 + 3 / math.log2(3) + 1 / 2 + 2 / math.log2(5)) / (4 + 3 / math.log2(3) + 1 + 1 / math.log2(5))
    )
    assert ndcg == pytest.approx(0.99053, abs=1e-5)


def test_score_per_question_type(tmp_path: Path) -> None:
    data = build_human_mme(tmp_path)
    predictions = write_predictions(tmp_path / "predictions.jsonl", RESPONSES)
    results = api.score("human_mme", predictions, data=data).results
    breakdown = results["breakdown"]
    assert breakdown["face_bbox"]["iou_face"]["value"] == 1.0
    assert breakdown["face_bbox"]["accuracy_face"]["value"] == 1.0
    assert breakdown["choice_q"]["accuracy"]["value"] == 1.0
    assert breakdown["rank_q"]["accuracy"]["value"] == 0.0
    assert breakdown["rank_q"]["tau"]["value"] == pytest.approx(5 / 6)
    assert breakdown["time_q"]["past_accuracy"]["value"] == 1.0
    assert breakdown["time_q"]["accuracy"]["value"] == 0.0
    assert breakdown["tf_q"]["tf_correct"]["value"] == 1.0
    assert "accuracy" not in breakdown["tf_q"] or breakdown["tf_q"]["accuracy"]["n"] == 0
    assert breakdown["face_bbox"]["analysis_len"]["value"] == len("the face.")


def _tiny_bert(folder: Path) -> Path:
    from transformers import BertConfig, BertModel

    from tests.fixtures.tiny_models import train_tokenizer

    tokenizer = train_tokenizer(
        ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"],
        bos="[CLS]",
        eos="[SEP]",
        pad="[PAD]",
        chat_template="",
    )
    tokenizer.cls_token, tokenizer.sep_token, tokenizer.unk_token = "[CLS]", "[SEP]", "[UNK]"
    tokenizer.model_max_length = 128  # bert_score truncates to it (the default sentinel overflows)
    tokenizer.chat_template = None  # with one, sentence-transformers renders texts as chat messages
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_blank_composite_with_tiny_local_encoders(tmp_path: Path) -> None:
    bert = _tiny_bert(tmp_path / "bert")
    metric = HumanMMEMetrics(bertscore_model=str(bert), bertscore_num_layers=2, embedding_model=str(bert))
    meta = {"a_type": "blank", "answer": "red shirt", "attr_question": "clothing"}
    same = metric.question_metrics(meta, {"answer": "red shirt", "analysis": ""})
    # identical texts: BERTScore F1 1, cosine 1, coverage 1 -> composite 0.5 + 0.3 + 0.2
    assert same["bert_f1"] == pytest.approx(1.0, abs=1e-5)
    assert same["cos_sim"] == pytest.approx(1.0, abs=1e-5)
    assert same["composite_score"] == pytest.approx(1.0, abs=1e-5) and same["accuracy"]
    none = metric.question_metrics(meta, {"answer": None, "analysis": ""})
    assert none["composite_score"] == 0.0 and not none["accuracy"]
    half = metric.question_metrics(meta, {"answer": "blue shirt", "analysis": ""})
    assert half["kw_coverage"] == 0.5
    attr = {"a_type": "blank", "answer": "male", "attr_question": "gender"}
    mapped = metric.question_metrics(attr, {"answer": "male", "analysis": ""})
    # "male" is one of male's keywords: cosine 1 there, so it maps to the same class as the reference
    assert mapped["accuracy"] and mapped["gender"] == 1 and mapped["age"] == 0 and mapped["male"] == 1


def test_evaluate_end_to_end_with_a_constant_model(tmp_path: Path) -> None:
    data = build_human_mme(tmp_path / "data")
    run = api.evaluate(
        "human_mme", "constant", model_args="text=Analyze: x\nAnswer: B", data=data, output_dir=None
    )
    by_id = {r.id: r for r in run.records}
    assert by_id["000002"].correct is True  # choice B
    assert by_id["000004"].correct is False  # no Past:/Future:
    assert by_id["000001"].prompt[0]["content"][1]["text"].endswith(FORMAT_INSTRUCTIONS["bbox"])
