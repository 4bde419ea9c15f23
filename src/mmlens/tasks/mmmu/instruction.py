"""MMMU's official prompt (MMMU-Benchmark/MMMU@bb0b95a, mmmu/configs/llava1.5.yaml as yaml.safe_load
reads it, filled by ``construct_prompt`` in mmmu/utils/data_utils.py).

Multiple choice: ``{question}\\n(A) opt\\n(B) opt\\n\\nAnswer with the option's letter from the given
choices directly.`` (each option line ends with a newline); open:
``{question}\\nAnswer the question using a single word or phrase.``. The images come first.
"""

from __future__ import annotations

from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import Instruction, instructions
from mmlens.core.sample import Sample

MULTIPLE_CHOICE_FORMAT = (
    "{question}\n{options}\nAnswer with the option's letter from the given choices directly."
)
OPEN_FORMAT = "{question}\nAnswer the question using a single word or phrase."


def options_block(choices: list[str]) -> str:
    """``construct_prompt``'s ``example``: one "(X) option\\n" line per option."""
    return "".join(f"({chr(ord('A') + index)}) {option}\n" for index, option in enumerate(choices))


@instructions.register("mmmu")
class MMMUInstruction(Instruction):
    """Fields: ``multiple_choice`` and ``open`` (the two templates; {question} and {options})."""

    multiple_choice: str = MULTIPLE_CHOICE_FORMAT
    open: str = OPEN_FORMAT
    system: str | None = None

    def text(self, sample: Sample) -> str:
        question = str(sample.metadata.get("question", sample.question))
        if sample.metadata.get("question_type") == "multiple-choice":
            return self.multiple_choice.format(question=question, options=options_block(sample.choices or []))
        return self.open.format(question=question)

    def build(self, sample: Sample) -> list[Message]:
        prefix = [Message.system(self.system)] if self.system else []
        images = [ImagePart(image) for image in sample.images]
        return [*prefix, Message("user", (*images, TextPart(self.text(sample))))]
