"""A metric that wraps the task's own (what ``circular``, ``leading_question``, ``calibration`` and
``language_performance`` make of it): the inner metric extracts and scores each sample, its right/wrong
is copied to ``acc`` (the wrapper's ``correct_key``), and the wrapper aggregates in its own way."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from pydantic import SerializeAsAny

from mmlens.core.errors import ConfigError
from mmlens.core.parts import Aggregate, Extraction, Metric, Prediction, Rounds
from mmlens.core.sample import Sample


class WrappedMetric(Metric):
    """The inner metric per sample, with its right/wrong also under ``acc``."""

    correct_key: ClassVar[str | None] = "acc"

    inner: SerializeAsAny[Metric]

    def roles(self) -> tuple[str, ...]:
        return self.inner.roles()

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        return self.inner.extract(sample, prediction)

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        scores = self.inner.score(sample, extraction)
        key = type(self.inner).correct_key
        return {**scores, "acc": scores[key]} if key is not None and key in scores else scores

    def inner_rounds(self, sample: Sample, prediction: Prediction) -> Rounds[Extraction]:
        """The inner metric's extraction rounds (a judged wrapper's ``extract_rounds`` sends them)."""
        return (yield from self.inner.extract_rounds(sample, prediction))


W = TypeVar("W", bound=WrappedMetric)


def wrap_right_wrong(metric: Metric, plain: type[W], judged: type[W], transform: str, needs: str) -> W:
    """``metric`` wrapped by ``plain``, or by ``judged`` where it extracts in rounds (asks a judge);
    a metric without a per-sample right/wrong is refused, naming the transform and what ``needs`` it."""
    if type(metric).correct_key is None:
        raise ConfigError(
            f"transform {transform}: metric {type(metric).__name__} gives a score, not right/wrong, per "
            f"sample; {needs} right/wrong"
        )
    wrapper = judged if type(metric).extract_rounds is not Metric.extract_rounds else plain
    return wrapper(inner=metric)


def with_vanilla(own: Aggregate, vanilla: Aggregate) -> Aggregate:
    """The wrapper's own metrics plus the inner metric's on the questions as published, as
    ``vanilla_<name>`` (headline and per node), and the inner metric's reliability diagram (a
    ``calibration`` wrapped by a later transform keeps it)."""
    metrics = {**own.metrics, **{f"vanilla_{k}": v for k, v in vanilla.metrics.items()}}
    breakdown = {
        node: {**values, **{f"vanilla_{k}": v for k, v in vanilla.breakdown.get(node, {}).items()}}
        for node, values in own.breakdown.items()
    }
    return Aggregate(metrics, breakdown, reliability=own.reliability or vanilla.reliability)
