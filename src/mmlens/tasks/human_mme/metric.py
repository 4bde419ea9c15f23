"""Human-MME's official parsing and per-question metrics (``Yuan-Hou/Human-MME@15834a5c:benchmark.py``
``Question.solve`` / ``Question.metrics``, ``@2a35389:metrics.py``), and its aggregation
(``Benchmark.metrics``): per q_type, the mean of each numeric key over the questions that have it."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

from scipy.stats import kendalltau, spearmanr

from mmlens.core.parts import Aggregate, Extraction, Metric, Prediction, SampleRecord, metrics
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import mean_aggregate
from mmlens.tasks.human_mme.similarity import ATTR_CANDIDATES, TextSimilarity

_NUMBER = r"\s*(\d+(?:\.\d+)?)\s*"
REG_ANALYSIS = re.compile(
    r"Analyze:\s*(.*?)\s*(Answer:|Name:|Box:|First:|Second:|Third:|Fourth:|Past:|Future:)",
    re.IGNORECASE | re.DOTALL,
)
REG_BBOX = re.compile(r"Answer:\s*\[?\[" + ",".join([_NUMBER] * 4) + r"\]\]?", re.IGNORECASE)
REG_CHOICE = re.compile(r"Answer:\s*([A-D])", re.IGNORECASE)
REG_BLANK = re.compile(r"Answer:\s*(.+)", re.IGNORECASE)
REG_HOI_NAME = re.compile(r"Name:\s*(.*?)\s*Box:", re.IGNORECASE | re.DOTALL)
REG_HOI_BOX = re.compile(r"Box:\s*\[?\[" + ",".join([_NUMBER] * 4) + r"\]\]?", re.IGNORECASE)
REG_FIELDS = {
    name: re.compile(name.capitalize() + r":\s*([A-D])", re.IGNORECASE)
    for name in ("first", "second", "third", "fourth", "past", "future")
}
NO_BOX = [-1.0, -1.0, -1.0, -1.0]


def _without_fences(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if not line.strip().startswith("```"))


def _box(pattern: re.Pattern[str], text: str) -> list[float]:
    match = pattern.search(text)
    return [float(match.group(i)) for i in range(1, 5)] if match else list(NO_BOX)


def _letter(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    return match.group(1).upper() if match else None


def _blank(text: str) -> str | None:
    index = text.lower().find("answer:")
    match = REG_BLANK.search(text if index == -1 else text[index:])
    return match.group(1).strip().replace("*", "").strip() if match else None


def parse_response(a_type: str, text: str) -> dict[str, Any]:
    """``Question.solve``'s result dict for one response (without ``raw``)."""
    result: dict[str, Any] = {}
    if a_type in ("bbox", "tf_bbox"):
        result["bbox"] = _box(REG_BBOX, _without_fences(text))
    elif a_type == "choice":
        result["choice"] = _letter(REG_CHOICE, text)
    elif a_type in ("blank", "tf_blank"):
        result["answer"] = _blank(text)
    elif a_type == "open_hoi":
        name = REG_HOI_NAME.search(text)
        result["name"] = name.group(1).strip() if name else None
        result["box"] = _box(REG_HOI_BOX, text)
    elif a_type == "sequence":
        result["answer"] = [_letter(REG_FIELDS[k], text) for k in ("first", "second", "third", "fourth")]
    elif a_type == "double_choice":
        result["past"] = _letter(REG_FIELDS["past"], text)
        result["future"] = _letter(REG_FIELDS["future"], text)
    analysis = REG_ANALYSIS.search(text)
    result["analysis"] = analysis.group(1).strip() if analysis else ""
    return result


def bounding_box_iou(box1: list[float], box2: list[float]) -> float:
    x1, y1 = max(box1[0], box2[0]), max(box1[1], box2[1])
    x2, y2 = min(box1[2], box2[2]), min(box1[3], box2[3])
    if x1 < x2 and y1 < y2:
        intersection = (x2 - x1) * (y2 - y1)
        union = (
            (box1[2] - box1[0]) * (box1[3] - box1[1])
            + (box2[2] - box2[0]) * (box2[3] - box2[1])
            - intersection
        )
        return intersection / union if union > 0 else 0
    return 0


def max_guess_format_iou(guess: list[float] | None, gt: list[float], width: float, height: float) -> float:
    """Best IoU over the readings of the predicted box: 0-1 normalised (then the only one), absolute pixels
    of the original image, pixels of its 1080p copy (when it was shrunk), and 0-1000."""
    if guess is None or len(guess) != 4 or any(k is None for k in guess):
        return 0.0
    if all(0 <= k <= 1 for k in guess):
        return bounding_box_iou(guess, gt)
    candidates = [
        bounding_box_iou([guess[0] / width, guess[1] / height, guess[2] / width, guess[3] / height], gt)
    ]
    if max(width, height) > 1920 or min(width, height) > 1080:
        scale = min(1920 / max(width, height), 1080 / min(width, height))
        w, h = width * scale, height * scale
        candidates.append(bounding_box_iou([guess[0] / w, guess[1] / h, guess[2] / w, guess[3] / h], gt))
    if all(0 <= k <= 1000 for k in guess):
        candidates.append(bounding_box_iou([k / 1000 for k in guess], gt))
    return max(candidates)


def evaluate_ranking(pred: list[str], gt: list[str]) -> tuple[float, float, float]:
    """(τ+1)/2 and (ρ+1)/2 (scipy) of the predicted positions of gt's items, and nDCG@4 with
    relevance n − rank."""
    gt_pos = {item: i for i, item in enumerate(gt)}
    pred_pos = {item: i for i, item in enumerate(pred)}
    gt_ranks = [gt_pos[item] for item in gt]
    pred_ranks = [pred_pos[item] for item in gt]
    tau = kendalltau(gt_ranks, pred_ranks)[0]
    rho = spearmanr(gt_ranks, pred_ranks)[0]
    n = len(gt)
    relevance = {item: n - i for i, item in enumerate(gt)}

    def dcg(order: list[str]) -> float:
        import math

        return sum(relevance[item] / math.log2(index + 2) for index, item in enumerate(order))

    ideal = dcg(gt)
    return float((tau + 1) / 2), float((rho + 1) / 2), dcg(pred) / ideal if ideal > 0 else 0.0


@metrics.register("human_mme")
class HumanMMEMetrics(Metric):
    """Per question the official keys (``accuracy``, ``iou``, ``iou_<attr>``, ``tf_correct``, ``bert_f1``,
    ``cos_sim``, ``kw_coverage``, ``composite_score``, ``tau``, ``rho``, ``ndcg``, ``analysis_len``, ...);
    per q_type the mean of each over the questions having it.

    bertscore_model / bertscore_num_layers / embedding_model: the pinned text-similarity models the
    blank, tf_blank and open_hoi questions need (defaults: the official roberta-large and
    all-MiniLM-L6-v2; a local folder works)."""

    primary = "accuracy"
    correct_key = "accuracy"
    bertscore_model: str = "roberta-large"
    bertscore_num_layers: int | None = None
    embedding_model: str = "all-MiniLM-L6-v2"

    @cached_property
    def similarity(self) -> TextSimilarity:
        return TextSimilarity(self.bertscore_model, self.bertscore_num_layers, self.embedding_model)

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None:
            return Extraction(None, "failed")
        parsed = parse_response(sample.metadata["a_type"], prediction.text)
        shown = {k: v for k, v in parsed.items() if k != "analysis"}
        return Extraction(str(shown), "rule", details={"parsed": parsed})

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        if extraction.answer is None:  # no response at all: the official run stores None and skips it
            return {}
        parsed = extraction.details["parsed"]
        values = self.question_metrics(sample.metadata, parsed)
        return {key: float(value) for key, value in values.items()}

    def question_metrics(self, meta: dict[str, Any], result: dict[str, Any]) -> dict[str, float | bool | int]:
        """``Question.metrics`` of the official benchmark.py (without its non-numeric ``path``)."""
        a_type, gt = meta["a_type"], meta["answer"]
        m: dict[str, float | bool | int] = {}
        analysis_len = len(result.get("analysis", ""))
        if a_type == "bbox":
            iou = max_guess_format_iou(result["bbox"], gt, meta["width"], meta["height"])
            attr = meta.get("attr_question") or "default"
            m.update(iou=iou, analysis_len=analysis_len, accuracy=iou >= 0.5)
            m[f"iou_{attr}"], m[f"accuracy_{attr}"] = iou, iou >= 0.5
        elif a_type == "tf_bbox":
            m["have_bbox"] = gt[0] != -1
            m["pred_have_bbox"] = result["bbox"][0] != -1
            if gt[0] != -1:
                m["iou"] = max_guess_format_iou(result["bbox"], gt, meta["width"], meta["height"])
                m["accuracy"] = m["iou"] >= 0.5
                attr = meta.get("attr_answer") or "default"
                m[f"iou_{attr}"], m[f"accuracy_{attr}"] = m["iou"], m["accuracy"]
            m["tf_correct"] = result["bbox"][0] != -1  # official quirk: any box counts as right
            m["analysis_len"] = analysis_len
        elif a_type == "choice":
            m["accuracy"] = result["choice"] == gt[0]
            m["analysis_len"] = analysis_len
        elif a_type == "blank":
            attr = meta.get("attr_question") or ""
            if attr in ATTR_CANDIDATES:
                self._attribute(m, attr, result["answer"], gt)
            self._composite(m, result["answer"], gt)
            m["analysis_len"] = analysis_len
            if "accuracy" not in m:
                m["accuracy"] = m["composite_score"] >= 0.75
        elif a_type == "tf_blank":
            m["have_answer"] = gt != "unknown"
            answered = result["answer"] is not None and result["answer"].lower() != "unknown"
            m["pred_have_bbox"] = answered
            if gt != "unknown":
                attr = meta.get("attr_answer") or ""
                if ATTR_CANDIDATES.get(attr):
                    self._attribute(m, attr, result["answer"], gt)
                self._composite(m, result["answer"], gt)
                if "accuracy" not in m:
                    m["accuracy"] = m["composite_score"] >= 0.75
            m["tf_correct"] = answered  # official quirk: any non-"unknown" answer counts as right
            m["analysis_len"] = analysis_len
        elif a_type == "open_hoi":
            m["iou"] = max_guess_format_iou(result["box"], gt["bbox"], meta["width"], meta["height"])
            m["accuracy"] = m["iou"] >= 0.5
            self._composite(m, result["name"], gt["name"])
            m["analysis_len"] = analysis_len
            m["object_accuracy"] = m["composite_score"] >= 0.75
        elif a_type == "sequence":
            answer = result["answer"]
            if len(set(answer)) != 4 or any(x not in ["A", "B", "C", "D"] for x in answer):
                m["accuracy"] = False
            else:
                m["accuracy"] = all(answer[k] == gt[k] for k in range(4))
                m["tau"], m["rho"], m["ndcg"] = evaluate_ranking(answer, gt)
            m["analysis_len"] = analysis_len
        elif a_type == "double_choice":
            m["past_accuracy"] = result["past"] == gt["past"]
            m["future_accuracy"] = result["future"] == gt["future"]
            m["accuracy"] = m["past_accuracy"] and m["future_accuracy"]
            m["analysis_len"] = analysis_len
        return m

    def _attribute(self, m: dict[str, float | bool | int], attr: str, answer: str | None, gt: str) -> None:
        for name in ATTR_CANDIDATES:  # official: the attribute names (not the classes) are set to 0 ...
            m[name] = 0
        m[attr] = 1
        m["accuracy"], m["prob"] = self.similarity.is_correct(answer, gt, ATTR_CANDIDATES[attr])
        m[f"accuracy_{attr}"] = m["accuracy"]
        m[gt] = 1  # ... and the reference class itself is set to 1

    def _composite(self, m: dict[str, float | bool | int], answer: str | None, gt: str) -> None:
        m["bert_f1"], m["cos_sim"], m["kw_coverage"], m["composite_score"] = self.similarity.composite_score(
            answer, gt
        )

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        # The official scorer has no overall: "breakdown" holds the per-q_type means (the official
        # numbers); the headline "accuracy" is mmlens's own micro mean over the questions having it.
        return mean_aggregate(records)
