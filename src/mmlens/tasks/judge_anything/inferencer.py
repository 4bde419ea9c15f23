"""``judge_anything_generate``: one generation per sample (the judge's reply), as ``generate``; a
sample holding audio, which no mmlens backend reads, is a bad sample naming the audio instead of
a request the judge could not see whole. Judge outputs made elsewhere (``mmlens score``) replay
as usual: ``{"id": ..., "response": "<the judge's reply>"}``."""

from __future__ import annotations

from mmlens.core.errors import SampleError
from mmlens.core.messages import Message
from mmlens.core.parts import inferencers
from mmlens.core.requests import Request
from mmlens.core.sample import Sample
from mmlens.inferencers.basic import Generate
from mmlens.tasks.judge_anything.scenario import NO_AUDIO


@inferencers.register("judge_anything_generate")
class JudgeAnythingGenerate(Generate):
    """Fields: those of ``generate``."""

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        unreadable = sample.metadata.get("unreadable") or []
        if unreadable:
            raise SampleError(
                sample.id, f"{sample.metadata.get('task_name')}: {'; '.join(unreadable)}: {NO_AUDIO}"
            )
        return super().plan(sample, messages)
