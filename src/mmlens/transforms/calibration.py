"""``calibration[:BINNING]``: ECE and a reliability diagram on any likelihood-ranked task.

The samples are unchanged; the task's metric is wrapped (``mmlens.metrics.calibration``) so the
results gain ``ece`` (0-1, ChEF's ``compute_ECE`` by default) and ``reliability`` (per bin: count,
mean confidence, accuracy), next to the task's own metrics. The task must rank options by
likelihood (``rank_choices``, ``rank_choices_token_mean``, or any inferencer that replays
``option_logprobs``), so ``mmlens score TASK --transform calibration`` scores rankings made elsewhere.
``--transform calibration:helm_equal_mass`` (or ``equal_width``) picks another binning; in YAML,
``transforms: [{type: calibration, binning: helm_equal_mass, num_bins: 10}]``.
"""

from __future__ import annotations

from mmlens.core.errors import ConfigError
from mmlens.core.parts import Inferencer, Metric, Transform, register_transform
from mmlens.core.sample import Sample
from mmlens.metrics.calibration import BINNINGS, DEFAULT_BINNING, Binning, CalibrationMetric


def gives_option_scores(inferencer: Inferencer) -> bool:
    """Whether an inferencer ranks options by likelihood (its replay reads ``option_logprobs``)."""
    return "option_logprobs" in type(inferencer).replay_fields


@register_transform("calibration")
class Calibration(Transform):
    """The task's metric plus ECE over the per-option scores of a likelihood ranking."""

    binning: Binning = DEFAULT_BINNING
    num_bins: int = 10

    @classmethod
    def from_args(cls, args: str) -> dict[str, object]:
        if not args:
            return {}
        if args not in BINNINGS:
            raise ValueError(f"calibration: unknown binning {args!r} (known: {', '.join(BINNINGS)})")
        return {"binning": args}

    def transform_sample(self, sample: Sample) -> list[Sample]:
        return [sample]  # the samples are unchanged: only the metric gains ECE

    def adapt_inferencer(self, inferencer: Inferencer) -> Inferencer:
        if not gives_option_scores(inferencer):
            raise ConfigError(
                f"transform calibration needs a likelihood ranking of the options (rank_choices, "
                f"rank_choices_token_mean); this task's inferencer is {type(inferencer).__name__}"
            )
        return inferencer

    def adapt_metric(self, metric: Metric) -> Metric:
        if isinstance(metric, CalibrationMetric):
            return metric
        if type(metric).correct_key is None:
            raise ConfigError(
                f"transform calibration: metric {type(metric).__name__} gives a score, not right/wrong, "
                "per sample; calibration needs right/wrong"
            )
        if type(metric).extract_rounds is not Metric.extract_rounds:
            raise ConfigError(
                f"transform calibration: metric {type(metric).__name__} asks a role (a judge) for the "
                "answer; a likelihood ranking decides the answer itself"
            )
        return CalibrationMetric(inner=metric, binning=self.binning, num_bins=self.num_bins)
