"""MedRegA's evaluators (xmed-lab/MedRegA@dfdb0db ``src/eval``), on predictions.

Classification (``cls/evaluator.py`` ``ClassificationEvaluator``): the response loses its trailing
punctuation, ``", "`` becomes ``","``, it is lower-cased and split on ``","``; each piece becomes
the class whose lower-cased name has the highest unigram BLEU with it (torchmetrics
``BLEUScore(n_gram=1)``: clipped unigram precision times the brevity penalty, whitespace tokens,
float32; the first class on a tie, so a response sharing no word with any class, or an empty
one, is the dataset's first class). Single-label datasets take the first piece. Metrics: macro F1
(sklearn ``f1_score(average="macro", zero_division=0)``: over the classes that occur in the
references or the predictions for single-label data, over every class for multi-label data,
where a class nobody has or predicts counts 0) and accuracy (multi-label: the exact set).

Grounding (``regt2r/evaluator_reg.py`` ``SingleRegionSingleObjectEvaluator``): every
``[[x1, y1, x2, y2], ...]`` of integers in the response (``PATTERN_REGCAP``) is a predicted box,
the reference's ``<ref>..</ref><box>[[..]]</box>`` boxes the targets (a list ``ast.literal_eval``
refuses, such as ``[[01, 2, 3, 4]]``, ends the parsing with a ``[0, 0, 0, 0]`` box: see
regions.py). With more predicted than target boxes, the best IoU of any prediction with the
*first* target; otherwise the IoU of the first prediction with the first target; no prediction:
0. acc25/acc50/acc75 = share with IoU strictly above 0.25/0.5/0.75, iou = the mean IoU. The
official code scales both boxes by the image's width and height first, which leaves an IoU
unchanged (computed here on the 0-999 grid).
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Sequence

import numpy as np

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
from mmlens.metrics.aggregation import category_nodes, mean_aggregate
from mmlens.metrics.stats import mean_interval
from mmlens.tasks.medrega.classes import CLASS_LISTS, MULTILABEL
from mmlens.tasks.medrega.regions import box_iou, predicted_boxes
from mmlens.tasks.medrega.scenario import reference_classes

F32 = np.float32


def _bleu1_torch(matches: int, n_pred: int, n_target: int) -> float | None:
    """torchmetrics' ``_bleu_score_compute`` for one unigram, on the same float32 tensor operations
    (bit-identical); None without torch."""
    try:
        import torch
    except ImportError:
        return None
    numerator, denominator = torch.tensor([float(matches)]), torch.tensor([float(n_pred)])
    preds_len, target_len = torch.tensor(float(n_pred)), torch.tensor(float(n_target))
    geometric = torch.exp(torch.sum(torch.tensor([1.0]) * torch.log(numerator / denominator)))
    penalty = torch.tensor(1.0) if preds_len > target_len else torch.exp(1 - (target_len / preds_len))
    return float((penalty * geometric).item())


def bleu1(candidate: str, reference: str) -> float:
    """torchmetrics ``BLEUScore(n_gram=1)([candidate], [[reference]])``: whitespace tokens, clipped
    unigram precision p, ``exp(1 * log p)`` times the brevity penalty ``exp(1 - len(ref) / len(cand))``
    (1 when the candidate is longer), float32; 0 without a shared token. Computed with torch's own
    float32 log/exp where torch is installed (equal to torchmetrics 1.9 bit for bit); otherwise each
    step correctly rounded to float32, which can differ from torch's log/exp in the last bit (1 ulp,
    about 6e-8 relative, in 125 of 20000 random cases)."""
    pred, target = candidate.split(), reference.split()
    matches = sum((Counter(pred) & Counter(target)).values())
    if matches == 0:
        return 0.0
    exact = _bleu1_torch(matches, len(pred), len(target))
    if exact is not None:
        return exact
    precision = F32(matches) / F32(len(pred))
    geometric = F32(math.exp(float(F32(math.log(float(precision))))))
    if len(pred) > len(target):
        return float(geometric)
    penalty = F32(math.exp(float(F32(1) - F32(len(target)) / F32(len(pred)))))
    return float(F32(penalty * geometric))


def answer_classes(response: str, classes: Sequence[str]) -> list[int]:
    """The class index of each comma-separated piece of the response (``_get_answer_id``)."""
    text = response.rstrip(string.punctuation).replace(", ", ",").lower()
    lowered = [name.lower() for name in classes]
    ids = []
    for piece in text.split(","):
        scores = [bleu1(piece, name) for name in lowered]
        ids.append(scores.index(max(scores)))
    return ids


def macro_f1(gold: list[list[int]], predicted: list[list[int]], num_classes: int, multilabel: bool) -> float:
    """sklearn's macro F1 with zero_division=0: per class 2tp / (2tp + fp + fn)."""
    if multilabel:
        labels = list(range(num_classes))
    else:
        labels = sorted({ids[0] for ids in gold} | {ids[0] for ids in predicted if ids})
    scores = []
    for label in labels:
        tp = sum(label in g and label in p for g, p in zip(gold, predicted, strict=True))
        fp = sum(label not in g and label in p for g, p in zip(gold, predicted, strict=True))
        fn = sum(label in g and label not in p for g, p in zip(gold, predicted, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else 0.0)
    return sum(scores) / len(scores) if scores else math.nan


@metrics.register("medrega_cls")
class MedRegAClassification(Metric):
    """f1_macro and acc per dataset (the breakdown); overall: the dataset's, or their mean."""

    primary = "f1_macro"

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None:
            return Extraction(None, "failed", details={"pred_classes": []})
        dataset = sample.metadata["dataset"]
        classes = CLASS_LISTS[dataset]
        ids = answer_classes(prediction.text, classes)
        if dataset not in MULTILABEL:
            ids = ids[:1]
        ids = sorted(set(ids))
        exact = prediction.text.strip().lower() in (classes[i].lower() for i in ids)
        method: ExtractionMethod = "exact" if exact else "rule"
        return Extraction(",".join(classes[i] for i in ids), method, details={"pred_classes": ids})

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        predicted = set(extraction.details.get("pred_classes", []))
        return {"acc": float(predicted == set(sample.metadata["gold_classes"]))}

    def _dataset_values(self, dataset: str, records: list[SampleRecord]) -> dict[str, MetricValue]:
        classes = CLASS_LISTS[dataset]
        gold = [sorted({classes.index(name) for name in reference_classes(r.target or "")}) for r in records]
        predicted = [sorted(set(r.details.get("pred_classes", []))) for r in records]
        f1 = macro_f1(gold, predicted, len(CLASS_LISTS[dataset]), dataset in MULTILABEL)
        hits = [r.scores["acc"] for r in records]
        low, high = mean_interval(hits)
        return {
            "f1_macro": MetricValue(f1, n=len(records)),
            "acc": MetricValue(sum(hits) / len(hits), low, high, len(hits)),
        }

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        nodes = category_nodes(records)
        breakdown = {node: self._dataset_values(node, subset) for node, subset in nodes.items()}
        if len(breakdown) == 1:
            return Aggregate(next(iter(breakdown.values())), breakdown)
        overall = {
            name: MetricValue(
                float(np.mean([values[name].value for values in breakdown.values()])), n=len(records)
            )
            for name in ("f1_macro", "acc")
        }
        return Aggregate(overall, breakdown)


def grounding_iou(predicted: list[list[float]], targets: list[list[float]]) -> float:
    if not predicted:
        return 0.0
    if len(predicted) > len(targets):
        best = 0.0
        for box in predicted:
            iou = box_iou(box, targets[0])
            if iou > best:  # a NaN never wins
                best = iou
        return best
    return box_iou(predicted[0], targets[0])


@metrics.register("medrega_grounding")
class MedRegAGrounding(Metric):
    """acc25, acc50, acc75 and iou (means over the questions)."""

    primary = "acc50"
    correct_key = "acc50"

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None:
            return Extraction(None, "failed")
        boxes = predicted_boxes(prediction.text)
        iou = grounding_iou(boxes, sample.metadata["boxes"])
        answer = str([[int(v) for v in box] for box in boxes]) if boxes else None
        return Extraction(answer, "rule" if boxes else "failed", details={"iou": iou})

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        iou = float(extraction.details.get("iou", 0.0))
        return {
            "iou": iou,
            "acc25": float(iou > 0.25),
            "acc50": float(iou > 0.5),
            "acc75": float(iou > 0.75),
        }

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        return mean_aggregate(records, ["acc25", "acc50", "acc75", "iou"])


# vqa/postprocess_utils.py ``contractions``
CONTRACTIONS = {
    "pa": "posterior anterior",
    "ivc": "inferior vena cava",
    "head": "brain",
    "both": "bilateral",
    "tumour": "tumor",
    "tumours": "tumors",
}
_SEPARATORS = re.compile(r"[,:.]")


def clean_answer(text: str) -> str:
    """``cleanStr``: split on , : . and drop pieces holding "_", lower-case, join with ","; split
    again, expand CONTRACTIONS word by word, join with ","; "-" becomes a space. (So "yes." is
    "yes,", a token that is not "yes".)"""
    token = ",".join(part for part in _SEPARATORS.split(text) if "_" not in part).lower()
    parts = [part for part in _SEPARATORS.split(token) if "_" not in part]
    expanded = [" ".join(CONTRACTIONS.get(word, word) for word in part.split(" ")) for part in parts]
    return ",".join(expanded).replace("-", " ")


def vqa_scores(response: str, reference: str) -> dict[str, float]:
    """One answer's scores (``VQAEvaluator.eval_pred_list``), by the cleaned texts' token sets."""
    res, gt = clean_answer(response), clean_answer(reference)
    predicted = set(res.split()) - {""}
    correct = set(gt.split()) - {""}
    common = len(predicted & correct)
    precision = common / len(predicted) if predicted else 0.0
    recall = common / len(correct) if correct else 0.0
    scores = {
        "bleu1": bleu1(res, gt),
        "f1": 2 * (precision * recall) / (precision + recall + 1e-8),
        "recall": recall,
    }
    if gt in ("yes", "no"):
        scores["closed_acc"] = float(recall >= 0.8)
    else:
        scores["open_recall"] = recall
        scores["open_acc"] = float(recall >= 0.75)
    return scores


@metrics.register("medrega_vqa")
class MedRegAVQA(Metric):
    """bleu1, f1, recall (all questions), closed_acc (yes/no references: recall >= 0.8),
    open_recall and open_acc (the others: recall >= 0.75); an empty group scores 0 as there."""

    primary = "recall"
    correct_key = None

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None:
            return Extraction(None, "failed")
        return Extraction(clean_answer(prediction.text), "rule")

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        return vqa_scores(extraction.answer or "", sample.target or "")

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        names = ["recall", "bleu1", "f1", "closed_acc", "open_recall", "open_acc"]
        aggregate = mean_aggregate(records, names)

        def zero_if_empty(values: dict[str, MetricValue]) -> dict[str, MetricValue]:
            return {k: v if v.n else MetricValue(0.0, n=0) for k, v in values.items()}

        breakdown = {node: zero_if_empty(values) for node, values in aggregate.breakdown.items()}
        return Aggregate(zero_if_empty(aggregate.metrics), breakdown)
