"""MMNeedle: seeded generator (official draws), official parsing and denominators, end to end."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from PIL import Image

from mmlens import api
from mmlens.core.errors import DataError
from mmlens.tasks.mmneedle.generate import main as generate_main
from mmlens.tasks.mmneedle.generator import haystack_digest, list_images
from mmlens.tasks.mmneedle.metric import needle_scores
from mmlens.tasks.mmneedle.scenario import needle_prompt
from tests.fixtures.benchmark_data import write_predictions
from tests.fixtures.mmneedle_data import SETTINGS, build_haystacks, build_sources


def test_same_seed_same_haystacks_digest(tmp_path: Path) -> None:
    first = build_haystacks(tmp_path / "a").parent.parent
    second = build_haystacks(tmp_path / "b").parent.parent
    assert haystack_digest(first) == haystack_digest(second)
    other = build_haystacks(tmp_path / "c", SETTINGS.__class__(**{**SETTINGS.__dict__, "seed": 1}))
    assert haystack_digest(other.parent.parent) != haystack_digest(first)


def test_draws_follow_the_official_scripts(tmp_path: Path) -> None:
    annotations = build_haystacks(tmp_path)
    root = annotations.parent.parent
    names = [p.name for p in list_images(tmp_path / "source" / "val2014")]
    paths = [str(tmp_path / "source" / "val2014" / n) for n in names]
    # sample_stitched_images.py: random.seed(0); random.sample(image_paths, N*N) per stitched image
    rng = random.Random(0)
    metadata = json.loads((root / "metadata_stitched" / "2_2.json").read_text())
    for i in range(4):
        sampled = rng.sample(paths, 4)
        cell = metadata[f"COCO_val2014_stitched_{i:04}.jpg"]
        assert [cell[f"{r}_{c}"] for r in range(2) for c in range(2)] == [Path(p).name for p in sampled]
    # the top-right 8x8 tile of stitched image 0 is source image (0, 1) resized
    stitched = Image.open(root / "images_stitched/2_2/COCO_val2014_stitched_0000.jpg")
    assert stitched.size == (16, 16)
    # sample_single_needle.py: random.seed(0); sample(M); ids < n/2 positive via randint + divmod
    rng = random.Random(0)
    stitched_paths = [f"images_stitched/2_2/COCO_val2014_stitched_{i:04}.jpg" for i in range(4)]
    records = json.loads(annotations.read_text())
    for i, record in enumerate(records):
        sequence = rng.sample(stitched_paths, 2)
        assert record["image_ids"] == sequence
        if i < 3:
            idx, loc = divmod(rng.randint(0, 2 * 4 - 1), 4)
            row, col = divmod(loc, 2)
            assert (record["index"], record["row"], record["col"]) == (idx, row, col)
            assert record["target"] == metadata[sequence[idx].split("/")[-1]][f"{row}_{col}"]
        else:
            exclude = [v for p in sequence for v in metadata[p.split("/")[-1]].values()]
            assert record["target"] == rng.choice([n for n in names if n not in exclude])
            assert (record["index"], record["row"], record["col"]) == (-1, -1, -1)


def test_official_parsing_rules() -> None:
    # evaluate.py: strip newlines, spaces and dots; gt "0, 0, 0" compares as "-1"
    assert needle_scores("2, 1, 2", "2, 1, 2.\n") == {"exist": 1.0, "index": 1.0, "exact": 1.0}
    assert needle_scores("2, 1, 2", "2,1,2") == {"exist": 1.0, "index": 0.0, "exact": 0.0}  # ", " split
    assert needle_scores("2, 1, 2", "2, 2, 2") == {"exist": 1.0, "index": 1.0, "exact": 0.0}
    assert needle_scores("2, 1, 2", "-1") == {"exist": 0.0, "index": 0.0, "exact": 0.0}
    assert needle_scores("0, 0, 0", "-1") == {"exist": 1.0, "index": 0.0, "exact": 1.0}
    assert needle_scores("0, 0, 0", "-1 (no match)") == {"exist": 0.0, "index": 0.0, "exact": 0.0}
    assert needle_scores("0, 0, 0", "0, 0, 0")["exist"] == 0.0  # only "-1" means absent


def test_prompt_is_the_official_text() -> None:
    text = needle_prompt(1, 2, "a cat")
    assert text.startswith("Given 1 image indexed from 1 to 1, each divided into 2*2 subimages,")
    assert text.endswith("If no match is found, respond only with '-1'.\nCaption: a cat")
    assert "10 images" in needle_prompt(10, 1, "x") and "1*1 subimage," in needle_prompt(10, 1, "x")


def test_score_with_null_response_out_of_denominators(tmp_path: Path) -> None:
    annotations = build_haystacks(tmp_path)
    records = json.loads(annotations.read_text())
    gt = {str(r["id"]): f"{r['index'] + 1}, {r['row'] + 1}, {r['col'] + 1}" for r in records}
    responses: dict[str, str | None] = {
        "0": gt["0"] + ".",  # exact
        "1": gt["1"].split(", ")[0] + ", 9, 9",  # index only
        "2": None,  # empty id: out of every denominator
        "3": "-1",  # negative, right
        "4": "1, 1, 1",  # negative, wrong
        "5": "-1",
    }
    # a questions-only copy: no stitched images needed to score
    shutil.rmtree(annotations.parent.parent / "images_stitched")
    result = api.score("mmneedle", write_predictions(tmp_path / "p.jsonl", responses), data=str(annotations))
    metrics = result.results["metrics"]
    assert metrics["exist_accuracy"]["value"] == pytest.approx(4 / 5)
    assert metrics["exist_accuracy"]["n"] == 5
    assert metrics["index_accuracy"]["value"] == pytest.approx(1.0)
    assert metrics["exact_accuracy"]["value"] == pytest.approx(1 / 2)
    assert metrics["negative_exact_accuracy"]["value"] == pytest.approx(2 / 3)
    assert metrics["empty_ids"]["value"] == 1


def test_evaluate_end_to_end_constant_model(tmp_path: Path) -> None:
    annotations = build_haystacks(tmp_path)
    result = api.evaluate(
        "mmneedle", "constant", model_args="text=-1", data=str(annotations), output_dir=None
    )
    metrics = result.results["metrics"]
    assert metrics["exist_accuracy"]["value"] == pytest.approx(1 / 2)  # 3 negatives of 6
    assert metrics["exact_accuracy"]["value"] == 0.0
    content = result.records[0].prompt[0]["content"]
    assert [part["type"] for part in content] == ["image", "image", "text"]
    assert content[2]["text"].startswith(
        "Given 2 images indexed from 1 to 2, each divided into 2*2 subimages"
    )


def test_generator_command_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images, captions = build_sources(tmp_path / "src")
    argv = ["--images", str(images), "--captions", str(captions), "-M", "1", "-N", "2"]
    assert generate_main([*argv, "--out", str(tmp_path / "o"), "--stitched", "3", "--sequences", "2"]) == 0
    assert "annotations_1_2_2.json" in capsys.readouterr().out
    assert generate_main([*argv, "--out", str(tmp_path / "o2"), "--stitched", "2", "--sequences", "3"]) == 2
    assert "M = 1 takes stitched image i" in capsys.readouterr().err
    with pytest.raises(DataError, match="holds no image files"):
        list_images(tmp_path)
