"""MMNeedle: ``metadata_stitched/annotations_{M}_{N}_{N}.json`` (official or generated) + captions.

``--data`` is the annotations file. Records ``{id, image_ids, index, row, col, target}`` (0-based;
negatives -1). Stitched image paths are relative to the folder above ``metadata_stitched/``;
captions come from ``captions.json`` (or ``file_to_caption.json``) there: {image file: caption}.
M and N are read from the file name. A missing stitched image loads as an absent image, so
``mmlens score`` works on the annotations and captions alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmlens.core.errors import DataError
from mmlens.core.media import AbsentImage, FileImage, ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample

_ANNOTATIONS = re.compile(r"^annotations_(\d+)_(\d+)_(\d+)\.json$")
CAPTION_FILES = ("captions.json", "file_to_caption.json")


def needle_prompt(sequence_length: int, grid: int, caption: str) -> str:
    """needle.py, single needle: the instruction, then "\\nCaption: " + caption."""
    img_str = "images" if sequence_length > 1 else "image"
    subimage_str = "subimages" if grid > 1 else "subimage"
    prompt = (
        f"Given {sequence_length} {img_str} indexed from 1 to {sequence_length}, each divided into "
        f"{grid}*{grid} {subimage_str}, identify the subimage that best matches the provided caption. "
        "Respond with 'index, row, column' and nothing else. For example, '1, 2, 3' indicates the "
        "subimage in the first image, second row, and third column. If no match is found, respond "
        "only with '-1'."
    )
    return prompt + "\n" + "Caption: " + caption


def ground_truth(index: int, row: int, col: int) -> str:
    """needle.py: f'{idx+1}, {row+1}, {col+1}' ("0, 0, 0" for a negative)."""
    return f"{index + 1}, {row + 1}, {col + 1}"


@scenarios.register("mmneedle")
class MMNeedleScenario(Scenario):
    id_scheme = 'the "id" field of annotations_{M}_{N}_{N}.json'

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        if context.data_path is None:
            raise DataError(
                f"{context.task_name}: give --data metadata_stitched/annotations_M_N_N.json "
                "(build one with python -m mmlens.tasks.mmneedle.generate)"
            )
        path = Path(context.data_path)
        match = _ANNOTATIONS.match(path.name)
        if match is None or match.group(2) != match.group(3):
            raise DataError(f"{path}: expected a file named annotations_<M>_<N>_<N>.json")
        sequence_length, grid = int(match.group(1)), int(match.group(2))
        root = path.parent.parent
        captions = _captions(root, path)
        try:
            records = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise DataError(f"{path}: cannot read it as JSON ({error})") from None
        if not isinstance(records, list):
            raise DataError(f"{path}: expected a JSON list of sequences")
        for number, record in enumerate(records):
            yield self._sample(number, record, root, path, captions, sequence_length, grid)

    def _sample(
        self, number: int, record: Any, root: Path, path: Path, captions: dict[str, str], m: int, n: int
    ) -> Sample | BadSample:
        keys = ("id", "image_ids", "index", "row", "col", "target")
        if not isinstance(record, dict) or any(key not in record for key in keys):
            return BadSample(f"row{number}", f"{path} record {number}: needs the keys {', '.join(keys)}")
        sample_id = str(record["id"])
        target_name = str(record["target"]).split("/")[-1]
        caption = captions.get(target_name)
        if caption is None:
            return BadSample(sample_id, f"{path} id {sample_id}: no caption for target {target_name}")
        images = [_image(root / str(image)) for image in record["image_ids"]]
        content: tuple[ImagePart | TextPart, ...] = (
            *[ImagePart(image) for image in images],
            TextPart(needle_prompt(m, n, caption)),
        )
        index, row, col = int(record["index"]), int(record["row"]), int(record["col"])
        return Sample(
            id=sample_id,
            messages=[Message("user", content)],
            target=ground_truth(index, row, col),
            category=("negative",) if index < 0 else ("positive",),
            metadata={"sequence_length": m, "grid": n, "caption": caption, "target_image": target_name},
        )


def _image(path: Path) -> ImageRef:
    if path.is_file():
        return FileImage(path)
    return AbsentImage(path.name, f"stitched image {path} is not in the local copy")


def _captions(root: Path, annotations: Path) -> dict[str, str]:
    for name in CAPTION_FILES:
        candidate = root / name
        if candidate.is_file():
            data = json.loads(candidate.read_text())
            if not isinstance(data, dict):
                raise DataError(f"{candidate}: expected a JSON object {{image file: caption}}")
            return {str(k).split("/")[-1]: str(v) for k, v in data.items()}
    raise DataError(f"{annotations}: no {' or '.join(CAPTION_FILES)} in {root}")
