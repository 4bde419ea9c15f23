"""MMCircuitEval's composite score (cure-lab/MMCircuitEval@d7a44de ``evaluation/``).

Per sub-question (``runner.py`` ``runEvaluation``, ``utils/formatter.py``, ``modules/evaluator.py``):

- the model's output is read by ``formatModelOutput`` (v1: the text after the last "```json" up to
  the next "```", stripped, ``json.loads``: its "answer" and "explanation"; not JSON -> none of
  them. v2: the "### Answer ###" and "### Explanation ###" paragraphs);
- both sides are written by ``formatAnswer``: ``"Answer: {a}."`` (the raw output when no answer was
  read) + ``" Explanation: {e}."`` when there is an explanation;
- BLEU: nltk ``sentence_bleu([gt.split()], pred.split(), (0.25,) * 4, SmoothingFunction().method1)``;
- ROUGE: the ``rouge`` package's ``Rouge().get_scores`` (what evaluator.py imports), the mean of the
  rouge-1, rouge-2 and rouge-l F values (0 on its RecursionError);
- embedding: the cosine of the two texts' embeddings (``embed`` requests to the ``embedder`` role,
  default ``text-embedding-3-large``; 0 when a norm is 0);
- LLM: the judge (default ``gpt-3.5-turbo``) with ``llm_scorer_prompt.txt`` (llm_scorer.py's
  prompt verbatim, its indentation kept) formatted with gt and pred, no temperature or max_tokens
  in the script; ``float(reply)``, and a reply that is not a float is **0.5** (the script's
  ``except``: an official fallback, counted in ``judging.failures.official_fallback``). Not clipped.

Composite = (1 bleu + 1 rouge + 1 emb + 2 llm) / 5 (run_benchmark.py's weights).

Aggregation: the shipped ``showResults`` cannot run (``formatScore`` is called with one argument of
five, evaluator.py's key ``'emb'`` is read as ``'embedding'``, each problem's list is doubled by
``scores += scores``, the overall average uses the last problem's list only, and ``cosSim`` takes
the dot product of two (1, d) lists, which numpy refuses). Implemented is its documented intent
(the paper): the mean composite over all sub-questions x 100, the same per ability (knowledge,
comprehension, reasoning, computation), for text-only and multimodal problems, and the four
components' means x 100. Not rounded (the script prints them unrounded).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from mmlens.core.errors import ConfigError
from mmlens.core.messages import Message
from mmlens.core.parts import (
    Aggregate,
    Extraction,
    Metric,
    MetricValue,
    Prediction,
    Rounds,
    SampleRecord,
    metrics,
)
from mmlens.core.requests import GenerationSettings, Request, Response
from mmlens.core.sample import Sample
from mmlens.metrics.judge_governance import JUDGE_PARSE_KEY, official_fallback, parsed_reply
from mmlens.metrics.stats import mean_interval

JUDGE_ROLE = "judge"
EMBEDDER_ROLE = "embedder"
PROMPT_FILE = Path(__file__).resolve().parent / "llm_scorer_prompt.txt"
UNPARSED_LLM_SCORE = 0.5  # llm_scorer.py: except (TypeError, KeyError, ValueError): return 0.5
ABILITIES = ("knowledge", "comprehension", "reasoning", "computation")
COMPONENTS = ("bleu", "rouge", "emb", "llm")


@cache
def llm_scorer_prompt() -> str:
    return PROMPT_FILE.read_text(encoding="utf-8")


def format_model_output(out: str | None, version: str = "v1") -> tuple[Any, Any]:
    """formatter.py ``formatModelOutput``. A JSON value that is not an object has no ``.get`` (the
    script raises there and stops); here it reads as no answer and no explanation."""
    if out is None:
        return None, None
    if version == "v1":
        body = out.split("```json")[-1].split("```")[0].strip()
        try:
            pred = json.loads(body)
        except json.JSONDecodeError:
            return None, None
        if not isinstance(pred, dict):
            return None, None
        return pred.get("answer", None), pred.get("explanation", None)
    answer = out.split("### Answer ###")[-1].split("### Explanation ###")[0].strip()
    explanation = out.split("### Explanation ###")[-1].strip()
    return answer or None, explanation or None


def format_answer(answer: Any, explanation: Any, raw_pred: str | None = None) -> str:
    """formatter.py ``formatAnswer`` (non-text JSON values are written as Python's f-string does)."""
    answer = "" if answer is None else answer
    explanation = "" if explanation is None else explanation
    raw_pred = "" if raw_pred is None else raw_pred
    if raw_pred != "":
        answer = raw_pred if answer == "" else answer
    formatted = f"Answer: {answer}."
    if explanation != "":
        formatted += f" Explanation: {explanation}."
    return formatted


def bleu(pred: str, gt: str) -> float:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    return float(
        sentence_bleu(
            [gt.split()],
            pred.split(),
            weights=(0.25, 0.25, 0.25, 0.25),
            smoothing_function=SmoothingFunction().method1,
        )
    )


def rouge(pred: str, gt: str) -> float:
    try:
        from rouge import Rouge
    except ImportError:
        raise ConfigError(
            "task mmcircuiteval needs the rouge package (the one its evaluator.py uses): "
            "pip install 'mmlens[text-similarity]' or pip install rouge"
        ) from None
    try:
        scores = Rouge().get_scores(hyps=[pred], refs=[gt])[0]
    except RecursionError:
        return 0.0
    return (scores["rouge-1"]["f"] + scores["rouge-2"]["f"] + scores["rouge-l"]["f"]) / 3


def cosine(first: Sequence[float], second: Sequence[float]) -> float:
    """evaluator.py ``cosSim`` on two vectors (0.0 when a norm is 0)."""
    import numpy as np

    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"embeddings of different sizes ({a.size} and {b.size})")
    norms = float(np.linalg.norm(a)) * float(np.linalg.norm(b))
    return 0.0 if norms == 0 else float(np.dot(a, b)) / norms


def embedding_of(response: Response) -> list[float] | None:
    """A response's vector; a replayed embedder reply (text) is the vector as JSON (a number is a
    vector of one)."""
    if response.embedding is not None:
        return list(response.embedding)
    try:
        value = json.loads(response.text or "")
    except json.JSONDecodeError:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [float(value)]
    if isinstance(value, list) and value and all(isinstance(x, int | float) for x in value):
        return [float(x) for x in value]
    return None


def llm_score(reply: str | None) -> float | None:
    """llm_scorer.py: ``float(content)``; None where it raises (the script's 0.5)."""
    try:
        return float(reply)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


@metrics.register("mmcircuiteval")
class MMCircuitEvalComposite(Metric):
    """BLEU, ROUGE, embedding cosine and the judge's similarity per sub-question; composite means.

    Fields: the four weights (run_benchmark.py: 1, 1, 1, 2), judge_max_new_tokens (the script
    sends none; 64 here), judge_temperature (the script sends none: the API default 1.0)."""

    primary: ClassVar[str] = "overall"
    correct_key: ClassVar[str | None] = None
    bleu_weight: float = 1.0
    rouge_weight: float = 1.0
    emb_weight: float = 1.0
    llm_weight: float = 2.0
    judge_max_new_tokens: int = Field(64, ge=1)
    judge_temperature: float = Field(1.0, ge=0.0)

    def roles(self) -> tuple[str, ...]:
        return (JUDGE_ROLE, EMBEDDER_ROLE)

    def judge_prompt_templates(self) -> dict[str, str]:
        return {"llm_scorer_prompt.txt": llm_scorer_prompt()}

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        raise NotImplementedError("MMCircuitEval asks its judge and embedder in extract_rounds")

    def texts(self, sample: Sample, prediction: Prediction) -> tuple[str, str]:
        """(formatted prediction, formatted ground truth), as runEvaluation writes them."""
        version = str(sample.metadata.get("version") or "v1")
        answer, explanation = format_model_output(prediction.text, version)
        pred = format_answer(answer, explanation, prediction.text)
        gt = format_answer(sample.target, sample.metadata.get("explanation"))
        return pred, gt

    def extract_rounds(self, sample: Sample, prediction: Prediction) -> Rounds[Extraction]:
        pred, gt = self.texts(sample, prediction)
        settings = GenerationSettings(
            max_new_tokens=self.judge_max_new_tokens, temperature=self.judge_temperature
        )
        judge = Request(
            "generate",
            (Message.user(llm_scorer_prompt().format(gt=gt, pred=pred)),),
            settings=settings,
            role=JUDGE_ROLE,
        )
        # Equal texts have cosine 1 (or 0 for a zero vector): one embedding is enough.
        texts = [pred] if pred == gt else [pred, gt]
        embeds = [Request("embed", (Message.user(text),), role=EMBEDDER_ROLE) for text in texts]
        reply, *vectors = yield [judge, *embeds]
        found = [embedding_of(v) for v in vectors]
        if any(v is None for v in found):
            return Extraction(None, "failed", details={"why": "the embedder returned no vector"})
        first = found[0]
        assert first is not None
        emb = cosine(first, found[-1] or first)
        components = {"bleu": bleu(pred, gt), "rouge": rouge(pred, gt), "emb": emb}
        details: dict[str, Any] = {
            "pred_text": pred,
            "gt_text": gt,
            "ability": sample.metadata.get("ability"),
            "multimodal": bool(sample.metadata.get("multimodal")),
        }
        score = llm_score(reply.text)
        if score is None:
            components["llm"] = UNPARSED_LLM_SCORE
            return official_fallback(json.dumps(components), reply.text, **details)
        components["llm"] = score
        extraction = parsed_reply(json.dumps(components), reply.text, **details)
        assert extraction.details[JUDGE_PARSE_KEY] == "parsed"
        return extraction

    def composite(self, components: dict[str, float]) -> float:
        weights = {
            "bleu": self.bleu_weight,
            "rouge": self.rouge_weight,
            "emb": self.emb_weight,
            "llm": self.llm_weight,
        }
        return sum(weights[k] * components[k] for k in COMPONENTS) / sum(weights.values())

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        if extraction.answer is None:
            return {"overall": math.nan}
        components = json.loads(extraction.answer)
        return {"overall": self.composite(components), **{k: float(components[k]) for k in COMPONENTS}}

    @staticmethod
    def _value(scores: list[float]) -> MetricValue:
        if not scores:
            return MetricValue(math.nan, n=0)
        low, high = mean_interval(scores)
        return MetricValue(sum(scores) / len(scores) * 100, low * 100, high * 100, len(scores))

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        scored = [r for r in records if r.extraction != "failed" and "bleu" in r.scores]
        values = {"overall": self._value([r.scores["overall"] for r in scored])}
        for ability in ABILITIES:
            group = [r.scores["overall"] for r in scored if (r.details or {}).get("ability") == ability]
            if group:
                values[ability] = self._value(group)
        for name, multimodal in (("text_only", False), ("multimodal", True)):
            group = [
                r.scores["overall"] for r in scored if bool((r.details or {}).get("multimodal")) is multimodal
            ]
            if group:
                values[name] = self._value(group)
        for component in COMPONENTS:
            values[component] = self._value([r.scores[component] for r in scored])
        return Aggregate(values, {})
