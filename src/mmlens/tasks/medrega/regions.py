"""MedRegA's region-text-to-region grounding with several boxes (xmed-lab/MedRegA@dfdb0db
``src/eval/regt2r/evaluator_reg.py``; the ``evaluate_regt2r_{sm,ms,mm}.py`` scripts call it).

Parsing (every evaluator): each ``PATTERN_REGCAP`` match of the response is a group, the text
before it since the last bracket (lower-cased, spaces kept: ``"the liver is at "``) its object
and its ``[[x1, y1, x2, y2], ...]`` its boxes. A group whose list ``ast.literal_eval`` refuses
(a number with a leading zero, ``[[01, 2, 3, 4]]``) ends the parsing there (the official
``try`` wraps the loop): the groups before it stay and one ``[0, 0, 0, 0]`` box with no object is
added. The reference's ``<ref>object</ref><box>[[...]]</box>`` pairs are the target groups.

Matching: ``hungarian_matching``, scipy ``linear_sum_assignment`` on ``1 - IoU`` over every
predicted and target box; a pair is a match when its IoU is at least the threshold (0.75 for
``SingleRegionMultiObjectEvaluator``, 0.5 for the two others). Objects align when the predicted
one is empty or either is a substring of the other (``"" or p in t or t in p``).

The official code scales every box by the image's width and height (float32) before the IoU,
which leaves it unchanged up to float32 rounding; here it is computed on the 0-999 grid (float64).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from mmlens.core.errors import ConfigError
from mmlens.core.parts import (
    Aggregate,
    Extraction,
    ExtractionMethod,
    Metric,
    MetricValue,
    Prediction,
    SampleRecord,
    metrics,
)
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import category_nodes, mean_metrics
from mmlens.tasks.medrega.scenario import reference_regions

# evaluator_reg.py PATTERN_REGCAP
PREDICTED_BOXES = re.compile(
    r"([^\[\]]*)(\[\[\d+,\s*\d+,\s*\d+,\s*\d+\](?:,\s*\[\d+,\s*\d+,\s*\d+,\s*\d+\])*\])"
)
ZERO_BOX = [0.0, 0.0, 0.0, 0.0]


@dataclass(frozen=True)
class Group:
    """One object and its boxes; ``obj`` None for the ``[0, 0, 0, 0]`` box of a failed parse."""

    obj: str | None
    boxes: tuple[tuple[float, ...], ...]


def predicted_groups(response: str) -> list[Group]:
    groups: list[Group] = []
    for text, regions in PREDICTED_BOXES.findall(response):
        try:
            boxes = tuple(tuple(float(v) for v in box) for box in ast.literal_eval(regions))
        except (ValueError, SyntaxError):  # the official bare except: stop, add a [0, 0, 0, 0] box
            groups.append(Group(None, (tuple(ZERO_BOX),)))
            break
        groups.append(Group(text.lower(), boxes))
    return groups


def predicted_boxes(response: str) -> list[list[float]]:
    return [list(box) for group in predicted_groups(response) for box in group.boxes]


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """torchvision-style IoU, no checks: an inverted box has a negative area, as there."""
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    inter = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0) * max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    union = area_a + area_b - inter
    if union == 0:
        return math.nan if inter == 0 else math.copysign(math.inf, inter)
    return inter / union


def hungarian_pairs(
    predicted: Sequence[Sequence[float]], targets: Sequence[Sequence[float]]
) -> list[tuple[int, int, float]]:
    """``hungarian_matching``'s pairs (row order) with their IoU. A NaN/inf IoU (two empty boxes),
    on which scipy stops the official run, counts as 0."""
    if not predicted or not targets:
        return []
    try:
        import numpy as np
        from scipy.optimize import linear_sum_assignment
    except ImportError:
        raise ConfigError(
            "MedRegA's multi-box grounding matches boxes with scipy's linear_sum_assignment, as its "
            "evaluator does: pip install scipy (or 'mmlens[judges]')"
        ) from None
    ious = np.array([[box_iou(p, t) for t in targets] for p in predicted], dtype=np.float64)
    ious[~np.isfinite(ious)] = 0.0
    rows, cols = linear_sum_assignment(1 - ious)
    return [(int(r), int(c), float(ious[r, c])) for r, c in zip(rows, cols, strict=True)]


def aligned(predicted: str | None, target: str | None) -> bool:
    if predicted is None or target is None:
        return False
    return predicted == "" or predicted in target or target in predicted


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator != 0 else 0.0


def _f1(a: float, b: float) -> float:
    return 2 * a * b / (a + b) if (a + b) != 0 else 0.0


@dataclass(frozen=True)
class Counted:
    """One answer's per-sample scores (averaged over the samples) and the parts of the pooled
    ratios (``sums[name] / sums[name + "_n"]`` over all samples)."""

    scores: dict[str, float]
    sums: dict[str, float]


def _flat(groups: list[Group]) -> list[tuple[float, ...]]:
    return [box for group in groups for box in group.boxes]


def single_region_multi_object(predicted: list[Group], targets: list[Group]) -> Counted:
    """``SingleRegionMultiObjectEvaluator`` (evaluate_regt2r_sm.py): threshold 0.75. Its
    ``precision`` is matches / targets and its ``recall`` matches / predictions, as named there."""
    boxes, target_boxes = _flat(predicted), _flat(targets)
    pairs = hungarian_pairs(boxes, target_boxes)
    matches = sum(iou >= 0.75 for _, _, iou in pairs)
    precision = _ratio(matches, len(target_boxes))
    recall = _ratio(matches, len(boxes))
    return Counted(
        {"precision": precision, "recall": recall, "f1": _f1(precision, recall)},
        {"iou": sum(iou for _, _, iou in pairs), "iou_n": len(pairs)},  # over the matched pairs
    )


def multi_region_single_object(predicted: list[Group], targets: list[Group]) -> Counted:
    """``MultiRegionSingleObjectEvaluator`` (evaluate_regt2r_ms.py): threshold 0.5. Quirk kept:
    objects are looked up by *group* index with the *box* index of a pair (``boxid2object_pred[r]``,
    the dict built per regex match), so only pairs whose box indexes are below the group counts are
    checked; ``object_iou`` sums the IoU of every such pair, aligned or not, over the aligned ones."""
    boxes, target_boxes = _flat(predicted), _flat(targets)
    objects = [g.obj for g in predicted if g.obj is not None]
    target_objects = [g.obj for g in targets]
    pairs = hungarian_pairs(boxes, target_boxes)
    matches = [(r, c) for r, c, iou in pairs if iou >= 0.5]

    def checked(r: int, c: int) -> bool:
        return len(objects) > r and len(target_objects) > c

    correct_align = sum(checked(r, c) and aligned(objects[r], target_objects[c]) for r, c in matches)
    align_all = sum(checked(r, c) and aligned(objects[r], target_objects[c]) for r, c, _ in pairs)
    n_targets = len(target_boxes)
    return Counted(
        {
            "box_acc": _ratio(len(matches), n_targets),
            "object_acc": _ratio(align_all, n_targets),
            "object_box_acc": _ratio(correct_align, n_targets),
            "object_box_alignment": _ratio(correct_align, len(matches)),
            "object_box_detection": _ratio(correct_align, align_all),
        },
        {
            "box_iou": sum(iou for _, _, iou in pairs),
            "box_iou_n": n_targets,  # over the target boxes, not the pairs
            "object_iou": sum(iou for r, c, iou in pairs if checked(r, c)),
            "object_iou_n": align_all,
        },
    )


def multi_region_multi_object(predicted: list[Group], targets: list[Group]) -> Counted:
    """``MultiRegionMultiObjectEvaluator`` (evaluate_regt2r_mm.py): threshold 0.5, each box with
    its group's object. The ``[0, 0, 0, 0]`` box of a failed parse has no object (the official
    lookup raises KeyError there): it aligns with nothing."""
    boxes, target_boxes = _flat(predicted), _flat(targets)
    objects = [g.obj for g in predicted for _ in g.boxes]
    target_objects = [g.obj for g in targets for _ in g.boxes]
    pairs = hungarian_pairs(boxes, target_boxes)
    matches = [(r, c) for r, c, iou in pairs if iou >= 0.5]
    correct_align = sum(aligned(objects[r], target_objects[c]) for r, c in matches)
    aligned_pairs = [iou for r, c, iou in pairs if aligned(objects[r], target_objects[c])]
    n_pred, n_targets = len(boxes), len(target_boxes)
    box_pre, box_rec = _ratio(len(matches), n_targets), _ratio(len(matches), n_pred)
    ob_pre, ob_rec = _ratio(len(aligned_pairs), n_targets), _ratio(len(aligned_pairs), n_pred)
    ab_pre, ab_rec = _ratio(correct_align, n_targets), _ratio(correct_align, n_pred)
    return Counted(
        {
            "box_pre": box_pre,
            "box_recall": box_rec,
            "box_f1": _f1(box_pre, box_rec),
            "object_pre": ob_pre,
            "object_rec": ob_rec,
            "object_f1": _f1(ob_pre, ob_rec),
            "object_box_pre": ab_pre,
            "object_box_recall": ab_rec,
            "object_box_f1": _f1(ab_pre, ab_rec),
            "object_box_alignment": _ratio(correct_align, len(matches)),
            "object_box_detection": _ratio(correct_align, len(aligned_pairs)),
        },
        {
            "box_iou": sum(iou for _, _, iou in pairs),
            "box_iou_n": n_targets,
            "object_iou": sum(aligned_pairs),
            "object_iou_n": len(aligned_pairs),
        },
    )


Evaluator = Callable[[list[Group], list[Group]], Counted]


def _targets(regions: Sequence[Sequence[Any]]) -> list[Group]:
    """The reference's (object, boxes) pairs as target groups."""
    return [Group(obj, tuple(tuple(box) for box in boxes)) for obj, boxes in regions]


@dataclass(frozen=True)
class Variant:
    evaluate: Evaluator
    per_sample: tuple[str, ...]  # means over the samples
    pooled: tuple[str, ...]  # sums over all samples / their denominators (0 when that is 0)
    primary: str


VARIANTS: dict[str, Variant] = {
    "sm": Variant(single_region_multi_object, ("precision", "recall", "f1"), ("iou",), "f1"),
    "ms": Variant(
        multi_region_single_object,
        ("box_acc", "object_acc", "object_box_acc", "object_box_alignment", "object_box_detection"),
        ("box_iou", "object_iou"),
        "box_acc",
    ),
    "mm": Variant(
        multi_region_multi_object,
        (
            "box_pre",
            "box_recall",
            "box_f1",
            "object_pre",
            "object_rec",
            "object_f1",
            "object_box_pre",
            "object_box_recall",
            "object_box_f1",
            "object_box_alignment",
            "object_box_detection",
        ),  # fmt: skip
        ("box_iou", "object_iou"),
        "box_f1",
    ),
}


class MedRegAMultiGrounding(Metric):
    """One of VARIANTS: its per-sample scores averaged over the samples, its IoUs pooled (sums over
    the samples divided by the summed counts, as the official ``averaged_iou / pair_all``)."""

    variant: ClassVar[str]
    correct_key: ClassVar[str | None] = None

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        groups = predicted_groups(prediction.text) if prediction.text is not None else []
        counted = VARIANTS[self.variant].evaluate(groups, _targets(sample.metadata["regions"]))
        shown = "; ".join(f"{g.obj or ''}{[list(map(int, b)) for b in g.boxes]}".strip() for g in groups)
        method: ExtractionMethod = "failed" if prediction.text is None or not groups else "rule"
        return Extraction(shown or None, method, details={"scores": counted.scores, "sums": counted.sums})

    def _unanswered(self, reference: str | None) -> Counted:
        """A sample without an answer (a failed request, no prediction) scores as an empty one:
        no boxes, the reference's targets still in the denominators."""
        return VARIANTS[self.variant].evaluate([], _targets(reference_regions(reference or "")))

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        scores = extraction.details.get("scores")
        return dict(scores if scores is not None else self._unanswered(sample.target).scores)

    def _values(self, records: list[SampleRecord]) -> dict[str, MetricValue]:
        spec = VARIANTS[self.variant]
        values = mean_metrics(records, spec.per_sample)
        sums = [r.details.get("sums") or self._unanswered(r.target).sums for r in records]
        for name in spec.pooled:
            total = sum(s[name] for s in sums)
            count = sum(s[f"{name}_n"] for s in sums)
            values[name] = MetricValue(_ratio(total, count), n=len(records))
        return values

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        breakdown = {node: self._values(subset) for node, subset in category_nodes(records).items()}
        return Aggregate(self._values(records), breakdown)


@metrics.register("medrega_grounding_sm")
class MedRegAGroundingSM(MedRegAMultiGrounding):
    """Single region, several objects: precision, recall, f1 (IoU >= 0.75), pooled iou."""

    variant: ClassVar[str] = "sm"
    primary: ClassVar[str] = VARIANTS["sm"].primary


@metrics.register("medrega_grounding_ms")
class MedRegAGroundingMS(MedRegAMultiGrounding):
    """Several regions, one object: box_acc, box_iou, object_acc, object_iou, object_box_*."""

    variant: ClassVar[str] = "ms"
    primary: ClassVar[str] = VARIANTS["ms"].primary


@metrics.register("medrega_grounding_mm")
class MedRegAGroundingMM(MedRegAMultiGrounding):
    """Several regions, several objects: box_*, object_*, object_box_* (precision, recall, F1)."""

    variant: ClassVar[str] = "mm"
    primary: ClassVar[str] = VARIANTS["mm"].primary
