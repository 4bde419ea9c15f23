"""Video-MME as HF ``lmms-lab/Video-MME`` publishes it, read in place.

``--data`` is the downloaded folder: the parquet under ``videomme/`` (config ``videomme``, split
``test``), the videos unzipped from ``videos_chunked_*.zip`` as ``<videoID>.mp4`` (in ``data/``,
``videos/`` or the folder itself) and the subtitles from ``subtitle.zip`` as ``<videoID>.srt``
(``subtitle/`` or ``subtitles/``). Columns: ``video_id``, ``duration``, ``domain``,
``sub_category``, ``url``, ``videoID``, ``question_id`` (the sample id), ``task_type``,
``question``, ``options`` (``"A. ..."`` strings), ``answer``. A questions-only copy (no videos)
loads: its samples score (``mmlens score``), and only running a model on them fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmlens.core.errors import SampleError
from mmlens.core.media import AbsentVideo, VideoRef
from mmlens.core.messages import Message, TextPart, VideoPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.tables import Table, cell_text, find_file, read_table

COLUMNS = (
    "duration",
    "domain",
    "sub_category",
    "videoID",
    "question_id",
    "task_type",
    "question",
    "options",
    "answer",
)
VIDEO_FOLDERS = ("data", "videos", ".")
SUBTITLE_FOLDERS = ("subtitle", "subtitles", ".")
_OPTION = re.compile(r"^\s*([A-D])\.\s?(.*)$", re.DOTALL)
VIDEO_HINT = "unzip videos_chunked_*.zip of lmms-lab/Video-MME into <data>/data/"


@scenarios.register("videomme")
class VideoMMEScenario(Scenario):
    """Fields: ``hub_id``, ``config``, ``split``; ``video_dir`` / ``subtitle_dir`` where the media
    are not beside the parquet."""

    id_scheme = 'the "question_id" column ("<video_id>-<1..3>")'

    hub_id: str = "lmms-lab/Video-MME"
    config: str = "videomme"
    split: str = "test"
    video_dir: str | None = None
    subtitle_dir: str | None = None

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        table = read_table(
            context.data_path,
            default_hub_id=self.hub_id,
            split=self.split,
            task=context.task_name,
            config=self.config,
            image_columns=(),
        )
        table.require_columns(*COLUMNS)
        video_roots = self._roots(self.video_dir, context, table, VIDEO_FOLDERS)
        subtitle_roots = self._roots(self.subtitle_dir, context, table, SUBTITLE_FOLDERS)
        for number, row in enumerate(table):
            sample_id = cell_text(row["question_id"])
            if sample_id is None:
                yield BadSample(f"row{number}", f"{table.origin} row {number}: no question_id")
                continue
            try:
                yield self._sample(sample_id, row, table, video_roots, subtitle_roots)
            except SampleError as error:
                yield BadSample(sample_id, error.reason)

    @staticmethod
    def _roots(given: str | None, context: LoadContext, table: Table, folders: tuple[str, ...]) -> list[Path]:
        if given is not None:
            return [Path(given).expanduser()]
        bases: list[Path] = []
        if context.data_path is not None:
            data = Path(context.data_path).expanduser()
            bases.append(data if data.is_dir() else data.parent)
        if table.base_dir is not None:
            bases.extend([table.base_dir, table.base_dir.parent])
        return [base / folder for base in dict.fromkeys(bases) for folder in folders]

    def _sample(
        self, sample_id: str, row: dict[str, Any], table: Table, videos: list[Path], subtitles: list[Path]
    ) -> Sample:
        question, answer, stem = (
            cell_text(row["question"]),
            cell_text(row["answer"]),
            cell_text(row["videoID"]),
        )
        options = [str(option) for option in (row["options"] if row["options"] is not None else [])]
        if question is None or answer is None or stem is None or len(options) != 4:
            raise SampleError(
                sample_id, f"{table.origin}: needs a question, an answer, a videoID and 4 options"
            )
        letters = [(_OPTION.match(option) or [None, None])[1] for option in options]
        if letters != ["A", "B", "C", "D"]:
            raise SampleError(
                sample_id, f"{table.origin}: options must read 'A. ...' to 'D. ...' (got {options!r})"
            )
        video_path = find_file(f"{stem}.mp4", videos)
        video: VideoRef = (
            VideoRef(video_path) if video_path is not None else AbsentVideo(f"{stem}.mp4", VIDEO_HINT)
        )
        subtitle = find_file(f"{stem}.srt", subtitles)
        metadata = {
            "video_id": cell_text(row.get("video_id")),
            "videoID": stem,
            "duration": cell_text(row["duration"]),
            "domain": cell_text(row["domain"]),
            "sub_category": cell_text(row["sub_category"]),
            "task_type": cell_text(row["task_type"]),
            "question": question,
            "options": options,
            "subtitle_path": str(subtitle) if subtitle is not None else None,
        }
        return Sample(
            id=sample_id,
            messages=[Message("user", (VideoPart(video), TextPart(question + "\n" + "\n".join(options))))],
            target=answer.strip(),
            choices=[_option_text(option) for option in options],
            category=(str(metadata["duration"]),),
            metadata=metadata,
        )


def _option_text(option: str) -> str:
    match = _OPTION.match(option)
    return match.group(2) if match else option
