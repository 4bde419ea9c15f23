"""MME-Emotion's two judge stages and metrics (FunAudioLLM/MME-Emotion@0c265d8).

Stage 1 (``extract_step/<task>/code/extract_step.py``, role ``extractor``, default
``gpt-4.1-2025-04-14``): system "You are an expert in affective computing ...", the task's prompt
(``prompts/extract_<task>.txt``, verbatim) with the model's answer, temperature 0. Its whole reply
is the "step" the next stage rates.

Stage 2 (``eval_cot/<task>/code/eval_cot_gpt4o.py``, role ``judge``, default ``gpt-4o-2024-11-20``):
the same system message, the task's rating prompt (``prompts/eval_<task>.txt``, verbatim) with the
audio clue, the ground-truth label and the step, then up to 10 video frames at 1 fps as JPEG
(``extract_key_frames``: every ``int(fps)``-th decoded frame from the first, the first 10),
temperature 0, n 1.

Reading the rating (``eval_cot/<task>/metrics/cal_metrics.py`` ``parse_score``): the first
``<score>(.*?)</score>`` on one line (no DOTALL); the task parser takes ``: (\\d)/1`` as integers
(FG-ER and ML-ER: ``:\\s*(\\d+)/(\\d+)`` as numerator / denominator, 0 for a zero denominator);
the overall parser (``eval_cot/Overall``) always the latter. No ``<score>`` or no step score: the
sample is skipped (``if not scores: continue``): extraction ``failed``, counted as unparsed, out of
every mean. Recognition = the last step's score; reasoning = the mean of the others (0.0 for a
single step); CoT = alpha x recognition + (1 - alpha) x reasoning (alpha 0.5); x 100, written with
1 decimal (``:.1f``).
"""

from __future__ import annotations

import io
import math
import re
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from mmlens.core.errors import DataError
from mmlens.core.media import AbsentImage, AbsentVideo, BytesImage, ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart, VideoPart
from mmlens.core.parts import (
    Aggregate,
    Extraction,
    Metric,
    MetricValue,
    Prediction,
    Rounds,
    SampleRecord,
    metrics,
)
from mmlens.core.requests import GenerationSettings, Request
from mmlens.core.sample import Sample
from mmlens.metrics.judge_governance import parsed_reply, unparsed_reply

EXTRACTOR_ROLE = "extractor"
JUDGE_ROLE = "judge"
PROMPTS = Path(__file__).resolve().parent / "prompts"
SYSTEM = (
    "You are an expert in affective computing and very good at handling tasks related to emotion recognition."
)
FRACTION_TASKS = ("FG-ER", "ML-ER")  # their cal_metrics.py reads any denominator
SCORE_BLOCK = re.compile(r"<score>(.*?)</score>")
TASK_STEP = re.compile(r": (\d)/1")
ANY_STEP = re.compile(r":\s*(\d+)/(\d+)")
MAX_FRAMES = 10
# ER-Wild's cal_metrics.py merges these labels into one category each.
ER_WILD_CATEGORIES = {
    "angry": "anger",
    "disgusted": "disgust",
    "happy": "happiness",
    "sad": "sadness",
    "surprised": "surprise",
}


@cache
def prompt(stage: str, task: str) -> str:
    return (PROMPTS / f"{stage}_{task}.txt").read_text(encoding="utf-8")


def parse_task_scores(reply: str | None, task: str) -> list[float] | None:
    """The task's cal_metrics.py ``parse_score`` (None: no ``<score>`` block)."""
    if task in FRACTION_TASKS:
        return parse_overall_scores(reply)
    match = SCORE_BLOCK.search(str(reply))
    return [float(int(m.group(1))) for m in TASK_STEP.finditer(match.group(1))] if match else None


def parse_overall_scores(reply: str | None) -> list[float] | None:
    """eval_cot/Overall/metrics/cal_metrics.py ``parse_score``."""
    match = SCORE_BLOCK.search(str(reply))
    if not match:
        return None
    return [
        0.0 if int(m.group(2)) == 0 else int(m.group(1)) / int(m.group(2))
        for m in ANY_STEP.finditer(match.group(1))
    ]


def step_metrics(scores: list[float]) -> tuple[float, float, int]:
    """cal_metrics.py ``calculate_metrics``: (last step, mean of the others or 0.0, steps)."""
    reasoning = sum(scores[:-1]) / len(scores[:-1]) if len(scores) > 1 else 0.0
    return scores[-1], reasoning, len(scores)


def key_frames(path: Path, interval: float = 1.0, limit: int = MAX_FRAMES) -> list[bytes]:
    """``extract_key_frames``: every ``int(fps * interval)``-th frame from the first, as JPEG."""
    import av

    frames: list[bytes] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        step = int(float(stream.average_rate or 0) * interval)
        if step <= 0:  # cv2's fps 0: ``count % 0`` raises in the script, which then skips the video
            raise DataError(f"{path}: no frame rate")
        for count, frame in enumerate(container.decode(stream)):
            if count % step == 0:
                buffer = io.BytesIO()
                frame.to_image().save(buffer, format="JPEG", quality=95)
                frames.append(buffer.getvalue())
                if len(frames) == limit:
                    break
    return frames


def frame_images(sample: Sample) -> list[ImageRef]:
    video = next(
        (part.video for m in sample.messages for part in m.content if isinstance(part, VideoPart)), None
    )
    if video is None:
        return []
    if isinstance(video, AbsentVideo):  # a questions-only copy: replayed ratings need no pixels
        return [AbsentImage(f"frames of {video.label}", video.hint)]
    try:
        frames = key_frames(video.local_path())
    except DataError:  # the script: no frame rate (``count % 0`` raises) -> no score -> skipped
        return []
    return [BytesImage(data, f"{video.describe()} frame {i}") for i, data in enumerate(frames)]


def one_decimal(value: float) -> float:
    return float(f"{value:.1f}")


@metrics.register("mme_emotion")
class MMEEmotionJudges(Metric):
    """Recognition, reasoning and CoT scores; per task (its own parser) and overall (the overall one).

    Fields: alpha (0.5), judge_max_new_tokens (the scripts send none; 1024 here)."""

    primary: ClassVar[str] = "cot"
    correct_key: ClassVar[str | None] = None
    alpha: float = Field(0.5, ge=0.0, le=1.0)
    judge_max_new_tokens: int = Field(1024, ge=1)

    def roles(self) -> tuple[str, ...]:
        return (EXTRACTOR_ROLE, JUDGE_ROLE)

    def judge_prompt_templates(self) -> dict[str, str]:
        from mmlens.tasks.mme_emotion.scenario import TASKS

        texts = {
            f"{stage}_{task}.txt": prompt(stage, task) for stage in ("extract", "eval") for task in TASKS
        }
        return {**texts, "system": SYSTEM}

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        raise NotImplementedError("MME-Emotion is judged in two stages in extract_rounds")

    def _settings(self) -> GenerationSettings:
        return GenerationSettings(max_new_tokens=self.judge_max_new_tokens, temperature=0.0)

    def extract_rounds(self, sample: Sample, prediction: Prediction) -> Rounds[Extraction]:
        task = str(sample.metadata["task"])
        extract_text = prompt("extract", task).replace("{model_response}", prediction.text or "")
        (step,) = yield [
            Request(
                "generate",
                (Message.system(SYSTEM), Message.user(extract_text)),
                settings=self._settings(),
                role=EXTRACTOR_ROLE,
            )
        ]
        rating_text = (
            prompt("eval", task)
            .replace("{audio_clue}", str(sample.metadata.get("audio_clue", "")))
            .replace("{ground_truth}", str(sample.metadata.get("ground_truth", sample.target)))
            .replace("{step}", step.text or "")
        )
        frames = frame_images(sample)
        if not frames:  # the script: "No valid frames extracted" -> no score -> skipped
            return unparsed_reply(None, step=step.text, why="no video frames")
        content: tuple[TextPart | ImagePart, ...] = (TextPart(rating_text), *[ImagePart(f) for f in frames])
        (rating,) = yield [
            Request(
                "generate",
                (Message.system(SYSTEM), Message("user", content)),
                settings=self._settings(),
                role=JUDGE_ROLE,
            )
        ]
        task_scores = parse_task_scores(rating.text, task)
        overall_scores = parse_overall_scores(rating.text)
        label = str(sample.metadata.get("ground_truth", sample.target))
        if task == "ER-Wild":
            label = ER_WILD_CATEGORIES.get(label, label)
        details: dict[str, Any] = {
            "task": task,
            "category": label,
            "step": step.text,
            "task_scores": task_scores or None,
            "overall_scores": overall_scores or None,
        }
        if not task_scores and not overall_scores:
            return unparsed_reply(rating.text, **details)
        return parsed_reply(repr(task_scores or overall_scores), rating.text, **details)

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        scores = extraction.details.get("task_scores")
        if not scores:
            return {"cot": math.nan}
        recognition, reasoning, steps = step_metrics(scores)
        cot = self.alpha * recognition + (1 - self.alpha) * reasoning
        return {"cot": cot, "recognition": recognition, "reasoning": reasoning, "steps": float(steps)}

    def _values(self, items: list[tuple[float, float, int]]) -> dict[str, MetricValue]:
        n = len(items)
        if not n:
            return {"cot": MetricValue(math.nan, n=0)}
        acc = sum(i[0] for i in items) / n
        reason = sum(i[1] for i in items) / n
        return {
            "cot": MetricValue(one_decimal(100 * (self.alpha * acc + (1 - self.alpha) * reason)), n=n),
            "recognition": MetricValue(one_decimal(100 * acc), n=n),
            "reasoning": MetricValue(one_decimal(100 * reason), n=n),
            "steps": MetricValue(one_decimal(sum(i[2] for i in items) / n), n=n),
        }

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        overall: list[tuple[float, float, int]] = []
        by_task: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
        by_category: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
        for record in records:
            details = record.details or {}
            if details.get("overall_scores"):
                overall.append(step_metrics(details["overall_scores"]))
            if details.get("task_scores"):
                item = step_metrics(details["task_scores"])
                by_task[details["task"]].append(item)
                by_category[f"{details['task']}/{details['category']}"].append(item)
        breakdown = {name: self._values(items) for name, items in sorted({**by_task, **by_category}.items())}
        return Aggregate(self._values(overall), breakdown)
