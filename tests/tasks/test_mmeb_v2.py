"""MMEB V2's image part (profile ``v2``): MMEB_Test_Instruct rows built into queries and candidates as
VLM2Vec@6e1e1d4's parsers build them (one dataset per parser), candidates of one name kept as
their first, and V2's ranking scorer over them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.messages import ImagePart, TextPart
from mmlens.core.parts import LoadContext
from mmlens.core.task import Task
from mmlens.runner.plan import load_samples
from mmlens.tasks.mmeb.v2 import PARSER_OF
from tests.fixtures.mmeb_data import _image

CHOSEN = ("ImageNet-1K", "OK-VQA", "MSCOCO_i2t", "VisDial", "WebQA", "RefCOCO-Matching")


def write_v2(folder: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    images = folder / "image-tasks"
    for n, path in enumerate(["q.png", "a.png", "b.png"]):
        _image(images / path, n)
    image_inst = "<|image_1|> Represent the given image with the following question:"
    rows = {
        "ImageNet-1K": [{"qry_inst": image_inst, "qry_text": "", "qry_img_path": "q.png",
                         "tgt_text": ["cat", "dog"]}],
        "OK-VQA": [{"qry_inst": image_inst, "qry_text": "What is it?", "qry_img_path": "q.png",
                    "tgt_text": ["x", "y"]}],
        "MSCOCO_i2t": [{"qry_inst": "<|image_1|> Find a caption \n", "qry_text": "", "qry_img_path": "q.png",
                        "tgt_text": ["a cat"]}],
        "VisDial": [
            {
                "qry_inst": "<|image_1|> Retrieve the image that fits the dialogue:",
                "qry_text": "Q: a cat? A: yes",
                "tgt_inst": "<|image_1|> Represent the given image.",
                "tgt_text": ["", ""],
                "tgt_img_path": ["a.png", "b.png"],
            }
        ],
        "WebQA": [  # captions with the images; the second row names a.png again with another caption
            {
                "qry_inst": "<|image_1|> Find an image:",
                "qry_text": "a cat",
                "tgt_inst": "<|image_1|> Represent the image and caption:",
                "tgt_text": ["cat photo", "dog photo"],
                "tgt_img_path": ["a.png", "b.png"],
            },
            {
                "qry_inst": "<|image_1|> Find an image:",
                "qry_text": "a dog",
                "tgt_inst": "<|image_1|> Represent the image and caption:",
                "tgt_text": ["dog photo", "another caption"],
                "tgt_img_path": ["b.png", "a.png"],
            },
        ],
        "RefCOCO-Matching": [
            {
                "qry_inst": "<|image_1|> Select the object:",
                "qry_text": '"the left cat"',
                "qry_img_path": "q.png",
                "tgt_inst": "<|image_1|> Represent the object:",
                "tgt_text": ['"left cat"', '"right cat"'],
                "tgt_img_path": ["a.png", "a.png"],
            }
        ],
    }  # fmt: skip
    for dataset, dataset_rows in rows.items():
        (folder / dataset).mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(dataset_rows), folder / dataset / "test-00000-of-00001.parquet")
    return folder


def v2_task(datasets: tuple[str, ...] = CHOSEN) -> Task:
    task = api.load_task("mmeb", profile="v2")
    return dataclasses.replace(task, scenario=task.scenario.model_copy(update={"datasets": datasets}))


def as_sent(message) -> tuple[list[str], str]:
    images = [p.image.path.name for p in message.content if isinstance(p, ImagePart)]
    text = " ".join(p.text for p in message.content if isinstance(p, TextPart))
    return images, text


def test_each_parser_builds_queries_and_candidates_as_vlm2vec_v2(tmp_path: Path) -> None:
    assert {PARSER_OF[d] for d in CHOSEN} == {
        "image_cls",
        "image_qa",
        "image_i2t",
        "image_t2i",
        "image_i2i_vg",
    }
    data = write_v2(tmp_path / "v2")
    task = v2_task()
    samples, bad = load_samples(task, LoadContext("mmeb", task.task_dir, str(data)))
    assert not bad
    by_id = {s.id: s for s in samples}
    # image_cls: "<tok> " + instruction (token removed) [+ " " + text], " \n" -> "\n", + "\n"
    assert as_sent(by_id["ImageNet-1K/0"].messages[0]) == (
        ["q.png"],
        "Represent the given image with the following question:",
    )
    assert by_id["ImageNet-1K/0"].metadata["candidates"] == [["cat", ""], ["dog", ""]]
    # image_qa: the instruction stripped after a newline, then the question
    assert as_sent(by_id["OK-VQA/0"].messages[0])[1] == (
        "Represent the given image with the following question: What is it?"
    )
    # image_i2t: " \n" inside becomes "\n" (then the ends are stripped)
    assert as_sent(by_id["MSCOCO_i2t/0"].messages[0]) == (["q.png"], "Find a caption")
    # image_t2i: the query is text alone; image candidates carry tgt_inst (no caption: all alike)
    images, text = as_sent(by_id["VisDial/0"].messages[0])
    assert images == [] and text == "Retrieve the image that fits the dialogue: Q: a cat? A: yes"
    visdial = by_id["VisDial/0"].metadata["candidates"]
    assert [image for _, image in visdial] == ["a.png", "b.png"]
    assert {text for text, _ in visdial} == {
        "<|image_1|>  Represent the given image.\n"
    }  # the token removed, then added
    # WebQA: captions kept; a.png is named once in the dataset, so row 2 gets row 1's a.png candidate
    first, second = by_id["WebQA/0"].metadata["candidates"], by_id["WebQA/1"].metadata["candidates"]
    assert first[0] == ["<|image_1|>  Represent the image and caption: cat photo\n", "a.png"]
    assert second == [["<|image_1|>  Represent the image and caption: dog photo\n", "b.png"], first[0]]
    # image_i2i_vg: names are path + ":" + caption, so two objects of one image stay two candidates
    matching = by_id["RefCOCO-Matching/0"].metadata["candidates"]
    assert [text for text, _ in matching] == [
        '<|image_1|>  Represent the object: "left cat"\n',
        '<|image_1|>  Represent the object: "right cat"\n',
    ]
    assert as_sent(by_id["RefCOCO-Matching/0"].messages[0])[1] == 'Select the object: "the left cat"'


def test_a_v2_row_missing_what_its_parser_reads_is_named(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = write_v2(tmp_path / "v2")
    row = {"qry_inst": "x", "qry_text": "y", "qry_img_path": "", "tgt_text": ["a"]}
    pq.write_table(pa.Table.from_pylist([row]), data / "OK-VQA" / "test-00000-of-00001.parquet")
    task = v2_task(("OK-VQA", "VisDial"))
    samples, bad = load_samples(task, LoadContext("mmeb", task.task_dir, str(data)))
    assert [s.id for s in samples] == ["VisDial/0"]
    assert bad[0].id == "OK-VQA/0" and "qry_img_path is empty" in bad[0].reason
    (data / "VisDial" / "test-00000-of-00001.parquet").unlink()
    pq.write_table(pa.Table.from_pylist([row]), data / "VisDial" / "test-00000-of-00001.parquet")
    with pytest.raises(Exception, match=r"columns \['tgt_inst', 'tgt_img_path'\] are missing"):
        load_samples(task, LoadContext("mmeb", task.task_dir, str(data)))


def test_v2_scores_rankings_made_elsewhere_with_ranking_metrics(tmp_path: Path) -> None:
    data = write_v2(tmp_path / "v2")
    predictions = tmp_path / "p.jsonl"
    answers = {"ImageNet-1K/0": "0 1", "OK-VQA/0": "1 0", "MSCOCO_i2t/0": "0", "VisDial/0": "1 0"}
    answers |= {"WebQA/0": "0 1", "WebQA/1": "1 0", "RefCOCO-Matching/0": "0 1"}
    predictions.write_text("".join(json.dumps({"id": i, "response": r}) + "\n" for i, r in answers.items()))
    result = api.score(v2_task(), predictions, data=data).results
    metrics = result["metrics"]
    assert metrics["classification"]["value"] == 1.0 and metrics["vqa"]["value"] == 0.0
    # retrieval: MSCOCO_i2t 1, VisDial 0, WebQA 1/2 -> their mean
    assert metrics["retrieval"]["value"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert metrics["acc"]["value"] == pytest.approx((1 + 0 + 1 + 0 + 0.5 + 1) / 6)
    assert "mrr@10" in metrics  # RankingMetrics' others beside precision@1
