"""MME: official extraction and scores, checked against an independent re-implementation of the
official eval_tool/calculation.py run on LaVIN's real responses, and both published data layouts."""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from mmlens import api
from mmlens.core.errors import DataError
from mmlens.core.parts import LoadContext
from mmlens.core.task import TaskCatalog
from mmlens.runner.plan import load_samples
from mmlens.tasks.mme.metric import extract_mme_lmms_eval, extract_mme_official
from tests.fixtures.benchmark_helpers import (
    MME_LAVIN,
    MME_QUESTIONS,
    copy_subtasks,
    placeholder_image,
    prompt_images,
    prompt_text,
    write_predictions,
)

# The official subtask lists, written out here independently of mmlens.tasks.mme.scenario.
OFFICIAL_PERCEPTION = [
    "existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork", "OCR",
]  # fmt: skip
OFFICIAL_COGNITION = ["commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning"]


def official_calculation(results_dir: Path) -> dict[str, dict[str, float]]:
    """eval_tool/calculation.py, re-implemented line by line over the raw result files.

    Like the original it reads lines with their trailing newline, pairs consecutive lines, and
    lower-cases (never strips) the response before the yes/no rule.
    """
    scores: dict[str, dict[str, float]] = {}
    for subtask in OFFICIAL_PERCEPTION + OFFICIAL_COGNITION:
        with open(results_dir / f"{subtask}.txt", encoding="utf-8") as handle:
            lines = handle.readlines()
        chunks = [lines[i : i + 2] for i in range(0, len(lines), 2)]
        right = plus = asked = 0
        for chunk in chunks:
            assert len(chunk) == 2
            image_right = 0
            for line in chunk:
                _, _, gt, pred = line.split("\t")
                gt, pred = gt.lower(), pred.lower()
                if pred in ["yes", "no"]:
                    label = pred
                elif "yes" in pred[:4]:
                    label = "yes"
                elif "no" in pred[:4]:
                    label = "no"
                else:
                    label = "other"
                asked += 1
                right += gt == label
                image_right += gt == label
            plus += image_right == 2
        acc, acc_plus = right / asked, plus / len(chunks)
        scores[subtask] = {"acc": acc, "acc_plus": acc_plus, "score": acc * 100 + acc_plus * 100}
    return scores


def lavin_predictions(path: Path, subtasks: list[str] | None = None) -> Path:
    """LaVIN's responses (4th column) as a predictions file keyed by mmlens's MME sample ids."""
    items = []
    for file in sorted(MME_LAVIN.glob("*.txt")):
        if subtasks is not None and file.stem not in subtasks:
            continue
        seen: Counter[str] = Counter()
        for line in file.read_text(encoding="utf-8").splitlines():
            image, _, _, response = line.split("\t")
            items.append((f"{file.stem}/{image}/{seen[image]}", response))
            seen[image] += 1
    return write_predictions(path, items)


@pytest.mark.parametrize(
    ("response", "answer", "method"),
    [
        ("yes", "yes", "exact"),
        ("No", "no", "exact"),
        (" yes", "yes", "rule"),  # " yes"[:4] holds "yes"
        ("  yes", None, "failed"),  # two spaces push "yes" out of the first four characters
        ("Yes, it is", "yes", "rule"),
        ("no.", "no", "rule"),
        ("There is no", None, "failed"),  # "ther" holds neither word
        ("not sure", "no", "rule"),  # "not " holds "no"
        ("none of them", "no", "rule"),
        ("No, yes", "no", "rule"),  # "no, " holds no "yes"
        ("nyes", "yes", "rule"),  # "yes" is looked for before "no"
        ("yes\n", "yes", "rule"),
        ("", None, "failed"),
        ("Y", None, "failed"),
    ],
)
def test_official_extraction(response: str, answer: str | None, method: str) -> None:
    extraction = extract_mme_official(response)
    assert (extraction.answer, extraction.method) == (answer, method)


@pytest.mark.parametrize(
    ("response", "answer"),
    [("  yes", "yes"), ("Yes.", "yes"), ("y", "yes"), ("N", "no"), ("There is no", None), (" no.", "no")],
)
def test_lmms_eval_extraction_strips_and_drops_dots(response: str, answer: str | None) -> None:
    assert extract_mme_lmms_eval(response).answer == answer


def test_lavin_responses_score_exactly_as_the_official_calculation(tmp_path: Path) -> None:
    """The real LaVIN results folder: mmlens (questions_gt, no images) == calculation.py, every subtask."""
    reference = official_calculation(MME_LAVIN)
    predictions = lavin_predictions(tmp_path / "lavin.jsonl")
    result = api.score("mme", predictions, data=MME_QUESTIONS)
    results = result.results
    assert results["counts"]["scored"] == 2374
    assert results["counts"]["missing_predictions"] == 0
    for subtask, expected in reference.items():
        kind = "perception" if subtask in OFFICIAL_PERCEPTION else "cognition"
        node = results["breakdown"][f"{kind}/{subtask}"]
        for name in ("acc", "acc_plus", "score"):
            assert node[name]["value"] == pytest.approx(expected[name], abs=1e-9), (subtask, name)
    perception = sum(reference[s]["score"] for s in OFFICIAL_PERCEPTION)
    cognition = sum(reference[s]["score"] for s in OFFICIAL_COGNITION)
    metrics = results["metrics"]
    assert metrics["perception"]["value"] == pytest.approx(perception, abs=1e-9)
    assert metrics["cognition"]["value"] == pytest.approx(cognition, abs=1e-9)
    assert metrics["score"]["value"] == pytest.approx(perception + cognition, abs=1e-9)
    # Worked out by hand from the files: existence has 3 wrong answers (lines 24, 46, 59) in 3
    # different images -> acc 57/60, acc+ 27/30 -> 95 + 90; LaVIN answers "yes" to all 40
    # code_reasoning questions -> 50 + 0; 12 responses (11 commonsense_reasoning, 1 landmark) have
    # neither word in their first four characters.
    assert results["breakdown"]["perception/existence"]["score"]["value"] == pytest.approx(185.0)
    assert results["breakdown"]["cognition/code_reasoning"]["score"]["value"] == pytest.approx(50.0)
    assert results["counts"]["failed_extraction"] == 12
    assert round(metrics["perception"]["value"], 2) == 963.61
    assert round(metrics["cognition"]["value"], 2) == 249.64
    low, high = metrics["perception"]["ci95"]
    assert low < metrics["perception"]["value"] < high


def test_a_wrong_answer_moves_the_score_by_the_official_amounts(tmp_path: Path) -> None:
    """Always "Yes": every subtask 50 (acc 1/2, acc+ 0); one extra right "no" adds 100/n + 100/images."""
    samples = [line.split("\t") for line in (MME_QUESTIONS / "count.txt").read_text().splitlines()]
    items = [(f"count/{image}/{index % 2}", "Yes") for index, (image, _, _) in enumerate(samples)]
    items[1] = (items[1][0], "No")  # the second question of the first image has answer No
    result = api.score("mme", write_predictions(tmp_path / "p.jsonl", items), data=MME_QUESTIONS)
    count = result.results["breakdown"]["perception/count"]
    assert count["acc"]["value"] == pytest.approx(31 / 60)
    assert count["acc_plus"]["value"] == pytest.approx(1 / 30)
    assert count["score"]["value"] == pytest.approx(100 * 31 / 60 + 100 / 30)
    # The other subtasks have no predictions: every question is wrong, and counted as missing.
    assert result.results["counts"]["missing_predictions"] == 2374 - 60
    assert result.results["breakdown"]["perception/color"]["score"]["value"] == 0.0


def test_text_only_copy_loads_for_scoring_and_refuses_to_decode(tmp_path: Path) -> None:
    task = TaskCatalog().load("mme")
    samples, bad = load_samples(task, LoadContext("mme", task.task_dir, str(MME_QUESTIONS)))
    assert (len(samples), bad) == (2374, [])
    assert samples[0].id == "existence/000000006040.jpg/0"
    assert samples[0].category == ("perception", "existence")
    assert samples[0].group == "existence/000000006040.jpg"
    assert samples[0].target == "yes"
    assert len({s.id for s in samples}) == 2374
    with pytest.raises(DataError, match=r"mme/existence/000000006040\.jpg is not in the local copy"):
        samples[0].images[0].pil()


def test_eval_tool_layout_with_images_end_to_end(tmp_path: Path) -> None:
    copy = tmp_path / "mme"
    images = copy_subtasks(copy, ["existence", "OCR", "code_reasoning"])
    digests: dict[str, str] = {}
    number = 0
    for subtask, names in images.items():
        folder = copy / subtask / "images" if subtask == "code_reasoning" else copy / subtask
        for name in names:
            number += 1
            digests[f"{subtask}/{name}"] = placeholder_image(folder / name, number)
    result = api.evaluate(
        "mme",
        "constant",
        model_args="text=Yes",
        data=copy,
        store=tmp_path / "s.sqlite",
        output_dir=tmp_path / "runs",
    )
    results = result.results
    assert results["counts"]["samples"] == 140 and results["counts"]["bad_samples"] == 0
    assert results["metrics"]["perception"]["value"] == pytest.approx(100.0)  # 2 subtasks x (50 + 0)
    assert results["metrics"]["cognition"]["value"] == pytest.approx(50.0)
    assert set(results["breakdown"]) == {
        "perception", "perception/existence", "perception/OCR", "cognition", "cognition/code_reasoning",
    }  # fmt: skip
    for record in result.records:
        assert record.group is not None
        assert prompt_images(record.prompt) == [digests[record.group]]
    first = result.records[0]
    assert first.id == "existence/000000006040.jpg/0"
    assert prompt_text(first.prompt) == "Is there a train in this image? Please answer yes or no."
    assert (result.run_dir / "samples.jsonl").is_file()


def test_a_missing_image_in_a_copy_with_images_is_a_bad_sample(tmp_path: Path) -> None:
    copy = tmp_path / "mme"
    images = copy_subtasks(copy, ["OCR"])
    for number, name in enumerate(images["OCR"][1:]):
        placeholder_image(copy / "OCR" / name, number)
    task = TaskCatalog().load("mme")
    samples, bad = load_samples(task, LoadContext("mme", task.task_dir, str(copy)))
    assert len(samples) == 38
    assert [b.id for b in bad] == ["OCR/0001.jpg/0", "OCR/0001.jpg/1"]
    assert "image file 0001.jpg not found" in bad[0].reason


def png_bytes(number: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (6, 6), (number % 256, 40, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_hugging_face_parquet_layout(tmp_path: Path) -> None:
    pyarrow = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")

    rows: dict[str, list] = {"question_id": [], "image": [], "question": [], "answer": [], "category": []}
    expected_digest: dict[str, str] = {}
    for subtask in ("color", "numerical_calculation"):
        for line in (MME_QUESTIONS / f"{subtask}.txt").read_text().splitlines():
            image, question, answer = line.split("\t")
            key = f"{subtask}/{image}"
            data = png_bytes(list(dict.fromkeys([*expected_digest, key])).index(key))
            expected_digest.setdefault(key, "sha256:" + hashlib.sha256(data).hexdigest())
            rows["question_id"].append(f"{subtask}/{image}")
            rows["image"].append({"bytes": data, "path": image})
            rows["question"].append(question)
            rows["answer"].append(answer)
            rows["category"].append(subtask)
    (tmp_path / "MME" / "data").mkdir(parents=True)
    parquet.write_table(pyarrow.table(rows), tmp_path / "MME" / "data" / "test-00000-of-00001.parquet")

    predictions = lavin_predictions(tmp_path / "p.jsonl", ["color", "numerical_calculation"])
    scored = api.score("mme", predictions, data=tmp_path / "MME")
    reference = official_calculation(MME_LAVIN)
    breakdown = scored.results["breakdown"]
    assert breakdown["perception/color"]["score"]["value"] == pytest.approx(reference["color"]["score"])
    assert breakdown["cognition/numerical_calculation"]["score"]["value"] == pytest.approx(65.0)

    run = api.evaluate("mme", "constant", data=tmp_path / "MME", store=tmp_path / "s.sqlite", output_dir=None)
    assert run.results["counts"]["scored"] == 100
    for record in run.records:
        assert record.group is not None
        assert prompt_images(record.prompt) == [expected_digest[record.group]]


def test_lmms_eval_profile_prompt_and_extraction(tmp_path: Path) -> None:
    copy = tmp_path / "mme"
    for number, name in enumerate(copy_subtasks(copy, ["position"])["position"]):
        placeholder_image(copy / "position" / name, number)
    run = api.evaluate(
        "mme",
        "constant",
        data=copy,
        profile="lmms-eval",
        limit=2,
        store=tmp_path / "s.sqlite",
        output_dir=None,
    )
    assert prompt_text(run.records[0].prompt) == (
        "Is the cricket bat above the batter's body?\nAnswer the question using a single word or phrase."
    )
    # "  Yes." is no answer for the official rule but "yes" once stripped and without dots.
    items = [(sample.id, "  Yes.") for sample in load_samples(
        TaskCatalog().load("mme"), LoadContext("mme", Path("."), str(copy))
    )[0]]  # fmt: skip
    predictions = write_predictions(tmp_path / "p.jsonl", items)
    official = api.score("mme", predictions, data=copy).results
    lmms_eval = api.score("mme", predictions, data=copy, profile="lmms-eval").results
    assert official["metrics"]["score"]["value"] == 0.0
    assert official["counts"]["failed_extraction"] == 60
    assert lmms_eval["metrics"]["score"]["value"] == pytest.approx(50.0)


def test_no_local_copy_offline_is_one_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    predictions = write_predictions(tmp_path / "p.jsonl", [("existence/000000006040.jpg/0", "yes")])
    with pytest.raises(DataError, match=r"cannot load lmms-lab/MME from the Hugging Face hub .*--data PATH"):
        api.score("mme", predictions)


def test_release_version_layout_gives_the_same_ids_and_scores(tmp_path: Path) -> None:
    """Per-image .txt files, side by side (existence) or in images/ + questions_answers_YN/ (artwork)."""
    root = tmp_path / "MME_Benchmark_release_version"
    for subtask, split_folders in (("existence", False), ("artwork", True)):
        lines = (MME_QUESTIONS / f"{subtask}.txt").read_text().splitlines()
        by_image: dict[str, list[str]] = {}
        for line in lines:
            image, question, answer = line.split("\t")
            by_image.setdefault(image, []).append(f"{question}\t{answer}")
        for number, (image, questions) in enumerate(by_image.items()):
            stem = Path(image).stem
            images = root / subtask / "images" if split_folders else root / subtask
            texts = root / subtask / "questions_answers_YN" if split_folders else root / subtask
            placeholder_image(images / image, number)
            texts.mkdir(parents=True, exist_ok=True)
            (texts / f"{stem}.txt").write_text("\n".join(questions) + "\n")
    predictions = lavin_predictions(tmp_path / "p.jsonl", ["existence", "artwork"])
    release = api.score("mme", predictions, data=tmp_path).results
    assert release["counts"]["scored"] == 460 and release["counts"]["missing_predictions"] == 0
    reference = official_calculation(MME_LAVIN)
    assert release["breakdown"]["perception/existence"]["score"]["value"] == pytest.approx(185.0)
    assert release["breakdown"]["perception/artwork"]["score"]["value"] == pytest.approx(
        reference["artwork"]["score"]
    )


def test_running_a_model_on_a_questions_only_copy_is_one_clear_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mmlens.cli import main

    code = main(["run", "mme", "--data", str(MME_QUESTIONS), "--model", "constant", "--output-dir", ""])
    err = capsys.readouterr().err
    assert code == 2
    assert "has no images, so no model can be run on it" in err and "mmlens score` needs no images" in err
    assert "mme/existence/000000006040.jpg" in err and len(err.strip().splitlines()) == 1


def test_an_unreachable_hub_fails_fast_with_one_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    predictions = write_predictions(tmp_path / "p.jsonl", [("existence/000000006040.jpg/0", "yes")])
    started = time.monotonic()
    with pytest.raises(DataError, match=r"cannot load lmms-lab/MME .*127.0.0.1 is unreachable.*--data PATH"):
        api.score("mme", predictions)
    assert time.monotonic() - started < 10
