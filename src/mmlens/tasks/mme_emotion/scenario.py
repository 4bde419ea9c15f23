"""MME-Emotion (FunAudioLLM/MME-Emotion, HF ``Karl28/MME-Emotion``): 6,500 video clips in 8 tasks.

Data (``--data PATH``): the ``MME-Emotion-Dataset`` folder as published, one folder per task::

    ER-Lab/question/ER_Lab.json              [{"video_id": "IEMOCAP/video/x.mp4", "label": "Anger",
                                               "label_set": ["Anger", ...]}, ...]
    ER-Lab/audio_clue/ER_Lab_qwen2_audio_clues.json
                                             [{"video_id": ..., "ground_truth": ..., "audio_clue": ...}]

Videos are ``<videos>/<video_id>`` (scenario field ``videos``, default the data folder). A copy
without any of its videos loads for scoring only. A question without an audio clue is a bad
sample (the official eval script skips it with a warning).

Sample id ``<task>/<video_id>``; category ``(task, label)``; metadata ``task``, ``label_set``,
``audio_clue``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmlens.core.errors import DataError
from mmlens.core.media import AbsentVideo, VideoRef
from mmlens.core.messages import Message, VideoPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample

TASKS = ("ER-Lab", "ER-Wild", "Noise-ER", "FG-ER", "ML-ER", "SA", "FG-SA", "IR")
# What the task asks about (the word the official extract_step prompts use).
SUBJECTS = {"SA": "sentiment", "FG-SA": "sentiment", "IR": "intent"}


def task_files(root: Path, task: str) -> tuple[Path, Path]:
    stem = task.replace("-", "_")
    return (
        root / task / "question" / f"{stem}.json",
        root / task / "audio_clue" / f"{stem}_qwen2_audio_clues.json",
    )


def _read_list(path: Path, task_name: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"task {task_name}: cannot read {path}: {error}") from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise DataError(f"task {task_name}: {path}: expected a list of objects")
    return data


@scenarios.register("mme_emotion")
class MMEEmotionScenario(Scenario):
    """Fields: ``tasks`` (which of the 8, default all), ``videos`` (the folder the video ids are under)."""

    tasks: tuple[str, ...] = TASKS
    videos: str | None = None

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        if context.data_path is None:
            raise DataError(f"task {context.task_name}: give --data: the MME-Emotion-Dataset folder")
        root = Path(context.data_path).expanduser()
        unknown = [task for task in self.tasks if task not in TASKS]
        if unknown:
            raise DataError(
                f"task {context.task_name}: unknown MME-Emotion task {unknown[0]!r} ({', '.join(TASKS)})"
            )
        missing = [str(q) for task in self.tasks for q in task_files(root, task) if not q.is_file()]
        if missing:
            raise DataError(f"task {context.task_name}: {missing[0]} does not exist (the published layout)")
        videos = Path(self.videos).expanduser() if self.videos else root
        rows = [
            (task, question, _read_list(clues, context.task_name))
            for task in self.tasks
            for question, clues in [task_files(root, task)]
        ]
        has_videos = any(
            (videos / str(item.get("video_id", ""))).is_file()
            for _, question, _ in rows
            for item in _read_list(question, context.task_name)
        )
        for task, question, clue_items in rows:
            clues = {str(item.get("video_id")): item for item in clue_items}
            for number, item in enumerate(_read_list(question, context.task_name)):
                yield self._sample(task, number, item, clues, videos, has_videos, question)

    @staticmethod
    def _sample(
        task: str,
        number: int,
        item: dict[str, Any],
        clues: dict[str, dict[str, Any]],
        videos: Path,
        has_videos: bool,
        file: Path,
    ) -> Sample | BadSample:
        video_id, label = item.get("video_id"), item.get("label")
        if not isinstance(video_id, str) or not isinstance(label, str):
            return BadSample(
                f"{task}/#{number}", f"{file}, item {number}: video_id and label must be strings"
            )
        sample_id = f"{task}/{video_id}"
        clue = clues.get(video_id)
        if clue is None or not isinstance(clue.get("audio_clue"), str):
            return BadSample(
                sample_id, f"{file}: no audio clue for {video_id} (the official script skips it)"
            )
        path = videos / video_id
        if path.is_file():
            video: VideoRef = VideoRef(path)
        elif has_videos:
            return BadSample(sample_id, f"{file}: video {path} not found")
        else:
            video = AbsentVideo("mme_emotion/" + video_id, f"this copy has no videos under {videos}")
        label_set = [str(x) for x in item.get("label_set") or []]
        subject = SUBJECTS.get(task, "emotion")
        return Sample(
            id=sample_id,
            messages=[Message("user", (VideoPart(video),))],
            target=label,
            category=(task, label),
            metadata={
                "task": task,
                "subject": subject,
                "label_set": label_set,
                "labels": ", ".join(label_set),
                "audio_clue": clue["audio_clue"],
                "ground_truth": label,  # eval_cot reads the label the answers file carries
            },
        )
