"""Agreement of the judge under test with the human labels: reconstructed, since the repository
publishes no agreement code (URRealHero/JudgeAnything@5108730 only produces judge outputs) and the
paper (arXiv 2503.17489) reports agreement in % for pair comparison and score evaluation, for
multimodal understanding (MMU) and generation (MMG), without the formulas.

A unit is one rubric of one sample that has a human label (overall setting: the overall rubric;
rubric and checklist settings: the six rubrics). The judge's value for it comes from the reply's
JSON object (``parsing``); a reply that cannot be read, a missing key or an invalid value leaves
the unit without a judgement: it counts as a disagreement in the accuracies and is left out of
the correlations, and is counted (``unparsed``), never replaced by a guess. A sample without any
human label for its rubrics is counted (``unlabelled``) and left out.

- Pair comparison (``judge_anything_pair``): ``acc`` = units whose choice equals the human
  choice / units. ``ties: keep`` (default): a tie ("1") is a third class, to be matched like the
  others, because the judge is told to answer 1 for "equally good" and the human labels use the
  same three values. ``ties: drop`` (profile ``without_ties``): units whose human label is a tie
  are left out (a judge's tie on the others is a disagreement), the "w.o. tie" reading of the same
  group's MLLM-as-a-Judge benchmark.
- Score evaluation (``judge_anything_score``): ``acc`` = units with ``|judge - human| <=
  tolerance`` / units (``tolerance`` 0: exact match; profile ``within_one``: 1); ``pearson`` and
  ``spearman`` (scipy ``pearsonr`` / ``spearmanr``) of (human, judge) over the units with a
  judgement (NaN where undefined: fewer than 2, or a constant side).

Breakdown: ``understanding`` (X2Text, Text2Text included) and ``generation`` (the other ten
categories), each category below its group (``generation/Text2Image``), and ``rubric/<name>``.
Values are 0-1 (the paper prints x100).
"""

from __future__ import annotations

import math
import warnings
from typing import ClassVar, Literal

from mmlens.core.errors import ConfigError
from mmlens.core.parts import Aggregate, Extraction, Metric, MetricValue, Prediction, SampleRecord, metrics
from mmlens.core.sample import Sample
from mmlens.metrics.stats import mean_interval
from mmlens.tasks.judge_anything.parsing import ParseMode, parse_reply
from mmlens.tasks.judge_anything.prompts import Mode

HUMAN, JUDGE, AGREE = "human_", "judge_", "agree_"


class Unit:
    """One labelled rubric of one record."""

    __slots__ = ("group", "human", "judge", "record", "rubric")

    def __init__(self, record: SampleRecord, rubric: str) -> None:
        self.record = record.id
        self.rubric = rubric
        self.group = record.category
        self.human = record.scores[HUMAN + rubric]
        self.judge = record.scores.get(JUDGE + rubric)


def units_of(records: list[SampleRecord]) -> list[Unit]:
    return [
        Unit(record, key.removeprefix(HUMAN))
        for record in records
        for key in record.scores
        if key.startswith(HUMAN)
    ]


def slices(units: list[Unit]) -> dict[str, list[Unit]]:
    """Breakdown nodes: the task group, group/category, and rubric/<name>."""
    nodes: dict[str, list[Unit]] = {}
    for unit in units:
        path = [*unit.group]
        for depth in range(1, len(path) + 1):
            nodes.setdefault("/".join(path[:depth]), []).append(unit)
        nodes.setdefault(f"rubric/{unit.rubric}", []).append(unit)
    return dict(sorted(nodes.items()))


def correlations(pairs: list[tuple[float, float]]) -> dict[str, float]:
    try:
        from scipy.stats import pearsonr, spearmanr
    except ImportError:  # pragma: no cover - scipy ships with the judges extra
        raise ConfigError("judge_anything's correlations need scipy: pip install 'mmlens[judges]'") from None

    if len(pairs) < 2:
        return {"pearson": math.nan, "spearman": math.nan}
    human, judge = [h for h, _ in pairs], [j for _, j in pairs]
    with warnings.catch_warnings():  # a constant side gives NaN, reported as it is
        warnings.simplefilter("ignore")
        return {"pearson": float(pearsonr(human, judge)[0]), "spearman": float(spearmanr(human, judge)[0])}


class JudgeAgreement(Metric):
    """Shared by both settings: the reply's JSON read per rubric, agreement per unit."""

    mode: ClassVar[Mode]
    primary: ClassVar[str] = "acc"
    correct_key: ClassVar[str | None] = None
    score_key: ClassVar[str | None] = "agree"
    parse: ParseMode = "lenient"

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        rubrics = tuple(sample.metadata["rubrics"])
        if prediction.text is None:
            return Extraction(None, "failed", details={"why": "no reply"})
        parsed = parse_reply(prediction.text, self.mode, rubrics, self.parse)
        details: dict[str, object] = {"judge": parsed.values, "parse": parsed.how}
        if parsed.problems:
            details["unparsed"] = parsed.problems
        if not parsed.values:
            return Extraction(None, "failed", details=details)
        answer = ", ".join(f"{rubric}={value}" for rubric, value in parsed.values.items())
        return Extraction(answer, "exact" if parsed.how == "json" else "rule", details=details)

    def agrees(self, human: float, judge: float) -> bool:
        return human == judge

    def counted(self, human: float) -> bool:
        return True

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        labels = sample.metadata.get("labels") or {}
        judged = extraction.details.get("judge") if extraction.answer is not None else None
        values = judged if isinstance(judged, dict) else {}
        scores: dict[str, float] = {}
        agreed: list[float] = []
        for rubric in sample.metadata["rubrics"]:
            if rubric in values:
                scores[JUDGE + rubric] = float(values[rubric])
            if rubric not in labels:
                continue
            human = float(labels[rubric])
            scores[HUMAN + rubric] = human
            if self.counted(human):
                judge = scores.get(JUDGE + rubric)
                scores[AGREE + rubric] = float(judge is not None and self.agrees(human, judge))
                agreed.append(scores[AGREE + rubric])
        if agreed:
            scores["agree"] = sum(agreed) / len(agreed)
        return scores

    def slice_values(self, units: list[Unit]) -> dict[str, MetricValue]:
        counted = [u for u in units if self.counted(u.human)]
        right = [float(u.judge is not None and self.agrees(u.human, u.judge)) for u in counted]
        if not right:
            return {"acc": MetricValue(math.nan, n=0)}
        low, high = mean_interval(right, [u.record for u in counted])
        return {"acc": MetricValue(sum(right) / len(right), low, high, len(right))}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        units = units_of(records)
        values = self.slice_values(units)
        values["unparsed"] = MetricValue(float(sum(1 for u in units if u.judge is None)))
        values["unlabelled"] = MetricValue(
            float(sum(1 for r in records if not any(k.startswith(HUMAN) for k in r.scores)))
        )
        breakdown = {node: self.slice_values(part) for node, part in slices(units).items()}
        return Aggregate(values, breakdown)


@metrics.register("judge_anything_pair")
class PairAgreement(JudgeAgreement):
    """Pair comparison: accuracy of the choice ("0" first better, "1" tie, "2" second better)
    against the human choice. Fields: parse (lenient, strict), ties (keep, drop)."""

    mode: ClassVar[Mode] = "pair"
    ties: Literal["keep", "drop"] = "keep"

    def counted(self, human: float) -> bool:
        return self.ties == "keep" or human != 1.0


@metrics.register("judge_anything_score")
class ScoreAgreement(JudgeAgreement):
    """Score evaluation: accuracy (|judge - human| <= tolerance), Pearson and Spearman against the
    human scores. Fields: parse (lenient, strict), tolerance (0: exact)."""

    mode: ClassVar[Mode] = "score"
    tolerance: float = 0.0

    def agrees(self, human: float, judge: float) -> bool:
        return abs(judge - human) <= self.tolerance

    def slice_values(self, units: list[Unit]) -> dict[str, MetricValue]:
        values = super().slice_values(units)
        judged = [(u.human, u.judge) for u in units if u.judge is not None]
        for name, value in correlations(judged).items():
            values[name] = MetricValue(value, n=len(judged))
        return values
