"""MME-VideoOCR's prompts (``mme_videoocr_doc_to_text`` in evaluation/automated_evaluation/
mme_videoocr/utils.py), one per ``eval_method``; the video's frames first."""

from __future__ import annotations

from mmlens.core.messages import Message, TextPart, VideoPart
from mmlens.core.parts import instructions
from mmlens.core.sample import Sample
from mmlens.media.instruction import VideoInstruction

RECOGNITION = (
    "Based on the video and the question below, directly answer the content that needs to be recognized "
    "in plain text. Do not include any additional explanations, formatting changes, or extra information."
    "\nQuestion: {question}\nThe answer is:"
)
MULTIPLE_CHOICE = (
    "Select the best answer to the following multiple-choice question based on the video. Respond with "
    "only the letter (A, B, C, or D) of the correct option.\nQuestion: {question}\nOption:\n{options}"
    "The best answer is:"
)
JUDGED = (
    "Based on the video and the question below, directly provide the answer in plain text. Do not include "
    "any additional explanations, formatting changes, or extra information.\nQuestion: {question}\n"
    "The answer is:"
)


@instructions.register("mme_videoocr")
class MMEVideoOCRInstruction(VideoInstruction):
    """Fields: the three templates ({question}; {options}: "A. x\\n" lines) and the frame settings."""

    containment_match: str = RECOGNITION
    multiple_choice: str = MULTIPLE_CHOICE
    gpt_assisted_scoring: str = JUDGED

    def build(self, sample: Sample) -> list[Message]:
        video = next(p for m in sample.messages for p in m.content if isinstance(p, VideoPart))
        template: str = getattr(self, sample.metadata["eval_method"])
        options = "".join(f"{chr(65 + i)}. {c}\n" for i, c in enumerate(sample.metadata["options"]))
        text = template.format(question=sample.metadata["question"].strip(), options=options)
        return [Message("user", (VideoPart(video.video, sampling=self.frame_sampling()), TextPart(text)))]
