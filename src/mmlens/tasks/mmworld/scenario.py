"""MMWorld (eric-ai-lab/MMWorld@b218230 evaluation/eval.py): ``mmworld.json``, one record per
video: ``video_id`` (a relative path), ``discipline``, ``subdiscipline``, ``questions`` with
``type``, ``question``, ``options`` ({a..d}), ``answer`` (text), ``correct_answer_label`` (a-d),
``requires_domain_knowledge``, ``requires_audio``, ``requires_visual``, ``question_only``.

Videos as the official script finds them: every ``*.mp4`` under ``all_data/<video_id>/`` (beside
the JSON, or ``video_dir``). A question is asked once per file found: none -> skipped (a bad
sample, as the script skips it), two -> twice. Without an ``all_data`` folder at all (a
questions-only copy) each question is one sample with an absent video, so ``mmlens score`` works.
Sample id: ``<video_id>/<question number from 0>``, plus ``#<file name>`` for every file after the
first of a video with several.
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
from mmlens.scenarios.tables import cell_text, read_table

FLAGS = {
    "requires_audio": "requires_audio",
    "requires_domain_knowledge": "requires_domain_knowledge",
    "requires_video": "requires_visual",
    "question_only": "question_only",
}


@scenarios.register("mmworld")
class MMWorldScenario(Scenario):
    """Fields: ``hub_id``, ``split``, ``video_dir`` (the ``all_data`` folder)."""

    id_scheme = '"<video_id>/<question number>" (+ "#<file>" for a second mp4 of one video)'

    hub_id: str = "Xuehai/MMWorld"
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
        table.require_columns("video_id", "discipline", "questions")
        base = table.base_dir or Path(".")
        all_data = Path(self.video_dir).expanduser() if self.video_dir else base / "all_data"
        for row in table:
            video_id = cell_text(row["video_id"]) or ""
            files: list[Path] | None = (
                sorted((all_data / video_id).glob("*.mp4")) if all_data.is_dir() else None
            )
            for number, question in enumerate(row["questions"] or []):
                base_id = f"{video_id}/{number}"
                if files == []:
                    yield BadSample(
                        base_id, f"no *.mp4 in {all_data / video_id} (the official script skips it)"
                    )
                    continue
                videos = files if files is not None else [None]
                for position, path in enumerate(videos):
                    sample_id = base_id if position == 0 else f"{base_id}#{path.name if path else position}"
                    try:
                        yield self._sample(sample_id, row, question, path)
                    except SampleError as error:
                        yield BadSample(sample_id, error.reason)

    @staticmethod
    def _sample(sample_id: str, row: dict[str, Any], question: dict[str, Any], path: Path | None) -> Sample:
        options = question.get("options")
        label = cell_text(question.get("correct_answer_label"))
        text = cell_text(question.get("question"))
        if not isinstance(options, dict) or label is None or text is None:
            raise SampleError(
                sample_id, "needs a question, an options object {a..d} and a correct_answer_label"
            )
        video = VideoRef(path) if path is not None else AbsentVideo(f"{row['video_id']}", "unpack all_data/")
        flags = {name: bool(question.get(key)) for name, key in FLAGS.items()}
        return Sample(
            id=sample_id,
            messages=[Message("user", (VideoPart(video), TextPart(text)))],
            target=label,
            choices=[str(value) for value in options.values()],
            category=(cell_text(row.get("discipline")) or "",),
            metadata={
                "question": text,
                "options": options,
                "answer": cell_text(question.get("answer")),
                "type": cell_text(question.get("type")),
                "discipline": cell_text(row.get("discipline")),
                "subdiscipline": cell_text(row.get("subdiscipline")),
                "flags": flags,
            },
        )
