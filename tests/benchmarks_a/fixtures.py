"""Tiny copies of the benchmarks in their published schemas, written by the tests.

Images are small PIL drawings, except MMBench/CCBench, which use the real sample JPEGs in
shared/data/mmbench-samples (read in place; their questions, options and answers are listed in
that folder's README). MME-RealWorld rows are synthetic: its license forbids copying its data.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageDraw

from tests.conftest import SHARED_DATA

MMBENCH_SAMPLES = SHARED_DATA / "mmbench-samples"


def png_bytes(seed: int, size: int = 16) -> bytes:
    image = Image.new("RGB", (size, size), ((seed * 53) % 256, (seed * 97) % 256, (seed * 29) % 256))
    ImageDraw.Draw(image).rectangle([2, 2, 2 + seed % 10, 8], fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def image_cell(seed: int, name: str | None = None) -> dict[str, Any]:
    """A parquet image struct, as the hub's Image feature stores it."""
    return {"bytes": png_bytes(seed), "path": name or f"{seed}.png"}


def write_parquet(rows: list[dict[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_tsv(rows: list[dict[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns, delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    return path


# --- MMStar ---------------------------------------------------------------------------------------

# (index, answer, category, l2_category)
MMSTAR_ROWS = [
    (0, "A", "coarse perception", "image scene and topic"),
    (1, "B", "coarse perception", "image scene and topic"),
    (2, "A", "coarse perception", "image scene and topic"),
    (3, "C", "coarse perception", "image emotion"),
    (4, "A", "math", "geometry"),
    (5, "B", "math", "geometry"),
    (6, "C", "math", "geometry"),
    (7, "D", "math", "geometry"),
]


def mmstar_rows() -> list[dict[str, Any]]:
    return [
        {
            "index": index,
            "question": f"Question {index}: which shape?\nOptions: A: square, B: circle, C: star, D: line",
            "image": image_cell(index),
            "answer": answer,
            "category": category,
            "l2_category": l2,
            "meta_info": {"source": "fixture", "split": "val"},
        }
        for index, answer, category, l2 in MMSTAR_ROWS
    ]


def build_mmstar(folder: Path) -> Path:
    """The hub layout: <folder>/data/val-00000-of-00001.parquet."""
    return write_parquet(mmstar_rows(), folder / "data" / "val-00000-of-00001.parquet").parent.parent


# --- MMBench / CCBench (real sample images) ------------------------------------------------------

MMBENCH_QUESTIONS: list[dict[str, Any]] = [
    {
        "index": 21,
        "image": "21.jpg",
        "question": "Which one is the correct caption of this image?",
        "options": [
            "A man rides a surfboard on a large wave.",
            "a young boy barefoot holding an umbrella touching the horn of a cow",
            "A giraffe standing by a stall in a field.",
            "A stop sign that has been vandalized with graffiti.",
        ],
        "answer": "B",
        "category": "action_recognition",
        "l2": "finegrained_perception (cross-instance)",
    },
    {
        "index": 812,
        "image": "812.jpg",
        "question": "Which scene category matches this image the best?",
        "options": ["rock_arch", "train_interior", "shopfront", "office_cubicles"],
        "answer": "A",
        "category": "image_scene",
        "l2": "coarse_perception",
    },
    {
        "index": 2222,
        "image": "2222.jpg",
        "question": "Based on this image, please predict what will happen next?",
        "options": ["This egg will become cooked", "This egg will fall down", "The egg will be broken"],
        "answer": "C",
        "category": "future_prediction",
        "l2": "logic_reasoning",
    },
    {
        "index": 318,
        "image": "318.jpg",
        "question": "Which solution has a higher concentration of green particles?",
        "hint": "The diagram below is a model of two solutions. "
        "Each green ball represents one particle of solute.",
        "options": ["neither; their concentrations are the same", "Solution B", "Solution A"],
        "answer": "B",
        "category": "attribute_comparison",
        "l2": "finegrained_perception (cross-instance)",
    },
    {
        "index": 672,
        "image": "672.jpg",
        "question": "How many trucks are in this photo?",
        "options": ["six", "five", "seven", "eight"],
        "answer": "A",
        "category": "object_localization",
        "l2": "finegrained_perception (instance-level)",
    },
    {
        "index": 2368,
        "image": "2368.jpg",
        "question": "What sport are they athletes of?",
        "options": ["weightlifting", "diving", "shooting", "gymnastics"],
        "answer": "B",
        "category": "identity_reasoning",
        "l2": "attribute_reasoning",
    },
]

CCBENCH_QUESTIONS: list[dict[str, Any]] = [
    {
        "index": 0,
        "image": "0.jpg",
        "question": "图中所示建筑名称为？",
        "options": ["天坛", "故宫", "黄鹤楼", "少林寺"],
        "answer": "A",
        "category": "scenery_building",
    },
    {
        "index": 1,
        "image": "1.jpg",
        "question": "图中所示建筑名称为？",
        "options": ["东方明珠", "长城", "中山陵", "少林寺"],
        "answer": "B",
        "category": "scenery_building",
    },
    {
        "index": 101,
        "image": "101.jpg",
        "question": "图中的文物名称是什么？",
        "options": ["大晟编钟", "汉代青铜编钟", "海昏侯墓铜鎏金编钟", "曾侯乙编钟"],
        "answer": "D",
        "category": "cultural_relic",
    },
]


def _sample_jpeg(folder: str, name: str) -> bytes:
    return (MMBENCH_SAMPLES / folder / name).read_bytes()


def _mmbench_row(question: dict[str, Any], image: Any, with_answer: bool = True) -> dict[str, Any]:
    row: dict[str, Any] = {"index": question["index"], "question": question["question"]}
    row["hint"] = question.get("hint", "")
    for letter, option in zip("ABCD", question["options"] + [""] * 4, strict=False):
        row[letter] = option
    row["answer"] = question["answer"] if with_answer else ""
    row["category"] = question["category"]
    if "l2" in question:
        row["l2-category"] = question["l2"]
    row["image"] = image
    return row


def build_mmbench_tsv(path: Path, with_answers: bool = True) -> Path:
    """The official TSV: base64 images, empty cells for absent options and hints, no rotated rows."""
    rows = [
        _mmbench_row(q, base64.b64encode(_sample_jpeg("MMBench", q["image"])).decode(), with_answers)
        for q in MMBENCH_QUESTIONS
    ]
    return write_tsv(rows, path)


# The published rotation of question 21 used in build_mmbench_parquet_with_rotations: deliberately
# not the order CircularEval would generate, to show that published rows are used as they are.
PUBLISHED_ROTATION_21 = {
    1_000_021: (
        [
            "A giraffe standing by a stall in a field.",
            "A man rides a surfboard on a large wave.",
            "A stop sign that has been vandalized with graffiti.",
            "a young boy barefoot holding an umbrella touching the horn of a cow",
        ],
        "D",
    ),
}


def build_mmbench_parquet_with_rotations(folder: Path) -> Path:
    """lmms-lab/MMBench's layout (<config>/<split>-*.parquet, ``L2-category``, image structs), holding
    question 21 with one published rotated row (index 1000021) and question 812 without rotations."""
    rows = []
    for question in MMBENCH_QUESTIONS[:2]:
        image = {"bytes": _sample_jpeg("MMBench", question["image"]), "path": question["image"]}
        row = _mmbench_row(question, image)
        row["L2-category"] = row.pop("l2-category")
        rows.append(row)
    for index, (options, answer) in PUBLISHED_ROTATION_21.items():
        rotated = dict(rows[0], index=index, answer=answer)
        rotated.update(dict(zip("ABCD", options, strict=True)))
        rows.append(rotated)
    return write_parquet(rows, folder / "en" / "dev-00000-of-00001.parquet").parent.parent


def build_ccbench_tsv(path: Path) -> Path:
    rows = []
    for question in CCBENCH_QUESTIONS:
        row = _mmbench_row(question, base64.b64encode(_sample_jpeg("CCBench", question["image"])).decode())
        del row["hint"]
        rows.append(row)
    return write_tsv(rows, path)


# --- SEED-Bench ----------------------------------------------------------------------------------


def seed_row(question_id: str, type_id: int, answer: str, choices: list[str], **extra: Any) -> dict[str, Any]:
    row = {
        "question_id": question_id,
        "question_type_id": type_id,
        "question": f"Question {question_id}?",
        "answer": answer,
        "data_type": "image",
    }
    row.update({f"choice_{letter}": choice for letter, choice in zip("abcd", choices, strict=True)})
    row.update(extra)
    return row


# (question_id, question_type_id, answer, choices); the choices are built so that ranking by the
# summed and by the mean word score disagree (see test_seedbench.py)
SEED1_ROWS = [
    ("101", 1, "A", ["a bb", "cccccccc", "dddd eeee ffff", "gg hh ii jj"]),
    ("102", 1, "B", ["aaaaa bbbbb", "cc", "ddddd", "ee ff gg hh ii"]),
    ("103", 5, "C", ["aaa", "bbb", "c", "dd"]),
    ("104", 5, "A", ["one two", "three", "four five six", "seven"]),
    ("105", 9, "D", ["xyzxyz", "uvw uvw", "rst rst rst", "q"]),
]


def build_seed1_parquet(path: Path) -> Path:
    """lmms-lab/SEED-Bench's schema: ``image`` is a list of image structs; plus a video question."""
    rows = [
        seed_row(qid, tid, ans, ch, data_id=f"{qid}.jpg", image=[image_cell(i)])
        for i, (qid, tid, ans, ch) in enumerate(SEED1_ROWS)
    ]
    rows.append(
        seed_row(
            "v1738",
            10,
            "B",
            ["w", "x", "y", "z"],
            data_type="video",
            data_id="94328.webm",
            image=[image_cell(50), image_cell(51)],
        )
    )
    return write_parquet(rows, path)


def build_seed1_json(folder: Path) -> Path:
    """The official SEED-Bench.json with the images in SEED-Bench-image/ beside it."""
    images = folder / "SEED-Bench-image"
    images.mkdir(parents=True, exist_ok=True)
    questions = []
    for i, (qid, tid, ans, ch) in enumerate(SEED1_ROWS):
        (images / f"{qid}.png").write_bytes(png_bytes(i))
        questions.append(seed_row(qid, tid, ans, ch, data_id=f"{qid}.png"))
    questions.append(seed_row("999", 2, "A", ["p", "q", "r", "s"], data_id="missing.png"))
    data = {"questions": questions, "question_type": {"Scene Understanding": 1}}
    path = folder / "SEED-Bench.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def build_seed2_json(folder: Path) -> Path:
    """SEED-Bench-2's JSON: one single-image, one multi-image, one interleaved (<img>) and one L3
    (dimension 25, image options) question; images under cc3m-image/ and SEED-Bench-2-image/."""
    (folder / "cc3m-image").mkdir(parents=True, exist_ok=True)
    v2 = folder / "SEED-Bench-2-image" / "task23"
    v2.mkdir(parents=True, exist_ok=True)
    (folder / "cc3m-image" / "1454426.jpg").write_bytes(png_bytes(1))
    for i in range(3):
        (v2 / f"{i}.jpg").write_bytes(png_bytes(10 + i))
    questions = [
        seed_row(
            "5_0",
            5,
            "A",
            ["One", "Two", "Three", "Four"],
            data_id="1454426.jpg",
            data_source="cc3m",
            level="L1",
        ),
        seed_row(
            "17_0",
            17,
            "B",
            ["same", "different", "left", "right"],
            data_type="Multiple Images",
            data_id=["task23/0.jpg", "task23/1.jpg"],
            data_source="SEED-Bench v2",
            level="L1",
        ),
        seed_row(
            "23_0",
            23,
            "C",
            ["red", "green", "blue", "black"],
            data_type="Interleaved Image",
            data_id=["task23/0.jpg", "task23/1.jpg", "task23/2.jpg"],
            data_source="SEED-Bench v2",
            level="L2",
            question="<img>: It is red. <img>: It is green. <img>:",
        ),
        seed_row(
            "25_0",
            25,
            "A",
            ["1.jpg", "2.jpg", "3.jpg", "4.jpg"],
            data_type="Image Generation",
            data_id=["task23/0.jpg"],
            data_source="SEED-Bench v2",
            level="L3",
        ),
    ]
    path = folder / "SEED-Bench_v2_level1_2_3.json"
    path.write_text(json.dumps({"questions": questions}), encoding="utf-8")
    return path


def build_seed2plus_parquet(path: Path) -> Path:
    rows = []
    for i, (kind, subtype, answer) in enumerate(
        [
            ("chart", "tree diagram", "A"),
            ("chart", "gantt chart", "B"),
            ("map", "road map", "A"),
            ("web", "amazon", "C"),
        ]
    ):
        row = {
            "question_id": str(i),
            "question": f"Text-rich question {i}?",
            "answer": answer,
            "question_image_type": kind,
            "question_image_subtype": subtype,
            "data_id": f"text_rich/{i}.png",
            "image": [image_cell(i)],
        }
        row.update({f"choice_{letter}": f"option {letter}{i}" for letter in "ABCD"})
        rows.append(row)
    return write_parquet(rows, path)


# --- MME-RealWorld (synthetic rows in its schemas) ----------------------------------------------

MME_RW_CHOICES = [
    "(A) There is one car.",
    "(B) There are many cars and one truck.",
    "(C) There are three pedestrians.",
    "(D) There is one bicycle.",
    "(E) The image does not feature the objects.",
]

# (Question_id, Task, Subtask, Category, Ground truth)
MME_RW_ROWS = [
    ("Perception/Monitoring/Vehicle/counting/0001", "Perception", "Monitoring", "Vehicle/counting", "B"),
    ("Perception/Monitoring/Vehicle/counting/0002", "Perception", "Monitoring", "Vehicle/counting", "A"),
    (
        "Perception/Monitoring/Vehicle/attribute/color/0003",
        "Perception",
        "Monitoring",
        "Vehicle/attribute/color",
        "D",
    ),
    (
        "Perception/Monitoring/Vehicle/attribute/orientation/0004",
        "Perception",
        "Monitoring",
        "Vehicle/attribute/orientation",
        "B",
    ),
    ("Reasoning/Diagram and Table/diagram/0005", "Reasoning", "Diagram and Table", "diagram", "C"),
    ("Reasoning/Diagram and Table/diagram/0006", "Reasoning", "Diagram and Table", "diagram", "E"),
]


def build_mme_realworld_json(folder: Path) -> Path:
    """The official MME_RealWorld.json with its images under MME-RealWorld/ (the default image folder)."""
    images = folder / "MME-RealWorld" / "monitoring_images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (qid, task, subtask, category, answer) in enumerate(MME_RW_ROWS):
        (images / f"{i}.png").write_bytes(png_bytes(i, size=32))
        rows.append(
            {
                "Question_id": qid,
                "Question Type": "Multiple Choice",
                "Image": f"monitoring_images/{i}.png",
                "Text": f"What is in picture {i}?",
                "Answer choices": MME_RW_CHOICES,
                "Ground truth": answer,
                "Task": task,
                "Subtask": subtask,
                "Category": category,
            }
        )
    path = folder / "MME_RealWorld.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def build_mme_realworld_parquet(path: Path) -> Path:
    """The lmms-eval copy's schema: base64 image in ``bytes``, "Task/Subtask" in ``category``."""
    rows = [
        {
            "index": i,
            "question": f"What is in picture {i}?",
            "multi-choice options": MME_RW_CHOICES,
            "answer": answer,
            "category": f"{task}/{subtask}",
            "l2-category": category,
            "bytes": base64.b64encode(png_bytes(i, size=32)).decode(),
        }
        for i, (_, task, subtask, category, answer) in enumerate(MME_RW_ROWS)
    ]
    return write_parquet(rows, path)


def write_predictions(path: Path, responses: dict[str, str | None]) -> Path:
    path.write_text("".join(json.dumps({"id": k, "response": v}) + "\n" for k, v in responses.items()))
    return path
