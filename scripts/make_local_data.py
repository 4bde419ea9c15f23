"""Write tiny local copies of MME, POPE and MMStar, in their published layouts, under one folder.

    .venv/bin/python scripts/make_local_data.py demo-data

makes ``demo-data/mme`` (the eval_tool layout: ``<subtask>.txt`` lines "image<TAB>question<TAB>answer"
and the images in ``<subtask>/``), ``demo-data/pope`` (``coco_pope_{random,popular,adversarial}.json``
and the images in ``val2014/``) and ``demo-data/mmstar`` (the hub layout,
``data/val-00000-of-00001.parquet``; needs the ``data`` extra). The questions are about drawn shapes,
so a model can answer them offline; the point is the layout, which is what ``mmlens run --data-root``
(and ``--data``) read. They are not the benchmarks: numbers on them mean nothing.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 160, 60)}
SHAPES = ("circle", "square")


def draw(colour: str, shape: str) -> Image.Image:
    image = Image.new("RGB", (64, 64), (255, 255, 255))
    pen = ImageDraw.Draw(image)
    box = (16, 16, 48, 48)
    (pen.ellipse if shape == "circle" else pen.rectangle)(box, fill=COLOURS[colour])
    return image


def scenes() -> list[tuple[str, str, str]]:
    """(image name, colour, shape) for each drawn image."""
    return [
        (f"{index:06d}.png", colour, shape)
        for index, (colour, shape) in enumerate((c, s) for c in COLOURS for s in SHAPES)
    ]


def write_mme(folder: Path) -> None:
    (folder / "existence").mkdir(parents=True, exist_ok=True)
    lines = []
    for name, colour, shape in scenes():
        draw(colour, shape).save(folder / "existence" / name)
        other = next(s for s in SHAPES if s != shape)
        lines.append(f"{name}\tIs there a {colour} {shape} in this image? Please answer yes or no.\tYes")
        lines.append(f"{name}\tIs there a {colour} {other} in this image? Please answer yes or no.\tNo")
    (folder / "existence.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_pope(folder: Path) -> None:
    (folder / "val2014").mkdir(parents=True, exist_ok=True)
    for name, colour, shape in scenes():
        draw(colour, shape).save(folder / "val2014" / name)
    for split in ("random", "popular", "adversarial"):
        rows = []
        for index, (name, _, shape) in enumerate(scenes()):
            other = next(s for s in SHAPES if s != shape)
            asked, label = (shape, "yes") if index % 2 == 0 else (other, "no")
            rows.append({"question_id": index + 1, "image": name, "text": f"Is there a {asked} in the image?",
                         "label": label})  # fmt: skip
        text = "".join(json.dumps(row) + "\n" for row in rows)
        (folder / f"coco_pope_{split}.json").write_text(text, encoding="utf-8")


def write_mmstar(folder: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    letters = "ABCD"
    options = ["red circle", "red square", "blue circle", "blue square"]
    for index, (name, colour, shape) in enumerate(scenes()):
        buffer = io.BytesIO()
        draw(colour, shape).save(buffer, format="PNG")
        target = f"{colour} {shape}"
        answer = letters[options.index(target)] if target in options else "A"
        listed = ", ".join(f"{letter}: {option}" for letter, option in zip(letters, options, strict=True))
        rows.append(
            {
                "index": index,
                "question": f"Which shape is drawn?\nOptions: {listed}",
                "image": {"bytes": buffer.getvalue(), "path": name},
                "answer": answer,
                "category": "coarse perception",
                "l2_category": "image scene and topic",
                "meta_info": {"source": "mmlens demo", "split": "val"},
            }
        )
    path = folder / "data" / "val-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where mme/, pope/ and mmstar/ are written")
    folder = parser.parse_args().folder
    write_mme(folder / "mme")
    write_pope(folder / "pope")
    write_mmstar(folder / "mmstar")
    print(f"wrote {folder / 'mme'}, {folder / 'pope'} and {folder / 'mmstar'}")


if __name__ == "__main__":
    main()
