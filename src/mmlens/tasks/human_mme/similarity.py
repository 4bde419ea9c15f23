"""The text-similarity models of Human-MME's ``metrics.py`` (``Yuan-Hou/Human-MME@2a35389``), pinned by name.

- BERTScore F1 (``bert_score.score([cand], [gt], lang='en', model_type='roberta-large')``, no baseline
  rescaling), cached per (candidate, reference) pair as the official ``lru_cache``;
- MiniLM cosine (``SentenceTransformer('all-MiniLM-L6-v2')``, ``util.cos_sim``);
- keyword coverage: share of the reference's ``nltk.word_tokenize`` tokens (lower-cased) found among the
  candidate's tokens.

The models are loaded once per process, on first use, from the names the metric's options give (a hub id or
a local folder), so a run that scores no blank question loads none.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

ATTR_CANDIDATES: dict[str, list[str]] = {
    "age": ["child", "teenager", "adult", "senior"],
    "gender": ["male", "female"],
    "emotion": ["happy", "sad", "angry", "surprised", "neutral"],
    "race": ["white", "black", "asian", "middle eastern", "latino hispanic"],
    "pitch": ["up", "down"],
    "yaw": ["left side", "right side"],
}

KEYWORDS: dict[str, list[str]] = {
    "child": ["child", "kid", "little boy", "little girl", "baby"],
    "teenager": ["teen", "teenager", "adolescent", "young teen"],
    "adult": ["adult", "man", "woman", "young adult"],
    "senior": ["elderly", "senior", "old man", "old woman"],
    "male": ["man", "boy", "gentleman", "male"],
    "female": ["woman", "girl", "lady", "female"],
    "happy": ["happy", "smiling", "joyful", "cheerful"],
    "sad": ["sad", "unhappy", "sorrowful", "downcast"],
    "angry": ["angry", "mad", "furious", "irate"],
    "surprised": ["surprised", "astonished", "amazed", "startled"],
    "neutral": ["neutral", "expressionless", "impassive", "blank"],
    "white": ["white", "caucasian", "european"],
    "black": ["black", "african", "afro-american"],
    "asian": ["asian", "chinese", "japanese", "korean"],
    "middle eastern": ["middle eastern", "arab", "persian"],
    "latino hispanic": ["latino", "hispanic", "mexican", "spanish"],
    "up": ["up", "looking up", "head up", "face up"],
    "down": ["down", "looking down", "head down", "face down"],
    "left side": ["left side", "looking left", "head turned left", "face left"],
    "right side": ["right side", "looking right", "head turned right", "face right"],
}


def word_tokens(text: str) -> list[str]:
    """``nltk.word_tokenize``; without the punkt data (offline) the same Treebank tokenizer over the
    whole text (``preserve_line=True``: no sentence split first)."""
    from nltk.tokenize import word_tokenize

    try:
        return list(word_tokenize(text))
    except LookupError:
        return list(word_tokenize(text, preserve_line=True))


def keyword_coverage(candidate: str, reference: str) -> float:
    reference_tokens = word_tokens(reference.lower())
    candidate_tokens = word_tokens(candidate.lower())
    matched = sum(1 for token in reference_tokens if token in candidate_tokens)
    return matched / len(reference_tokens)  # an empty reference raises, as in the official code


@lru_cache(maxsize=4)
def _sentence_model(name: str) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(name, device="cpu")


class TextSimilarity:
    """The pinned models: ``bertscore_model`` (with ``bertscore_num_layers``; None = bert_score's own
    default for the model type, 17 for roberta-large) and ``embedding_model``."""

    def __init__(self, bertscore_model: str, bertscore_num_layers: int | None, embedding_model: str) -> None:
        self.bertscore_model = bertscore_model
        self.bertscore_num_layers = bertscore_num_layers
        self.embedding_model = embedding_model
        self._bert_cache: dict[tuple[str, str], float] = {}

    def bert_f1(self, candidate: str, reference: str) -> float:
        key = (candidate, reference)
        if key not in self._bert_cache:
            from bert_score import score

            _, _, f1 = score(
                [candidate],
                [reference],
                lang="en",
                model_type=self.bertscore_model,
                num_layers=self.bertscore_num_layers,
                verbose=False,
                device="cpu",
            )
            self._bert_cache[key] = float(f1.item())
        return self._bert_cache[key]

    def encode(self, texts: str | list[str]) -> Any:
        return _sentence_model(self.embedding_model).encode(texts, convert_to_tensor=True)

    def cosine(self, candidate: str, reference: str) -> float:
        from sentence_transformers import util

        return float(util.cos_sim(self.encode(candidate), self.encode(reference)).item())

    def semantic_mapping(self, prediction: str, candidates: list[str]) -> tuple[str, float]:
        """The candidate whose keywords come closest (max cosine over its keywords); first max wins."""
        from sentence_transformers import util

        prediction_embedding = self.encode(prediction)
        scores = np.array(
            [util.cos_sim(prediction_embedding, self.encode(KEYWORDS[c])).max().item() for c in candidates]
        )
        best = int(scores.argmax())
        return candidates[best], float(scores[best])

    def is_correct(self, prediction: str | None, reference: str, candidates: list[str]) -> tuple[bool, float]:
        if prediction is None or not candidates:
            return False, 0.0
        predicted, probability = self.semantic_mapping(prediction, candidates)
        reference_class, _ = self.semantic_mapping(reference, candidates)
        return predicted == reference_class, probability

    def composite_score(
        self,
        candidate: str | None,
        reference: str,
        w_bert: float = 0.5,
        w_cos: float = 0.3,
        w_kw: float = 0.2,
    ) -> tuple[float, float, float, float]:
        """(bert_f1, cos_sim, kw_coverage, 0.5·bert + 0.3·cos + 0.2·kw); all 0 for no or blank text."""
        if candidate is None or candidate.strip() == "":
            return 0.0, 0.0, 0.0, 0.0
        bert = self.bert_f1(candidate, reference)
        cosine = self.cosine(candidate, reference)
        coverage = keyword_coverage(candidate, reference)
        return bert, cosine, coverage, w_bert * bert + w_cos * cosine + w_kw * coverage
