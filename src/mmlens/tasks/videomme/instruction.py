"""Video-MME's prompt (its README), the video's sampled frames first.

``This video's subtitles are listed below:\\n[Subtitles]\\nSelect the best answer ... option.\\n
[Question]\\nThe best answer is:`` where [Question] is the question line and the four option
lines; without subtitles the first two lines go. The frames are a ``FrameSampling`` (rule,
count or rate, decoder: all in the request's content hash); the subtitle lines are those of the
sampled frames by a ``SubtitleSelection`` rule, read from the video's header (no decoding) when
the samples are built. The official scripts do not prescribe a frame count (32 here).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import model_validator

from mmlens.core.errors import DataError, SampleError
from mmlens.core.media import AbsentVideo
from mmlens.core.messages import Message, TextPart, VideoPart
from mmlens.core.parts import instructions
from mmlens.core.sample import Sample
from mmlens.media.instruction import VideoInstruction
from mmlens.media.sampling import plan_frames
from mmlens.media.subtitles import SubtitleSelection

PROMPT = (
    "Select the best answer to the following multiple-choice question based on the video. "
    "Respond with only the letter (A, B, C, or D) of the correct option.\n{question}\n{options}\n"
    "The best answer is:"
)
SUBTITLES_BLOCK = "This video's subtitles are listed below:\n{subtitles}\n"


@instructions.register("videomme")
class VideoMMEInstruction(VideoInstruction):
    """Fields: ``template`` ({question}, {options}); ``subtitles`` (attach them) and
    ``subtitles_template`` ({subtitles}); frames: ``frames``, ``sampling`` (videomme, linspace,
    vlmevalkit, fps), ``fps``, ``decoder``; ``subtitle_rule`` (videomme, lmms_eval) and
    ``subtitle_frames`` (the rule's own frame count, where it has one)."""

    template: str = PROMPT
    template_with_subtitles: str | None = None  # where the prompt itself changes (lmms-eval)
    subtitles: bool = False
    subtitles_template: str = SUBTITLES_BLOCK
    sampling: str = "videomme"
    subtitle_rule: str = "videomme"
    subtitle_frames: int = 0

    @model_validator(mode="after")
    def _check_subtitles(self) -> VideoMMEInstruction:
        SubtitleSelection(self.subtitle_rule, self.subtitle_frames)
        return self

    def subtitle_lines(self, sample: Sample, video: VideoPart) -> list[str]:
        if isinstance(video.video, AbsentVideo):
            return []  # a questions-only copy: scored, never sent
        planned = plan_frames(video.video.local_path(), self.frame_sampling())
        path = sample.metadata.get("subtitle_path")
        selection = SubtitleSelection(self.subtitle_rule, self.subtitle_frames)
        return selection.lines(Path(path) if path else None, planned.info, planned.indices)

    def build(self, sample: Sample) -> list[Message]:
        video = next(p for m in sample.messages for p in m.content if isinstance(p, VideoPart))
        options = list(sample.metadata["options"])
        template = (
            self.template_with_subtitles if self.subtitles and self.template_with_subtitles else self.template
        )
        text = template.format(question=sample.metadata["question"], options="\n".join(options))
        if self.subtitles:
            try:
                lines = self.subtitle_lines(sample, video)
            except DataError as error:  # an unreadable video or subtitle file: this sample only
                raise SampleError(sample.id, str(error)) from None
            text = self.subtitles_template.format(subtitles="\n".join(lines)) + text
        part = VideoPart(video.video, sampling=self.frame_sampling())
        return [Message("user", (part, TextPart(text)))]
