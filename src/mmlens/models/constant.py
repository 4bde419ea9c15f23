"""A zero-latency backend that gives the same answer to every request.

Useful to measure the harness's own overhead, and as an honest floor ("always yes") baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from mmlens.core.requests import Request, RequestKind, Response
from mmlens.models.base import Emit, Model, ModelArgs, models


class ConstantArgs(ModelArgs):
    text: str = "yes"
    logprob: float = 0.0


@models.register("constant")
class ConstantModel(Model):
    """Answers every request with the same text (args: text, logprob); zero latency."""

    backend = "constant"
    Args = ConstantArgs
    supported_kinds: ClassVar[frozenset[RequestKind]] = frozenset({"generate", "loglikelihood"})

    def process(self, requests: Sequence[Request], emit: Emit) -> None:
        args = self.args
        assert isinstance(args, ConstantArgs)
        for index, request in enumerate(requests):
            if request.kind == "generate":
                emit(index, Response(text=args.text))
            else:
                emit(index, Response(logprob=args.logprob, is_greedy=False))
