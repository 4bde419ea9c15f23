"""``scalar``: one ``reward`` request per sample, the model's scalar head on the image and prompt
(the official LMM4LMM prediction is its regression head's output, ``score1``). Scores made
elsewhere (``mmlens score``): ``"response"``: the score as text."""

from __future__ import annotations

from typing import ClassVar

from mmlens.core.messages import Message
from mmlens.core.parts import Inferencer, Prediction, ReplayError, ReplayOutput, inferencers
from mmlens.core.requests import Request, Response
from mmlens.core.sample import Sample


@inferencers.register("scalar")
class Scalar(Inferencer):
    """One reward (scalar) request of the sample's messages; the prediction's text is the number."""

    replay_fields: ClassVar[frozenset[str]] = frozenset({"response"})

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        return [Request("reward", tuple(messages))]

    def combine(self, sample: Sample, requests: list[Request], responses: list[Response]) -> Prediction:
        (response,) = responses
        if response.error or response.reward is None:
            return Prediction(text=None, error=response.error or "no scalar in the response")
        return Prediction(text=repr(response.reward))

    def replay(self, sample: Sample, output: ReplayOutput) -> Prediction:
        if "response" not in output.fields:
            raise ReplayError('this task scores with a number: give "response" (the score as text)')
        return Prediction(text=output.response)
