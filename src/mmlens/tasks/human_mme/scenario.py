"""Human-MME (HF ``Yuanhou/Human-MME``, ``Human-MME_data.zip``): ``final_qa/<id>/qa.json``.

One folder per question; sample id = the folder name ``<id>`` (as ``Question.id`` in the official
``benchmark.py``). qa.json: ``type`` (q_type), ``question = [img_msg, text_msg]`` with ``img_msg.type`` in
``image`` / ``image_bbox`` (boxes drawn on the 1080p image) / ``multi_image`` (four images tiled A-D),
``answer {type (a_type), data | answer}``, ``data.question.attr_name`` / ``data.answer.attr_name``.
The prompt is ``f"{text}\\n\\n{FORMAT_INSTRUCTIONS[a_type]}"`` verbatim.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from mmlens.core.errors import DataError, SampleError
from mmlens.core.media import GeneratedImage
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample

FORMAT_INSTRUCTIONS = {
    "bbox": "Your answer should follow this format strictly: \n\nAnalyze: <your analysis>\n"
    "Answer: [x1,y1,x2,y2]",
    "choice": "Your answer should follow this format strictly: \n\nAnalyze: <your analysis>\nAnswer: A/B/C/D",
    "blank": "Your answer should follow this format strictly: \n\nAnalyze: <your analysis>\n"
    "Answer: <your final answer in a short and concise expression>",
    "tf_bbox": "Your answer should follow this format strictly: \n\nAnalyze: <your analysis>\n"
    "Answer: [x1,y1,x2,y2], if no match, answer [-1,-1,-1,-1]",
    "tf_blank": "Your answer should follow this format strictly: \n\nAnalyze: <your analysis>\n"
    "Answer: <your final answer in a short and concise expression>, if no match, answer unknown",
    "open_hoi": "Your answer should follow this format strictly: \n\nAnalyze: <your analysis>\n"
    "Name: <name of the object>\nBox: [x1,y1,x2,y2]",
    "sequence": "Your answer should follow this format strictly, the sequence must be uniquely determined: "
    "\n\nAnalyze: <your analysis>\nFirst: A/B/C/D\nSecond: A/B/C/D\nThird: A/B/C/D\nFourth: A/B/C/D",
    "double_choice": "Your answer should follow this format strictly: \n\nAnalyze: <your analysis>\n"
    "Past: A/B/C/D\nFuture: A/B/C/D",
}

BBOX_COLORS = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "white": (255, 255, 255),
}
_IMAGE_VERSION = "1"


def image_to_1080p(image: Image.Image, upscale: float = 1.0) -> Image.Image:
    """The official resize: at most 1080 on the short side and 1920 on the long side (never up, unless
    ``upscale``), sizes truncated by ``int``."""
    width, height = image.size
    scale = min(1080 / min(width, height), 1920 / max(width, height), 1.0) * upscale
    return image.resize((int(width * scale), int(height * scale)))


def _label_font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:  # the official code loads arial.ttf at 60 px
        return ImageFont.truetype("arial.ttf", 60)
    except OSError:
        return ImageFont.load_default(size=60)


def _resize_and_pad(image: Image.Image, label: str, size: tuple[int, int] = (1024, 1024)) -> Image.Image:
    ratio = min(size[0] / image.width, size[1] / image.height)
    new_size = (int(image.width * ratio), int(image.height * ratio))
    padded = Image.new("RGB", size, (0, 0, 0))
    padded.paste(image.resize(new_size), ((size[0] - new_size[0]) // 2, (size[1] - new_size[1]) // 2))
    ImageDraw.Draw(padded).text(
        (10, 10), label, fill=(255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0), font=_label_font()
    )
    return padded


def draw_question_image(message: dict[str, Any], resolve: Any) -> Image.Image:
    """``Question.get_image`` of the official benchmark.py for one img_msg."""
    kind = message["type"]
    if kind in ("image", "image_bbox"):
        image = image_to_1080p(Image.open(resolve(message["image"])).convert("RGB"))
        if kind == "image_bbox":
            width, height = image.size
            for color, box in message["bboxes"]:
                ImageDraw.Draw(image).rectangle(
                    (box[0] * width, box[1] * height, box[2] * width, box[3] * height),
                    outline=BBOX_COLORS[color],
                    width=1,
                )
        return image
    tiles = [
        _resize_and_pad(Image.open(resolve(message[f"image_{label}"])).convert("RGB"), label)
        for label in "ABCD"
    ]
    tiled = Image.new("RGB", (sum(tile.width for tile in tiles), 1024), (255, 255, 255))
    left = 0
    draw = ImageDraw.Draw(tiled)
    for number, tile in enumerate(tiles):
        tiled.paste(tile, (left, 0))
        left += tile.width
        if number < 3:
            draw.line((left, 0, left, 1024), fill=(255, 255, 255), width=3)
    return image_to_1080p(tiled, upscale=2)


def _question_folders(root: Path) -> list[Path]:
    return sorted(path.parent for path in root.rglob("qa.json"))


@scenarios.register("human_mme")
class HumanMMEScenario(Scenario):
    """``--data``: the ``final_qa`` folder (or a folder above it) of the unzipped Human-MME_data.zip.

    Image paths in qa.json are read as written (relative to the working folder, as the official
    code does), else relative to the data folder's parent, the data folder, or the question folder."""

    id_scheme = "the question folder's name <id> in final_qa/<id>/qa.json"

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        if context.data_path is None:
            raise DataError(f"task {context.task_name}: pass --data with the unzipped final_qa folder")
        root = Path(context.data_path)
        if not root.is_dir():
            raise DataError(f"task {context.task_name}: {root} is not a folder")
        for folder in _question_folders(root):
            try:
                yield self._sample(folder, root)
            except SampleError as error:
                yield BadSample(folder.name, error.reason)
            except (KeyError, TypeError, ValueError, IndexError) as error:
                yield BadSample(folder.name, f"{folder / 'qa.json'}: {type(error).__name__}: {error}")

    def _sample(self, folder: Path, root: Path) -> Sample:
        qa_file = folder / "qa.json"
        qa = json.loads(qa_file.read_text(encoding="utf-8"))
        image_message, text_message = qa["question"]
        answer = qa["answer"]
        a_type = answer["type"]
        if a_type not in FORMAT_INSTRUCTIONS:
            raise SampleError(folder.name, f"{qa_file}: unknown answer type {a_type!r}")
        answer_object = answer.get("data", answer.get("answer", None))

        def resolve(name: str) -> Path:
            for base in (Path.cwd(), root.parent, root, folder):
                candidate = base / name
                if candidate.is_file():
                    return candidate
            raise SampleError(folder.name, f"{qa_file}: image {name!r} not found")

        for key in ("image", "image_A", "image_B", "image_C", "image_D"):
            if key in image_message:
                resolve(image_message[key])  # a missing image is this sample's error, now
        key = json.dumps(image_message, sort_keys=True)
        image = GeneratedImage(
            f"human_mme/{_IMAGE_VERSION}/{root.resolve()}/{folder.name}/{key}",
            lambda: draw_question_image(image_message, resolve),
        )
        prompt = f"{text_message['text']}\n\n{FORMAT_INSTRUCTIONS[a_type]}"
        data = qa.get("data") or {}
        metadata: dict[str, Any] = {
            "a_type": a_type,
            "answer": answer_object,
            "attr_question": ((data.get("question") or {}).get("attr_name")),
            "attr_answer": ((data.get("answer") or {}).get("attr_name")),
        }
        if image_message["type"] in ("image", "image_bbox"):
            metadata["width"], metadata["height"] = image_message["width"], image_message["height"]
        return Sample(
            id=folder.name,
            messages=[Message("user", (ImagePart(image), TextPart(prompt)))],
            target=json.dumps(answer_object),
            category=(qa["type"],),
            metadata=metadata,
        )
