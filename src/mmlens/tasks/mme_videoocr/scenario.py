"""MME-VideoOCR (HF ``DogNeverSleep/MME-VideoOCR_Dataset``, split ``train``): ``dataset.json``.

Records: ``video_index`` (the video is ``<video_index>.mp4``, in ``videos/``, ``video/`` or beside
the JSON), ``question``, ``eval_method`` (containment_match, multiple_choice,
gpt_assisted_scoring), ``option`` (a list, multiple choice), ``answer``, ``task``, ``task_type``.
Sample id: the record's ``index`` (or ``id``) where it has one, else its position in the file.
Without the videos the samples still load (``mmlens score``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmlens.core.errors import SampleError
from mmlens.core.media import AbsentVideo, VideoRef
from mmlens.core.messages import Message, TextPart, VideoPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.tables import Table, cell_text, find_file, read_table

EVAL_METHODS = ("containment_match", "multiple_choice", "gpt_assisted_scoring")
VIDEO_FOLDERS = ("videos", "video", ".")


@scenarios.register("mme_videoocr")
class MMEVideoOCRScenario(Scenario):
    """Fields: ``hub_id``, ``split``, ``video_dir`` (where the mp4 files are)."""

    id_scheme = 'the record\'s "index" (or "id") field, else its position in dataset.json'

    hub_id: str = "DogNeverSleep/MME-VideoOCR_Dataset"
    split: str = "train"
    video_dir: str | None = None

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        table = read_table(
            context.data_path,
            default_hub_id=self.hub_id,
            split=self.split,
            task=context.task_name,
            image_columns=(),
        )
        table.require_columns("video_index", "question", "eval_method", "answer", "task", "task_type")
        roots = self._roots(context, table)
        for number, row in enumerate(table):
            sample_id = cell_text(row.get("index")) or cell_text(row.get("id")) or str(number)
            try:
                yield self._sample(sample_id, row, table, roots)
            except SampleError as error:
                yield BadSample(sample_id, error.reason)

    def _roots(self, context: LoadContext, table: Table) -> list[Path]:
        if self.video_dir is not None:
            return [Path(self.video_dir).expanduser()]
        base = table.base_dir or (Path(context.data_path).parent if context.data_path else Path("."))
        return [base / folder for folder in VIDEO_FOLDERS]

    @staticmethod
    def _sample(sample_id: str, row: dict[str, Any], table: Table, roots: list[Path]) -> Sample:
        question, answer = cell_text(row["question"]), cell_text(row["answer"])
        method, stem = (cell_text(row["eval_method"]) or "").strip(), cell_text(row["video_index"])
        if question is None or answer is None or stem is None:
            raise SampleError(sample_id, f"{table.origin}: needs video_index, question and answer")
        if method not in EVAL_METHODS:
            raise SampleError(
                sample_id, f"{table.origin}: eval_method {method!r} is not one of {EVAL_METHODS}"
            )
        options = [str(option) for option in (row.get("option") or [])]
        if method == "multiple_choice" and not options:
            raise SampleError(sample_id, f"{table.origin}: a multiple_choice question without options")
        path = find_file(f"{stem}.mp4", roots)
        video = (
            VideoRef(path)
            if path is not None
            else AbsentVideo(f"{stem}.mp4", "download the videos beside dataset.json")
        )
        return Sample(
            id=sample_id,
            messages=[Message("user", (VideoPart(video), TextPart(question)))],
            target=answer,
            choices=options or None,
            category=(cell_text(row["task_type"]) or "", cell_text(row["task"]) or ""),
            metadata={
                "question": question,
                "eval_method": method,
                "options": options,
                "task": cell_text(row["task"]),
                "task_type": cell_text(row["task_type"]),
            },
        )
