"""MMWorld's prompt (evaluation/eval.py ``answer_generator``): ``Answer the question {question} by
selecting one from the giving answers {options}. Respond with only single letter such as a, b, c
,d.`` where ``{options}`` is the options dict as Python prints it; the frames first (the
official scripts: 8 keyframes for GPT-4V, 10 for Gemini / Claude, Katna's keyframe extractor;
here a ``FrameSampling``)."""

from __future__ import annotations

from mmlens.core.messages import Message, TextPart, VideoPart
from mmlens.core.parts import instructions
from mmlens.core.sample import Sample
from mmlens.media.instruction import VideoInstruction

PROMPT = (
    "Answer the question {question} by selecting one from the giving answers {options}. "
    "Respond with only single letter such as a, b, c ,d."
)


@instructions.register("mmworld")
class MMWorldInstruction(VideoInstruction):
    """Fields: ``template`` ({question}; {options}: the dict's repr) and the frame settings."""

    template: str = PROMPT
    frames: int = 8

    def build(self, sample: Sample) -> list[Message]:
        video = next(p for m in sample.messages for p in m.content if isinstance(p, VideoPart))
        text = self.template.format(
            question=sample.metadata["question"], options=repr(sample.metadata["options"])
        )
        return [Message("user", (VideoPart(video.video, sampling=self.frame_sampling()), TextPart(text)))]
