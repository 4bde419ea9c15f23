"""MedRegA's region-to-text evaluator (xmed-lab/MedRegA@dfdb0db ``src/eval/regr2t/evaluator.py``
``R2TEvaluator``, run by ``evaluate_regr2t.py`` over the merged answer files).

Per answer (evaluator.py:25-42): both texts are lower-cased, every ``[[...]]`` (non-greedy) is
removed from the prediction, then the two are compared as sets of whitespace tokens:
precision, recall, ``f1 = 2PR / (P + R + 1e-8)``, ``accuracy`` = recall >= 0.75, and ``bleu1`` =
torchmetrics ``BLEUScore(n_gram=1)([res], [[gt]])`` (no cleaning: ``liver.`` is not ``liver``).
Over all answers (evaluator.py:44-64): the means, and ``bertscore``, the mean BERTScore F1 of
``BERTScorer(model_type="microsoft/deberta-xlarge-mnli", idf=True, idf_sents=<the predictions>,
rescale_with_baseline=False).score(predictions, references)``: the idf weights come from the
predictions of the whole evaluated set.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, ClassVar

from mmlens.core.errors import ConfigError
from mmlens.core.parts import Aggregate, Extraction, Metric, MetricValue, Prediction, SampleRecord, metrics
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import category_nodes, mean_metrics
from mmlens.tasks.medrega.metric import bleu1

BOXES = re.compile(r"\[\[.*?\]\]")
OFFICIAL_MODEL = "microsoft/deberta-xlarge-mnli"


def caption_text(response: str) -> str:
    """evaluator.py:26-28: lower-case, drop every ``[[...]]``."""
    return BOXES.sub("", response.lower())


def caption_scores(prediction: str, reference: str) -> dict[str, float]:
    """One answer (evaluator.py:25-38); ``prediction`` already through ``caption_text``."""
    res, gt = prediction, reference.lower()
    predicted = set(res.split()) - {""}
    correct = set(gt.split()) - {""}
    common = len(predicted & correct)
    precision = common / len(predicted) if predicted else 0.0
    recall = common / len(correct) if correct else 0.0
    return {
        "bleu1": bleu1(res, gt),
        "f1": 2 * (precision * recall) / (precision + recall + 1e-8),
        "recall": recall,
        "accuracy": float(recall >= 0.75),
    }


class SpecialTokens:
    """``build_inputs_with_special_tokens`` for the tokenizers of transformers 5, which dropped it:
    bert_score encodes an empty sentence with it (the ids of ``encode("")``, ``[CLS] [SEP]``,
    around the given ones). Picklable: bert_score's idf pool sends the tokenizer to its workers."""

    def __init__(self, empty: list[int]) -> None:
        self.empty = list(empty)

    def __call__(self, token_ids: list[int], *_: Any) -> list[int]:
        return self.empty[:1] + list(token_ids) + self.empty[1:]


@lru_cache(maxsize=1)
def _scorer(model: str, num_layers: int | None, device: str | None, batch_size: int) -> Any:
    """One loaded BERTScorer per model setting (the official deberta-xlarge is 900M parameters)."""
    try:
        from bert_score import BERTScorer
        from bert_score.utils import model2layers
    except ImportError:
        raise ConfigError(
            "task medrega_regr2t reports BERTScore with the bert_score package, as MedRegA does: "
            "pip install 'mmlens[text-similarity]' (or set the metric option bertscore_model: null)"
        ) from None
    if num_layers is None and model not in model2layers:
        raise ConfigError(
            f"medrega_regr2t metric option bertscore_model={model!r} is not a model bert_score knows: "
            "give bertscore_num_layers (the layer whose embeddings it compares)"
        )
    try:
        scorer = BERTScorer(
            model_type=model,
            num_layers=num_layers,
            lang="en",
            rescale_with_baseline=False,
            idf=True,
            device=device,
            batch_size=batch_size,
        )
    except (OSError, ValueError, KeyError) as error:  # no such folder or hub id; a model of no known type
        raise ConfigError(
            f"medrega_regr2t metric option bertscore_model={model!r} could not be loaded ({error}); "
            "give a local folder of the model (with bertscore_num_layers), or bertscore_model: null "
            "to leave BERTScore out"
        ) from None
    tokenizer = scorer._tokenizer
    if not hasattr(tokenizer, "build_inputs_with_special_tokens"):
        tokenizer.build_inputs_with_special_tokens = SpecialTokens(
            tokenizer.encode("", add_special_tokens=True)
        )
    return scorer


def bertscore_f1(
    predictions: tuple[str, ...],
    references: tuple[str, ...],
    model: str,
    num_layers: int | None,
    device: str | None = None,
    batch_size: int = 64,
) -> tuple[float, ...]:
    """The F1 of each pair, idf weights from ``predictions`` (the whole set)."""
    scorer = _scorer(model, num_layers, device, batch_size)
    scorer.compute_idf(list(predictions))  # what idf_sents= does in the constructor
    _, _, f1 = scorer.score(list(predictions), list(references), batch_size=batch_size)
    return tuple(float(value) for value in f1.tolist())


@metrics.register("medrega_regr2t")
class MedRegARegionToText(Metric):
    """bleu1, f1, recall, accuracy (means over the answers) and bertscore (mean BERTScore F1).

    bertscore_model: the BERTScore model (default the official microsoft/deberta-xlarge-mnli, a hub
    id or a local folder; None leaves ``bertscore`` out); bertscore_num_layers: its layer (None:
    bert_score's own for a known model, 40 for deberta-xlarge-mnli); bertscore_device (None: cuda
    when there is one, as bert_score picks); bertscore_batch_size."""

    primary: ClassVar[str] = "recall"
    correct_key: ClassVar[str | None] = None
    bertscore_model: str | None = OFFICIAL_MODEL
    bertscore_num_layers: int | None = None
    bertscore_device: str | None = None
    bertscore_batch_size: int = 64

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None:  # scored as an empty answer
            return Extraction(None, "failed")
        return Extraction(caption_text(prediction.text), "rule")

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        return caption_scores(extraction.answer or "", sample.target or "")

    def _bertscores(self, records: list[SampleRecord]) -> dict[str, float]:
        if self.bertscore_model is None or not records:
            return {}
        predictions = tuple(r.answer or "" for r in records)
        references = tuple((r.target or "").lower() for r in records)
        values = bertscore_f1(
            predictions,
            references,
            self.bertscore_model,
            self.bertscore_num_layers,
            self.bertscore_device,
            self.bertscore_batch_size,
        )
        return {r.id: value for r, value in zip(records, values, strict=True)}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        names = ["recall", "bleu1", "f1", "accuracy"]
        bert = self._bertscores(records)  # idf over every prediction, as one official run

        def values(subset: list[SampleRecord]) -> dict[str, MetricValue]:
            result = mean_metrics(subset, names)
            if bert:
                scores = [bert[r.id] for r in subset]
                result["bertscore"] = MetricValue(sum(scores) / len(scores), n=len(scores))
            return result

        breakdown = {node: values(subset) for node, subset in category_nodes(records).items()}
        return Aggregate(values(records), breakdown)
