"""The ``embed`` inferencer: one embed request per sample, its vector (L2-normalised, whichever
backend or predictions file it came from) on ``Prediction.embedding``.

For retrieval and similarity tasks (image-text matching, embedding benchmarks): the instruction's
messages are what is embedded; the metric compares the vectors. The prediction has no text.
``mmlens score`` replays vectors made elsewhere from a predictions file's ``"embedding"`` field.
"""

from __future__ import annotations

import math
from typing import ClassVar

from mmlens.core.messages import Message
from mmlens.core.parts import Inferencer, Prediction, ReplayError, ReplayOutput, inferencers
from mmlens.core.requests import Request, Response
from mmlens.core.sample import Sample


@inferencers.register("embed")
class Embed(Inferencer):
    """One embed request per sample (the instruction's messages) -> ``Prediction.embedding``."""

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        return [Request("embed", tuple(messages))]

    def combine(self, sample: Sample, requests: list[Request], responses: list[Response]) -> Prediction:
        errors = [r.error for r in responses if r.error]
        if errors:
            return Prediction(text=None, error=errors[0])
        embedding = responses[0].embedding
        if not embedding:
            return Prediction(text=None, error="the backend answered the embed request without a vector")
        vector = unit_vector(embedding)
        if vector is None:
            return Prediction(text=None, error="the backend's vector holds NaN or infinity, or is all zeros")
        return Prediction(text=None, embedding=vector)

    replay_fields: ClassVar[frozenset[str]] = frozenset({"embedding"})

    def replay(self, sample: Sample, output: ReplayOutput) -> Prediction:
        if output.embedding is None:
            raise ReplayError('this task embeds: give "embedding" (a list of numbers)')
        if not output.embedding:
            raise ReplayError('"embedding" is empty')
        vector = unit_vector(output.embedding)
        if vector is None:
            raise ReplayError('"embedding" holds NaN or infinity, or is all zeros')
        return Prediction(text=None, embedding=vector)


def unit_vector(values: list[float]) -> list[float] | None:
    """The vector L2-normalised (whatever the backend did, so that every backend's and every
    replayed vector compares alike); None when it is not finite or has no length."""
    vector = [float(value) for value in values]
    norm = math.sqrt(math.fsum(value * value for value in vector))
    if not math.isfinite(norm) or norm == 0.0:
        return None
    return [value / norm for value in vector]
