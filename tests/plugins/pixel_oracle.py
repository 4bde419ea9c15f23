"""A test backend that answers only from pixels and question text, so any misalignment shows.

Each image of the "numbers" test benchmark is a solid colour encoding an integer
(red = n % 256, green = n // 256); each question asks "Does this picture show the number M?".
The oracle decodes n from the pixels and M from the text: it is right on every sample exactly
when every question reached the model with its own image. It processes requests in reversed
order, in batches, emitting out of order, optionally slowly and logging what it computed.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence
from typing import ClassVar

from mmlens.core.errors import MmlensError
from mmlens.core.messages import all_images
from mmlens.core.requests import Request, RequestKind, Response
from mmlens.models.base import Emit, Model, ModelArgs, models


class OracleArgs(ModelArgs):
    batch_size: int = 7
    delay: float = 0.0
    log: str | None = None
    fail_numbers: str = ""  # "3,5": questions about these numbers fail like an overloaded server


def decode_number(request: Request) -> int:
    images = all_images(request.messages)
    if len(images) != 1:
        raise ValueError(f"expected one image, got {len(images)}")
    red, green, _ = images[0].pil().getpixel((0, 0))
    return int(red) + 256 * int(green)


def asked_number(request: Request) -> int:
    text = " ".join(m.text for m in request.messages)
    match = re.search(r"number (\d+)\?", text)
    if match is None:
        raise ValueError("no number in the question")
    return int(match.group(1))


@models.register("pixel_oracle")
class PixelOracle(Model):
    """Test backend: decodes the number drawn in the image and compares it with the question."""

    backend = "pixel_oracle"
    Args = OracleArgs
    supported_kinds: ClassVar[frozenset[RequestKind]] = frozenset({"generate"})

    def fingerprint(self) -> dict[str, object]:
        # Like a served model: batching, speed, logging and transient failures do not change answers.
        return {"backend": self.backend, "name": self.name}

    def process(self, requests: Sequence[Request], emit: Emit) -> None:
        args = self.args
        assert isinstance(args, OracleArgs)
        order = list(range(len(requests)))[::-1]
        shuffle = random.Random(0)
        for start in range(0, len(order), args.batch_size):
            batch = order[start : start + args.batch_size]
            if args.delay:
                time.sleep(args.delay)
            answers: dict[int, Response] = {}
            failing = {int(n) for n in args.fail_numbers.split(";") if n}
            for index in batch:
                request = requests[index]
                if asked_number(request) in failing:
                    answers[index] = Response(error="simulated server failure")
                    continue
                try:
                    same = decode_number(request) == asked_number(request)
                    answers[index] = Response(text="Yes" if same else "No")
                except (MmlensError, ValueError) as error:
                    answers[index] = Response(error=str(error))
                if args.log:
                    with open(args.log, "a", encoding="utf-8") as handle:
                        handle.write(f"{asked_number(request)}\n")
            shuffle.shuffle(batch)
            for index in batch:
                emit(index, answers[index])
