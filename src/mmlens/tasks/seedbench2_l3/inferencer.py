"""Ranking an L3 question's option images by likelihood, for models that read images but write
text (mmlens's own protocol: SEED-Bench-2 ships no L3 code, and its answer ranking scores option
*texts*).

Option X is scored as log P(text | the question's images, option X's image[, the question]):
- 25 (Text-to-Image Generation), 26 (Next Image Prediction): the text is the question itself, read
  after the question's images and the option image (which image makes the question most likely);
- 27 (Text-Image Creation): the text is option X's own text, after option X's image and the
  question (SEED-Bench-2's answer ranking, with each option's image shown with it).
The mean log-probability per token decides (SEED-Bench-2's LLaVA interface), ties to the earlier
option; for 25/26 every option scores the same text, so the mean and the sum agree.
"""

from __future__ import annotations

from mmlens.core.errors import SampleError
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import inferencers
from mmlens.core.requests import Request
from mmlens.core.sample import Sample
from mmlens.inferencers.ranking import RankChoicesTokenMean
from mmlens.tasks.seedbench2_l3.scenario import IMAGE_OPTION_DIMENSIONS


@inferencers.register("rank_option_images")
class RankOptionImages(RankChoicesTokenMean):
    """One log-likelihood request per option image (see the module docstring)."""

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        asked = int(sample.metadata.get("question_images", 0))
        images = sample.images
        if len(images) != asked + 4 or not sample.choices:
            raise SampleError(sample.id, f"expected {asked} question image(s) and 4 option images")
        question = str(sample.metadata.get("question_text", sample.question))
        image_options = sample.metadata.get("dimension") in IMAGE_OPTION_DIMENSIONS
        system = tuple(message for message in messages if message.role == "system")
        requests = []
        for index, choice in enumerate(sample.choices):
            shown = (*[ImagePart(image) for image in images[:asked]], ImagePart(images[asked + index]))
            prompt = shown if image_options else (*shown, TextPart(question))
            requests.append(
                Request(
                    "loglikelihood",
                    (*system, Message("user", prompt)),
                    continuation=question if image_options else choice,
                    continuation_ends_turn=self.include_end_of_turn,
                )
            )
        return requests
