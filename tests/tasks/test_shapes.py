"""The procedural ``shapes`` benchmark: determinism, balance, ids, and pictures that match their questions."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pytest

from mmlens.core.parts import LoadContext
from mmlens.core.sample import Sample
from mmlens.core.task import BUILTIN_TASKS_DIR, TaskCatalog
from mmlens.instructions.template import format_options
from mmlens.tasks.shapes import scenario as shapes
from mmlens.tasks.shapes.scenario import COLOURS, FAMILIES, IMAGE_SIDE, LETTER_BOX, ShapesScenario, plan_scene


def load(size: int, seed: int = 0, limit: int | None = None) -> list[Sample]:
    context = LoadContext("shapes", BUILTIN_TASKS_DIR / "shapes", limit=limit)
    loaded = list(ShapesScenario(size=size, seed=seed).load(context))
    assert all(isinstance(sample, Sample) for sample in loaded)
    return loaded  # type: ignore[return-value]


def pixels(sample: Sample) -> np.ndarray:
    return np.asarray(sample.images[0].pil())


def test_same_seed_same_samples_and_pixels_other_seed_other_samples() -> None:
    first, again, other = load(40), load(40), load(40, seed=1)
    assert [s.canonical() for s in first] == [s.canonical() for s in again]
    assert all(np.array_equal(pixels(a), pixels(b)) for a, b in zip(first, again, strict=True))
    assert [s.canonical() for s in first] != [s.canonical() for s in other]
    assert sum(np.array_equal(pixels(a), pixels(b)) for a, b in zip(first, other, strict=True)) == 0


def test_ids_unique_and_follow_the_scheme() -> None:
    samples = load(500)
    assert [s.id for s in samples] == [f"shapes-{i}" for i in range(500)]
    assert "shapes-<index>" in TaskCatalog().load("shapes").id_scheme


def test_every_sample_has_its_own_image() -> None:
    samples = load(300)
    assert len({s.images[0].digest for s in samples}) == 300
    assert len({hashlib.sha256(pixels(s).tobytes()).hexdigest() for s in samples}) == 300


def test_families_and_answers_are_balanced() -> None:
    samples = load(1000)
    families = Counter(s.metadata["family"] for s in samples)
    assert families == {family: 200 for family in FAMILIES}
    for sample in samples:
        assert sample.category == ("perception", sample.metadata["family"])
    for family in ("existence", "position"):
        assert Counter(s.target for s in samples if s.metadata["family"] == family) == {"yes": 100, "no": 100}
    assert Counter(s.target for s in samples if s.metadata["family"] == "count") == dict.fromkeys("ABCD", 50)
    for family in ("colour", "text"):
        letters = Counter(s.target for s in samples if s.metadata["family"] == family)
        assert set(letters) == set("ABCD") and min(letters.values()) >= 30, letters


def test_question_text_carries_the_options_as_the_template_formats_them() -> None:
    for sample in load(50):
        if sample.metadata["family"] in ("existence", "position"):
            assert sample.choices is None and sample.target in ("yes", "no")
            assert sample.question.endswith("Please answer yes or no.")
        else:
            assert sample.choices is not None and len(set(sample.choices)) == 4
            assert format_options(sample.choices) in sample.question
            assert sample.target is not None and sample.target in "ABCD"


def test_loading_draws_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse_to_draw(scene: object) -> None:
        raise AssertionError("a scene was drawn while loading")

    monkeypatch.setattr(shapes, "draw_scene", refuse_to_draw)
    samples = load(1000)
    assert len({s.images[0].digest for s in samples}) == 1000
    with pytest.raises(AssertionError, match="drawn"):
        samples[0].images[0].pil()


def test_limit_stops_generation_early() -> None:
    assert [s.id for s in load(1000, limit=7)] == [f"shapes-{i}" for i in range(7)]


def _shape_pixel(shape: shapes.Shape) -> tuple[int, int]:
    box = shape.box
    row = box.top + (2 * box.side) // 3 if shape.kind == "triangle" else box.top + box.side // 2
    return row, box.left + box.side // 2


@pytest.mark.parametrize("index", range(60))
def test_pictures_match_their_questions(index: int) -> None:
    scene, question = plan_scene(0, index)
    image = np.asarray(shapes.draw_scene(scene)).astype(int)
    boxes = [shape.box for shape in scene.shapes] + ([scene.letter_box] if scene.letter_box else [])
    assert 1 <= len(scene.shapes) <= 4
    for a in range(len(boxes)):
        assert min(boxes[a].left, boxes[a].top) >= 0
        assert max(boxes[a].right, boxes[a].bottom) <= IMAGE_SIDE
        assert all(boxes[a].clear_of(boxes[b]) for b in range(a + 1, len(boxes)))
    drawn = np.zeros(image.shape[:2], dtype=bool)
    for box in boxes:
        drawn[box.top : box.bottom, box.left : box.right] = True
    assert (image[~drawn] == 255).all(), "ink outside every shape's box"
    for shape in scene.shapes:
        assert tuple(image[_shape_pixel(shape)]) == COLOURS[shape.colour]
    if scene.letter_box:
        box = scene.letter_box
        letter = image[box.top : box.top + LETTER_BOX, box.left : box.left + LETTER_BOX]
        assert (letter.sum(axis=2) < 200).sum() >= 10, "no dark letter strokes"
    kinds = [shape.kind for shape in scene.shapes]
    text = question.text.split("?")[0]
    if question.family == "existence":
        colour, kind = text.split()[3:5]
        assert (f"{colour} {kind}" in [s.name for s in scene.shapes]) == (question.target == "yes")
    elif question.family == "position":
        first, second = text.split()[2], text.split()[-1]
        assert kinds.count(first) == 1 and kinds.count(second) == 1
        first_box, second_box = (s.box for name in (first, second) for s in scene.shapes if s.kind == name)
        assert (first_box.right < second_box.left) == (question.target == "yes")
        assert (second_box.right < first_box.left) == (question.target == "no")
    elif question.family == "count":
        assert question.choices is not None
        assert question.choices["ABCD".index(question.target)] == str(len(scene.shapes))
    elif question.family == "colour":
        kind = text.split()[-1]
        assert kinds.count(kind) == 1 and question.choices is not None
        assert question.choices["ABCD".index(question.target)] == scene.shapes[kinds.index(kind)].colour
    else:
        assert question.choices is not None
        assert question.choices["ABCD".index(question.target)] == scene.letter


def test_task_files_load() -> None:
    catalog = TaskCatalog()
    task = catalog.load("shapes")
    assert task.scenario == ShapesScenario(size=1000, seed=0)
    assert task.inferencer.max_new_tokens == 8  # type: ignore[attr-defined]
    assert task.metric.extractor == "choice_or_yes_no"  # type: ignore[attr-defined]
    small = catalog.load("shapes_small")
    assert small.scenario == ShapesScenario(size=200, seed=0)
    assert "shapes-<index>" in small.id_scheme
