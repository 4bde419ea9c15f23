"""``blind`` (the questions without their media) and ``shuffle_options`` (seeded option order)."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from mmlens.core.errors import DataError
from mmlens.core.parts import Transform, TransformContext, register_transform
from mmlens.core.sample import BadSample, Sample
from mmlens.transforms.choices import find_options, reorder


@register_transform("blind")
class Blind(Transform):
    """Every image and video removed, the text unchanged (S_wv and S_t of multimodal gain).

    With the model under test it gives MMStar's S_wv, with its language backbone S_t, on any task."""

    def transform_sample(self, sample: Sample) -> list[Sample]:
        return [replace(sample, messages=[message.without_media() for message in sample.messages])]


def base_id(sample_id: str) -> str:
    """The id a derived sample was made from (``7#circular1`` -> ``7``, ``7#leading`` -> ``7``): what
    per-question draws are seeded by, so every rotation or rewrite of a question draws alike."""
    return sample_id.split("#", 1)[0]


def sample_rng(seed: int, *parts: object) -> random.Random:
    """A generator seeded by the transform's seed and the sample: the same choice on every run,
    independent of which other samples the run has (a --limit run draws the same)."""
    return random.Random(":".join(str(part) for part in (seed, *parts)))


_GLOBAL_GENERATORS = threading.Lock()


@contextmanager
def seeded_global_generators(seed: int) -> Iterator[None]:
    """Python's and numpy's global generators seeded by ``seed`` for a library that draws from them
    (imagecorruptions, nlpaug), one caller at a time, and put back as they were afterwards: the
    state a corruption seeds never leaks into the rest of the process."""
    import numpy as np

    with _GLOBAL_GENERATORS:
        python_state, numpy_state = random.getstate(), np.random.get_state()
        random.seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


def require_multiple_choice(samples: list[Sample], transform: Transform, context: TransformContext) -> None:
    if not any(find_options(sample) for sample in samples):
        raise DataError(
            f"task {context.task_name}: transform {transform.label()} needs multiple-choice questions "
            "(options with a letter target), and this task has none"
        )


@register_transform("shuffle_options")
class ShuffleOptions(Transform):
    """The options of every multiple-choice question in a seeded order; the target follows them.

    Other questions pass unchanged. ``--transform shuffle_options:SEED``."""

    seed: int = 0

    @classmethod
    def from_args(cls, args: str) -> dict[str, object]:
        return {"seed": int(args)} if args else {}

    def apply(self, samples: list[Sample], context: TransformContext) -> list[Sample | BadSample]:
        require_multiple_choice(samples, self, context)
        return super().apply(samples, context)

    def transform_sample(self, sample: Sample) -> list[Sample]:
        options = find_options(sample)
        if options is None:
            return [sample]
        order = list(range(len(options.choices)))
        sample_rng(self.seed, "shuffle_options", sample.id).shuffle(order)
        return [reorder(sample, options, order)]
