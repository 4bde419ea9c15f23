"""MMIE's scoring model through a role (Lillianwei-h/MMIE@eb0fd6e main.py, dataset.py, prompts.py).

Judge input (dataset.py): question items in order, ``text + "\\n"`` and, for each image, ``"Image-{k}:
<image>\\n"`` (k from 0; an image file that is missing is skipped, official "not found!"); the
model's answer (a str) as ``answer + "\\n"``; the images go with the request at their ``<image>``
places. A sample with more than 4 images is dropped silently (here: ``dropped``, out of every
mean). Rubric by id substring SA, then PBL, then MSR (``rubric_*.txt``, prompts.py verbatim, no
newline before ``### Question``); MSR adds the reference. Greedy, 1024 new tokens.

Score (main.py ``find_score``): ``re.search(r'### Score.*?(-?\\d+(\\.\\d+)?)', text, re.DOTALL)`` ->
``round(float)`` (Python's banker's rounding), kept only if 0 <= s <= 6; else the sample is left
out of every mean (extraction ``failed``). Means ``round(np.mean, 3)`` overall and per SA/PBL/MSR,
on the 0-6 scale.
"""

from __future__ import annotations

import math
import re
from functools import cache
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from mmlens.core.media import FileImage
from mmlens.core.messages import ImagePart, Message, TextPart
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
from mmlens.tasks.mmie.scenario import CATEGORIES, category_of

FOLDER = Path(__file__).resolve().parent
SCORE_PATTERN = re.compile(r"### Score.*?(-?\d+(\.\d+)?)", re.DOTALL)
MAX_IMAGES = 4
TAIL = "### Question\n{question}\n### Answer\n{answer}\n### Feedback\n"
MSR_TAIL = (
    "### Question\n{question}\n### Answer\n{answer}\n### Correct Answer\n"
    "The correct answer to this question should be: {gt_answer}\n### Feedback\n"
)


@cache
def rubric(category: str) -> str:
    return (FOLDER / f"rubric_{category}.txt").read_text(encoding="utf-8")


def find_score(text: str | None) -> int | None:
    """main.py ``find_score``: the first number after "### Score", rounded (banker's)."""
    match = SCORE_PATTERN.search(text or "")
    return round(float(match.group(1))) if match else None


def kept_score(text: str | None) -> int | None:
    score = find_score(text)
    return score if score is not None and 0 <= score <= 6 else None


def official_average(scores: list[int]) -> float:
    """main.py ``average``: round(np.mean, 3); None (nan here) for no scores."""
    if not scores:
        return math.nan
    return round(sum(scores) / len(scores), 3)


def judge_input(sample: Sample, answer: str, images_dir: Path | None = None) -> tuple[str, list[FileImage]]:
    """(prompt text with <image> tags, the images) as dataset.py + get_prompt build them."""
    question_text, images, number = "", [], 0
    for part in sample.messages[0].content:
        if isinstance(part, TextPart):
            question_text += part.text + "\n"
        elif isinstance(part, ImagePart) and isinstance(part.image, FileImage):
            question_text += f"Image-{number}: <image>\n"
            number += 1
            images.append(part.image)
    answer_text = answer + "\n"
    category = category_of(sample.id) or "SA"
    tail = MSR_TAIL if category == "MSR" else TAIL
    prompt = rubric(category) + tail.format(
        question=question_text, answer=answer_text, gt_answer=sample.target
    )
    return prompt, images


@metrics.register("mmie")
class MMIEScore(Metric):
    """The scoring model's 0-6 score per sample; round(mean, 3) overall and per category."""

    primary: ClassVar[str] = "score"
    correct_key: ClassVar[str | None] = None
    role: str = "judge"
    judge_max_new_tokens: int = Field(1024, ge=1)

    def roles(self) -> tuple[str, ...]:
        return (self.role,)

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        raise NotImplementedError("MMIE is scored by the scoring model in extract_rounds")

    def extract_rounds(self, sample: Sample, prediction: Prediction) -> Rounds[Extraction]:
        prompt, images = judge_input(sample, prediction.text or "")
        if len(images) > MAX_IMAGES:
            return Extraction(None, "failed", details={"dropped": f"{len(images)} images > {MAX_IMAGES}"})
        content: list[ImagePart | TextPart] = []
        pieces = prompt.split("<image>")
        for number, piece in enumerate(pieces):
            content.append(TextPart(piece))
            if number < len(images):
                content.append(ImagePart(images[number]))
        settings = GenerationSettings(max_new_tokens=self.judge_max_new_tokens, temperature=0.0)
        request = Request("generate", (Message("user", tuple(content)),), settings=settings, role=self.role)
        (reply,) = yield [request]
        score = kept_score(reply.text)
        details = {"feedback": reply.text, "parsed": find_score(reply.text)}
        if score is None:
            return Extraction(None, "failed", details=details)
        return Extraction(str(score), "judge", details=details)

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        return {} if extraction.answer is None else {"score": float(extraction.answer)}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        scored = [r for r in records if "score" in r.scores]
        values = {
            "score": MetricValue(official_average([int(r.scores["score"]) for r in scored]), n=len(scored)),
            "dropped": MetricValue(
                float(sum(1 for r in records if r.details.get("dropped"))), n=len(records)
            ),
        }
        breakdown = {}
        for name in CATEGORIES:
            subset = [int(r.scores["score"]) for r in scored if r.category and r.category[0] == name]
            if subset:
                breakdown[name] = {"score": MetricValue(official_average(subset), n=len(subset))}
        return Aggregate(values, breakdown)
