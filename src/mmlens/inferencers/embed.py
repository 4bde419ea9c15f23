"""The ``embed`` inferencer: one embed request per sample, its vector (L2-normalised, whichever
backend or predictions file it came from) on ``Prediction.embedding``.

For retrieval and similarity tasks (image-text matching, embedding benchmarks): the instruction's
messages are what is embedded; the metric compares the vectors. The prediction has no text.
``mmlens score`` replays vectors made elsewhere from a predictions file's ``"embedding"`` field.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mmlens.core.errors import DataError
from mmlens.core.jsonlines import json_lines
from mmlens.core.media import FileImage
from mmlens.core.messages import ImagePart, Message
from mmlens.core.parts import Inferencer, Prediction, ReplayError, ReplayOutput, inferencers
from mmlens.core.requests import Request, Response
from mmlens.core.sample import Sample


@inferencers.register("embed")
class Embed(Inferencer):
    """One embed request per sample (the instruction's messages) -> ``Prediction.embedding``."""

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        return [Request("embed", tuple(messages))]

    def combine(self, sample: Sample, requests: list[Request], responses: list[Response]) -> Prediction:
        errors = [r.error for r in responses if r.error]
        if errors:
            return Prediction(text=None, error=errors[0])
        embedding = responses[0].embedding
        if not embedding:
            return Prediction(text=None, error="the backend answered the embed request without a vector")
        vector = unit_vector(embedding)
        if vector is None:
            return Prediction(text=None, error="the backend's vector holds NaN or infinity, or is all zeros")
        return Prediction(text=None, embedding=vector)

    replay_fields: ClassVar[frozenset[str]] = frozenset({"embedding"})

    def replay(self, sample: Sample, output: ReplayOutput) -> Prediction:
        if output.embedding is None:
            raise ReplayError('this task embeds: give "embedding" (a list of numbers)')
        if not output.embedding:
            raise ReplayError('"embedding" is empty')
        vector = unit_vector(output.embedding)
        if vector is None:
            raise ReplayError('"embedding" holds NaN or infinity, or is all zeros')
        return Prediction(text=None, embedding=vector)


def unit_vector(values: list[float]) -> list[float] | None:
    """The vector L2-normalised (whatever the backend did, so that every backend's and every
    replayed vector compares alike); None when it is not finite or has no length."""
    vector = [float(value) for value in values]
    norm = math.sqrt(math.fsum(value * value for value in vector))
    if not math.isfinite(norm) or norm == 0.0:
        return None
    return [value / norm for value in vector]


# ----- ranking a query's own candidates (MMEB, M-BEIR) ------------------------------------------

# A candidate as the benchmark keys it: (text, image path as written in the data, "" for none).
# VLM2Vec's eval.py caches target vectors by exactly this pair, so identical candidates share one.
CandidateKey = tuple[str, str]
IMAGE_PLACEHOLDER = re.compile(r"<\|image_\d+\|>\s*")
TOP_KEPT = 10  # the ranking kept on each prediction (RankingMetrics' largest k)


@dataclass
class CandidateVectors:
    """Candidate vectors made elsewhere, by candidate key (``read_candidate_vectors``)."""

    index: dict[CandidateKey, int]
    matrix: np.ndarray  # (n, d), rows L2-normalised
    origin: str
    used: bool = False  # set once a replay read them (a task that does not rank candidates never does)


_replay_candidates: ContextVar[CandidateVectors | None] = ContextVar("replay_candidates", default=None)


@contextmanager
def candidate_vectors(path: str | Path | None) -> Iterator[CandidateVectors | None]:
    """While active, ``embed_candidates`` replays (``mmlens score --candidates FILE``) read the
    candidates' vectors from ``path``; None does nothing."""
    vectors = read_candidate_vectors(path) if path is not None else None
    token = _replay_candidates.set(vectors)
    try:
        yield vectors
    finally:
        _replay_candidates.reset(token)


def read_candidate_vectors(path: str | Path) -> CandidateVectors:
    """Candidate vectors made elsewhere, keyed as the benchmark keys candidates.

    ``.jsonl``: one ``{"text": ..., "image": ..., "embedding": [...]}`` per line (``image``: the
    path as the data writes it, ``""`` or absent for a text candidate). ``.npz``: arrays
    ``embeddings`` (n x d), ``texts`` and ``images`` (n strings each). A key given twice is refused."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"candidate embeddings file {file} does not exist")
    keys: list[CandidateKey] = []
    if file.suffix == ".npz":
        try:
            with np.load(file, allow_pickle=False) as arrays:
                missing = {"embeddings", "texts", "images"} - set(arrays.files)
                if missing:
                    raise DataError(
                        f"{file}: arrays {sorted(missing)} are missing (needs embeddings, texts, images)"
                    )
                matrix = np.asarray(arrays["embeddings"], dtype=np.float32)
                texts, images = arrays["texts"].tolist(), arrays["images"].tolist()
        except (OSError, ValueError) as error:
            raise DataError(f"{file}: not a readable .npz file ({error})") from None
        if matrix.ndim != 2 or not (len(texts) == len(images) == matrix.shape[0]):
            raise DataError(f"{file}: embeddings must be (n, d) with n texts and n images")
        keys = [(str(t), str(i)) for t, i in zip(texts, images, strict=True)]
    else:
        rows: list[list[float]] = []
        with file.open(encoding="utf-8") as handle:
            for line in json_lines(handle):
                where = f"{file}, line {line.number}"
                item = line.value
                if line.error is not None or not isinstance(item, dict):
                    raise DataError(
                        f'{where}: expected {{"text", "image", "embedding"}} '
                        f"({line.error or 'not an object'})"
                    )
                text, image, vector = item.get("text"), item.get("image") or "", item.get("embedding")
                if not isinstance(text, str) or not isinstance(image, str):
                    raise DataError(f'{where}: "text" (and "image", if given) must be strings')
                if (
                    not isinstance(vector, list)
                    or not vector
                    or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in vector)
                ):
                    raise DataError(f'{where}: "embedding" must be a non-empty list of numbers')
                if rows and len(vector) != len(rows[0]):
                    raise DataError(f"{where}: {len(vector)} dimensions, the first line has {len(rows[0])}")
                keys.append((text, image))
                rows.append(vector)
        if not rows:
            raise DataError(f"candidate embeddings file {file} is empty")
        matrix = np.asarray(rows, dtype=np.float32)
    index: dict[CandidateKey, int] = {}
    for row, key in enumerate(keys):
        if key in index:
            raise DataError(f"{file}: candidate {key!r} is given twice (rows {index[key]} and {row})")
        index[key] = row
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    bad = np.flatnonzero(~np.isfinite(norms[:, 0]) | (norms[:, 0] == 0))
    if bad.size:
        raise DataError(f"{file}: candidate {keys[int(bad[0])]!r} has a zero or non-finite vector")
    return CandidateVectors(index, matrix / norms, str(file))


def candidate_message(text: str, image: str, image_root: str) -> Message:
    """A candidate as a model sees it: its image (if any) then its text, the data's
    ``<|image_1|>`` placeholder removed (VLM2Vec puts each backbone's own image token there)."""
    cleaned = IMAGE_PLACEHOLDER.sub("", text).strip()
    parts: list[ImagePart | str] = []
    if image:
        parts.append(ImagePart(FileImage(Path(image_root) / image)))
    if cleaned or not parts:
        parts.append(cleaned)
    return Message.user(*parts)


def image_alone(message: Message) -> Message:
    """The message's image parts alone where it has any (else the message as it is)."""
    images = tuple(part for part in message.content if isinstance(part, ImagePart))
    return Message(message.role, images) if images else message


@lru_cache(maxsize=1 << 20)
def candidate_request(text: str, image: str, image_root: str, alone: bool = False) -> Request:
    """One request object per distinct candidate (a class list shared by 1,000 queries costs one
    object and one digest of each image, not 1,000)."""
    message = candidate_message(text, image, image_root)
    return Request("embed", (image_alone(message) if alone else message,))


LARGE_LIST = 4096  # longer lists (M-BEIR pools) get a partial sort: MMEB's lists are at most 1,000


def rank_scores(scores: np.ndarray) -> dict[str, Any]:
    """What the metric needs from one query's cosine scores, both official tie rules:
    ``argmax`` (VLM2Vec V1: first maximum, so a tie goes to the positive, candidate 0) and the top
    of ``np.argsort(-scores)`` (V2: numpy's default quicksort, not stable beyond 16 candidates);
    ``top_stable`` keeps equal scores in list order (FAISS flat search, M-BEIR). Beyond
    ``LARGE_LIST`` candidates only the stable top is computed (a partial sort) and ``top`` is it."""
    stable = stable_top(scores, TOP_KEPT)
    order = [int(i) for i in np.argsort(-scores)[:TOP_KEPT]] if scores.shape[0] <= LARGE_LIST else stable
    return {
        "argmax": int(np.argmax(scores)),
        "top": order,
        "top_stable": stable,
        "positive_score": float(scores[0]),
        "best_score": float(scores.max()),
    }


def stable_top(scores: np.ndarray, k: int) -> list[int]:
    """``np.argsort(-scores, kind="stable")[:k]`` without sorting everything: the scores at or
    above the k-th largest, in list order, stably sorted."""
    if scores.shape[0] <= k:
        return [int(i) for i in np.argsort(-scores, kind="stable")]
    threshold = np.partition(scores, scores.shape[0] - k)[scores.shape[0] - k]
    chosen = np.flatnonzero(scores >= threshold)
    return [int(i) for i in chosen[np.argsort(-scores[chosen], kind="stable")][:k]]


def candidate_scores(
    queries: np.ndarray, candidates: np.ndarray, lists: np.ndarray, block: int = 256
) -> np.ndarray:
    """Cosine scores of each query against its own candidates, vectorised: ``queries`` (n, d) and
    ``candidates`` (m, d) L2-normalised, ``lists`` (n, c) rows of candidate indices; returns (n, c).
    Blocks of queries keep memory at block x m (or block x c x d when the pool is larger)."""
    n, width = lists.shape
    out = np.empty((n, width), dtype=np.float32)
    for start in range(0, n, block):
        rows = slice(start, min(start + block, n))
        if candidates.shape[0] <= 4 * width * candidates.shape[1]:
            full = queries[rows] @ candidates.T  # (block, m)
            out[rows] = np.take_along_axis(full, lists[rows], axis=1)
        else:  # a pool much larger than one list: gather each query's candidates instead
            out[rows] = np.einsum("bd,bcd->bc", queries[rows], candidates[lists[rows]])
    return out


# A candidate shared by many queries comes back as one Response object (the runner answers each
# distinct request once); converting its list of floats once, not once per query, is most of the
# time of ranking a 1,000-candidate list. Bounded, and holding the response so its id stays valid.
_UNIT_ROWS: OrderedDict[int, tuple[Response, np.ndarray | None]] = OrderedDict()
UNIT_ROWS_KEPT = 1 << 15


def _unit_row(response: Response) -> np.ndarray | None:
    cached = _UNIT_ROWS.get(id(response))
    if cached is not None and cached[0] is response:
        _UNIT_ROWS.move_to_end(id(response))
        return cached[1]
    values = np.asarray(response.embedding, dtype=np.float64)
    norm = float(np.linalg.norm(values))
    row = values / norm if math.isfinite(norm) and norm > 0 else None
    _UNIT_ROWS[id(response)] = (response, row)
    if len(_UNIT_ROWS) > UNIT_ROWS_KEPT:
        _UNIT_ROWS.popitem(last=False)
    return row


# A pool shared by every query (M-BEIR) is one list object: its matrix is gathered once.
_REPLAYED_POOLS: OrderedDict[int, tuple[list[Any], CandidateVectors, np.ndarray]] = OrderedDict()


def _replayed_matrix(pairs: list[Any], known: CandidateVectors) -> np.ndarray:
    cached = _REPLAYED_POOLS.get(id(pairs))
    if cached is not None and cached[0] is pairs and cached[1] is known:
        return cached[2]
    rows = []
    for text, image in pairs:
        row = known.index.get((str(text), str(image)))
        if row is None:
            raise ReplayError(f"candidate {(text, image)!r} has no vector in {known.origin}")
        rows.append(row)
    # float64 as a live run's rows; a large pool stays float32 (its size in memory, once)
    matrix = known.matrix[rows] if len(rows) > LARGE_LIST else known.matrix[rows].astype(np.float64)
    _REPLAYED_POOLS[id(pairs)] = (pairs, known, matrix)
    if len(_REPLAYED_POOLS) > 4:
        _REPLAYED_POOLS.popitem(last=False)
    return matrix


@inferencers.register("embed_candidates")
class EmbedCandidates(Inferencer):
    """The query (the instruction's messages) and each of its own candidates embedded, scored by
    cosine. Candidates come from ``sample.metadata["candidates"]`` (``[text, image path]`` pairs,
    the positive first) with images under ``sample.metadata["image_root"]``; identical candidates
    are one request (the runner de-duplicates and caches by content hash), so a class list shared
    by every query of a dataset is embedded once. The prediction's ``answer`` is the argmax index;
    ``details`` keeps the top of the ranking (``rank_scores``)."""

    # For a dual encoder (CLIP, SigLIP), which embeds a text or an image, not both: a query or
    # candidate with an image is embedded from its image alone (instructions are dropped).
    image_alone: bool = False

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        root = str(sample.metadata.get("image_root", ""))
        pairs = sample.metadata.get("candidates") or []
        if self.image_alone:
            messages = [image_alone(message) for message in messages]
        return [Request("embed", tuple(messages))] + [
            candidate_request(str(text), str(image), root, self.image_alone) for text, image in pairs
        ]

    def combine(self, sample: Sample, requests: list[Request], responses: list[Response]) -> Prediction:
        errors = [r.error for r in responses if r.error]
        if errors:
            return Prediction(text=None, error=errors[0])
        if any(not r.embedding for r in responses):
            return Prediction(text=None, error="the backend answered an embed request without a vector")
        if len({len(r.embedding or ()) for r in responses}) != 1:
            return Prediction(text=None, error="the query and candidate vectors differ in length")
        rows = [_unit_row(response) for response in responses]
        known = [row for row in rows if row is not None]
        if len(known) != len(rows):
            return Prediction(text=None, error="a vector holds NaN or infinity, or is all zeros")
        matrix = np.stack(known)
        return self._prediction(matrix[0], matrix[1:])

    @staticmethod
    def _prediction(query: np.ndarray, candidates: np.ndarray) -> Prediction:
        ranked = rank_scores(candidates @ query)
        return Prediction(
            text=str(ranked["argmax"]), answer=str(ranked["argmax"]), details=ranked, embedding=None
        )

    replay_fields: ClassVar[frozenset[str]] = frozenset({"embedding", "response"})

    def replay(self, sample: Sample, output: ReplayOutput) -> Prediction:
        """From the query's ``embedding`` (the candidates' vectors from ``--candidates FILE``), or
        from a ranking made elsewhere: ``response`` = candidate indices, best first ("3 0 1")."""
        if "response" in output.fields:
            return self._replayed_ranking(sample, output.response)
        known = _replay_candidates.get()
        if known is None:
            raise ReplayError(
                "this task ranks candidates: give their vectors with --candidates FILE "
                '(JSONL of {"text", "image", "embedding"} or .npz; see the task README)'
            )
        if not output.embedding:
            raise ReplayError('give the query\'s "embedding" (a list of numbers)')
        query = np.asarray(output.embedding, dtype=np.float64)
        if query.shape[0] != known.matrix.shape[1]:
            raise ReplayError(
                f'"embedding" has {query.shape[0]} dimensions, '
                f"the candidates in {known.origin} {known.matrix.shape[1]}"
            )
        norm = np.linalg.norm(query)
        if not np.isfinite(norm) or norm == 0:
            raise ReplayError('"embedding" holds NaN or infinity, or is all zeros')
        known.used = True
        pairs = sample.metadata.get("candidates") or []
        return self._prediction(query / norm, _replayed_matrix(pairs, known))

    @staticmethod
    def _replayed_ranking(sample: Sample, response: str | None) -> Prediction:
        count = len(sample.metadata.get("candidates") or [])
        words = (response or "").replace(",", " ").split()
        if not words or not all(word.isdigit() and int(word) < count for word in words):
            raise ReplayError(
                f'"response" must be candidate indices (0 to {count - 1}), best first, e.g. "0" or "3 0 1"'
            )
        top = [int(word) for word in words][:TOP_KEPT]
        if len(set(top)) != len(top):
            raise ReplayError('"response" names a candidate twice')
        details = {"argmax": top[0], "top": top, "top_stable": top}
        return Prediction(text=response, answer=str(top[0]), details=details)
