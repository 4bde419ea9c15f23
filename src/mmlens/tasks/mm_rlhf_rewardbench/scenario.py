"""MM-RLHF-RewardBench (Kwai-YuanQi/MM-RLHF, HF ``yifanzhang114/MM-RLHF-RewardBench``): pairs of a
preferred (``chosen``) and a dispreferred (``rejected``) answer to one image or video question.

Data (``--data PATH``): ``mm_reward_bench.jsonl`` or the folder holding it (media beside it, or in
``images/``). One pair per line: ``id, image | video, prompt, chosen, rejected, chosen_reason,
rejected_reason``; several lines share an ``id``. Sample id ``<id>/<k>``, k = the line's order
among that id's lines, from 0. A video is a folder of frames: 32 indices
``np.linspace(0, n - 1, 32, dtype=int)`` over its sorted files, as ``process_video`` samples them.
Without the media the pairs load for scoring only (``mmlens score``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mmlens.core.errors import DataError
from mmlens.core.jsonlines import json_lines
from mmlens.core.media import AbsentImage, FileImage, ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample

FILE_NAME = "mm_reward_bench.jsonl"
# cal_performance_mmreweard_bench.py: a pair's category is the first of these found in its media path.
CATEGORY_KEYWORDS = ("mcq", "long", "short", "safety", "video")
VIDEO_FRAMES = 32
TEXT_FIELDS = ("prompt", "chosen", "rejected")
NO_MEDIA_HINT = (
    "the questions only: running a reward model needs the images/videos beside mm_reward_bench.jsonl"
)


def official_file(data_path: str | None, task: str) -> Path:
    if data_path is None:
        raise DataError(f"task {task}: give --data: {FILE_NAME} or the folder holding it")
    path = Path(data_path).expanduser()
    if path.is_dir():
        path = path / FILE_NAME
    if not path.is_file():
        raise DataError(f"task {task}: {path} does not exist")
    return path


def media_path(item: dict[str, Any]) -> str:
    """``item.get("image", "") or item.get("video", "")``: the path the category totals read."""
    return str(item.get("image") or item.get("video") or "")


def first_category(path: str) -> str | None:
    return next((keyword for keyword in CATEGORY_KEYWORDS if keyword in path), None)


def sampled_frames(folder: Path) -> list[Path]:
    files = sorted(str(folder / name) for name in [p.name for p in folder.iterdir() if p.is_file()])
    if not files:
        return []
    indices = np.clip(np.linspace(0, len(files) - 1, VIDEO_FRAMES, dtype=int), 0, len(files) - 1)
    return [Path(files[i]) for i in indices]


@scenarios.register("mm_rlhf_rewardbench")
class RewardBenchScenario(Scenario):
    """Fields: ``media`` (a folder holding the images/videos, if not beside the jsonl)."""

    media: str | None = None

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        file = official_file(context.data_path, context.task_name)
        roots = [file.parent / "images", file.parent]
        if self.media is not None:
            given = Path(self.media).expanduser()
            roots.insert(0, given if given.is_absolute() else context.task_dir / given)
        counts: dict[str, int] = {}
        with file.open(encoding="utf-8") as handle:
            lines = list(json_lines(handle))
        for line in lines:
            where = f"{file}, line {line.number}"
            if line.error is not None:
                raise DataError(f"{where}: {line.error}")
            item = line.value
            if not isinstance(item, dict) or "id" not in item:
                yield BadSample(f"line {line.number}", f"{where}: expected an object with an id")
                continue
            pair_id = str(item["id"])
            k = counts.get(pair_id, 0)
            counts[pair_id] = k + 1
            yield self._sample(f"{pair_id}/{k}", pair_id, item, roots, where)

    @staticmethod
    def _media(item: dict[str, Any], roots: list[Path]) -> list[ImageRef]:
        image, video = item.get("image"), item.get("video")
        name = str(video or image or "")
        if not name:
            return []
        found = next((root / name for root in roots if (root / name).exists()), None)
        if found is None:
            return [AbsentImage(f"mm_rlhf_rewardbench/{name}", NO_MEDIA_HINT)]
        if found.is_dir():
            return [FileImage(frame) for frame in sampled_frames(found)]
        return [FileImage(found)]

    def _sample(
        self, sample_id: str, pair_id: str, item: dict[str, Any], roots: list[Path], where: str
    ) -> Sample | BadSample:
        missing = [name for name in TEXT_FIELDS if not isinstance(item.get(name), str)]
        if missing:
            return BadSample(sample_id, f"{where}: {', '.join(missing)} must be strings")
        for name in ("image", "video"):
            if item.get(name) is not None and not isinstance(item.get(name), str):
                return BadSample(sample_id, f"{where}: {name} must be a path string")
        media = self._media(item, roots)
        path = media_path(item)
        category = first_category(path)
        return Sample(
            id=sample_id,
            messages=[Message("user", (*(ImagePart(m) for m in media), TextPart(item["prompt"])))],
            target="chosen",
            category=(category,) if category else (),
            group=pair_id,
            metadata={
                "pair_id": pair_id,
                "prompt": item["prompt"],
                "chosen": item["chosen"],
                "rejected": item["rejected"],
                "chosen_reason": item.get("chosen_reason"),
                "rejected_reason": item.get("rejected_reason"),
                "image": item.get("image"),
                "video": item.get("video"),
                "has_media": bool(path),
            },
        )
