"""``shapes``: an offline, procedurally drawn quickstart benchmark (no download, fully deterministic).

Each 64x64 image shows 1-4 non-overlapping coloured shapes on white (and, for the ``text``
family, a capital letter). Five question families, assigned round-robin by index so they are
exactly balanced: existence and position (yes/no, alternating yes/no within the family), count,
colour and text (four options each, the options written into the question text).

Loading only plans scenes (pure Python, microseconds each); pixels are drawn when a model asks
for them, and the image digest is the generator key, so a cached rerun draws nothing.
"""

from __future__ import annotations

import functools
import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from mmlens.core.errors import DataError
from mmlens.core.media import GeneratedImage
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.instructions.template import format_options

if TYPE_CHECKING:
    from PIL import Image as PILImage

GENERATOR_VERSION = "shapes-v1"  # part of every image key: bump it whenever the pixels could change
IMAGE_SIDE = 64
SHAPE_KINDS = ("circle", "square", "triangle")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 20, 20),
    "green": (20, 160, 40),
    "blue": (30, 70, 230),
    "yellow": (235, 200, 0),
}
LETTER_CHOICES = string.ascii_uppercase
LETTER_BOX = 24  # the square reserved for the letter; the glyph is centred in it
LETTER_FONT_SIZE = 22
SHAPE_MIN, SHAPE_MAX = 12, 18  # side of a shape's bounding box, in pixels
GAP = 2  # minimum free pixels between two shapes' boxes
POSITION_MIN_GAP = 4  # the two shapes of a position question are this far apart horizontally
FAMILIES = ("existence", "position", "count", "colour", "text")
YES_NO_SUFFIX = " Please answer yes or no."
CHOICE_SUFFIX = "Answer with the option's letter from the given choices directly."


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    side: int

    @property
    def right(self) -> int:
        return self.left + self.side

    @property
    def bottom(self) -> int:
        return self.top + self.side

    def clear_of(self, other: Box, gap: int = GAP) -> bool:
        return (
            self.right + gap <= other.left
            or other.right + gap <= self.left
            or self.bottom + gap <= other.top
            or other.bottom + gap <= self.top
        )


@dataclass(frozen=True)
class Shape:
    kind: str
    colour: str
    box: Box

    @property
    def name(self) -> str:
        return f"{self.colour} {self.kind}"


@dataclass(frozen=True)
class Scene:
    shapes: tuple[Shape, ...]
    letter: str | None = None
    letter_box: Box | None = None


@dataclass(frozen=True)
class Question:
    family: str
    text: str
    target: str
    choices: list[str] | None = None


class _PlacementFailed(Exception):
    """The random layout ran out of room; the caller starts the scene again."""


def _random_box(rng: random.Random, side: int, taken: list[Box], attempts: int = 100) -> Box:
    for _ in range(attempts):
        box = Box(rng.randint(1, IMAGE_SIDE - 1 - side), rng.randint(1, IMAGE_SIDE - 1 - side), side)
        if all(box.clear_of(other) for other in taken):
            return box
    raise _PlacementFailed


def _place(
    rng: random.Random, specs: list[tuple[str, str]], letter: str | None = None
) -> tuple[list[Shape], Box | None]:
    """Random non-overlapping boxes for (kind, colour) specs, the letter's box first."""
    taken: list[Box] = []
    letter_box = _random_box(rng, LETTER_BOX, taken) if letter else None
    if letter_box:
        taken.append(letter_box)
    shapes = []
    for kind, colour in specs:
        box = _random_box(rng, rng.randint(SHAPE_MIN, SHAPE_MAX), taken)
        taken.append(box)
        shapes.append(Shape(kind, colour, box))
    return shapes, letter_box


def _options_question(text: str, choices: list[str]) -> str:
    return f"{text}\n{format_options(choices)}\n{CHOICE_SUFFIX}"


def _existence(rng: random.Random, answer_yes: bool) -> tuple[Scene, Question]:
    kind, colour = rng.choice(SHAPE_KINDS), rng.choice(list(COLOURS))
    others = [(k, c) for k in SHAPE_KINDS for c in COLOURS if (k, c) != (kind, colour)]
    count = rng.randint(1, 4)
    specs = [rng.choice(others) for _ in range(count - 1 if answer_yes else count)]
    if answer_yes:
        specs.insert(rng.randrange(len(specs) + 1), (kind, colour))
    shapes, _ = _place(rng, specs)
    question = f"Is there a {colour} {kind} in the image?{YES_NO_SUFFIX}"
    return Scene(tuple(shapes)), Question("existence", question, "yes" if answer_yes else "no")


def _position(rng: random.Random, answer_yes: bool) -> tuple[Scene, Question]:
    first, second = rng.sample(SHAPE_KINDS, 2)
    third = next(k for k in SHAPE_KINDS if k not in (first, second))
    specs = [(first, rng.choice(list(COLOURS))), (second, rng.choice(list(COLOURS)))]
    specs += [(third, rng.choice(list(COLOURS))) for _ in range(rng.randint(0, 2))]
    shapes, _ = _place(rng, specs)
    a, b = shapes[0].box, shapes[1].box
    left, right = (a, b) if answer_yes else (b, a)
    if left.right + POSITION_MIN_GAP > right.left:
        raise _PlacementFailed  # not unambiguously left/right: draw another layout
    question = f"Is the {first} to the left of the {second}?{YES_NO_SUFFIX}"
    return Scene(tuple(shapes)), Question("position", question, "yes" if answer_yes else "no")


def _count(rng: random.Random, count: int) -> tuple[Scene, Question]:
    specs = [(rng.choice(SHAPE_KINDS), rng.choice(list(COLOURS))) for _ in range(count)]
    shapes, _ = _place(rng, specs)
    choices = ["1", "2", "3", "4"]
    question = _options_question("How many shapes are in the image?", choices)
    return Scene(tuple(shapes)), Question("count", question, "ABCD"[count - 1], choices)


def _colour(rng: random.Random) -> tuple[Scene, Question]:
    kind, colour = rng.choice(SHAPE_KINDS), rng.choice(list(COLOURS))
    other_kinds = [k for k in SHAPE_KINDS if k != kind]
    specs = [(rng.choice(other_kinds), rng.choice(list(COLOURS))) for _ in range(rng.randint(0, 3))]
    specs.insert(rng.randrange(len(specs) + 1), (kind, colour))
    shapes, _ = _place(rng, specs)
    choices = list(COLOURS)
    rng.shuffle(choices)
    question = _options_question(f"What color is the {kind}?", choices)
    return Scene(tuple(shapes)), Question("colour", question, "ABCD"[choices.index(colour)], choices)


def _text(rng: random.Random) -> tuple[Scene, Question]:
    letter = rng.choice(LETTER_CHOICES)
    specs = [(rng.choice(SHAPE_KINDS), rng.choice(list(COLOURS))) for _ in range(rng.randint(1, 3))]
    shapes, letter_box = _place(rng, specs, letter)
    choices = [letter, *rng.sample([c for c in LETTER_CHOICES if c != letter], 3)]
    rng.shuffle(choices)
    question = _options_question("Which letter is written in the image?", choices)
    scene = Scene(tuple(shapes), letter, letter_box)
    return scene, Question("text", question, "ABCD"[choices.index(letter)], choices)


def plan_scene(seed: int, index: int) -> tuple[Scene, Question]:
    """The scene and question of sample ``index`` (family = index mod 5; no drawing)."""
    family = FAMILIES[index % len(FAMILIES)]
    round_number = index // len(FAMILIES)
    builders: dict[str, Callable[[random.Random], tuple[Scene, Question]]] = {
        "existence": lambda rng: _existence(rng, answer_yes=round_number % 2 == 0),
        "position": lambda rng: _position(rng, answer_yes=round_number % 2 == 0),
        "count": lambda rng: _count(rng, count=round_number % 4 + 1),
        "colour": _colour,
        "text": _text,
    }
    rng = random.Random(f"{GENERATOR_VERSION}:{seed}:{index}")  # str seeds hash with sha512: stable
    while True:
        try:
            return builders[family](rng)
        except _PlacementFailed:
            continue


@functools.cache
def _letter_font() -> object:
    from PIL import ImageFont, features

    if not features.check("freetype2"):
        raise DataError(
            "the shapes benchmark draws letters with FreeType, but this Pillow was built without it"
        )
    return ImageFont.load_default(size=LETTER_FONT_SIZE)


def draw_scene(scene: Scene) -> PILImage.Image:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (IMAGE_SIDE, IMAGE_SIDE), "white")
    draw = ImageDraw.Draw(image)
    for shape in scene.shapes:
        box, fill = shape.box, COLOURS[shape.colour]
        corners = (box.left, box.top, box.right - 1, box.bottom - 1)
        if shape.kind == "circle":
            draw.ellipse(corners, fill=fill)
        elif shape.kind == "square":
            draw.rectangle(corners, fill=fill)
        else:
            middle = (box.left + box.right - 1) / 2
            draw.polygon(
                [(middle, box.top), (box.right - 1, box.bottom - 1), (box.left, box.bottom - 1)], fill=fill
            )
    if scene.letter and scene.letter_box:
        centre = (scene.letter_box.left + LETTER_BOX / 2, scene.letter_box.top + LETTER_BOX / 2)
        draw.text(centre, scene.letter, fill="black", font=_letter_font(), anchor="mm")  # type: ignore[arg-type]
    return image


def make_sample(seed: int, index: int) -> Sample:
    scene, question = plan_scene(seed, index)
    image = GeneratedImage(
        key=f"{GENERATOR_VERSION}:{seed}:{index}", draw=functools.partial(draw_scene, scene)
    )
    return Sample(
        id=f"shapes-{index}",
        messages=[Message("user", (ImagePart(image), TextPart(question.text)))],
        target=question.target,
        choices=question.choices,
        category=("perception", question.family),
        metadata={"family": question.family, "scene": ", ".join(s.name for s in scene.shapes)},
    )


@scenarios.register("shapes")
class ShapesScenario(Scenario):
    """Fields: ``size`` (number of samples), ``seed`` (another seed gives other images and questions)."""

    reads_data: ClassVar[bool] = False

    size: int = Field(1000, ge=1)
    seed: int = 0

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        count = self.size if context.limit is None else min(self.size, context.limit)
        for index in range(count):
            yield make_sample(self.seed, index)
