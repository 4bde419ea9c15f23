"""Pool-level ranking: many queries against one shared candidate pool (M-BEIR's 40K-5.6M).

``embed_pool`` embeds every pool candidate once, then ranks each query against the whole pool,
without holding the pool's requests in every query's plan:

- Round 1: every query sends its own embed request and nothing else.
- Then one query of the pool (whichever asks first) sends the pool's candidates in chunks of
  ``pool_chunk`` (``SharedRequests``: de-duplicated, cached by content hash and committed like
  any request, so a killed run resumes chunk by chunk, and a rerun embeds nothing), one chunk a
  round, writing the vectors into one float32 matrix; the other queries wait (``WAIT``). If a
  chunk's request fails, the pool fails (``release``): every query of it gets that error, and a
  rerun resumes from the chunks already stored.
- Once the matrix is full, the first query to ask ranks every waiting query in one vectorised pass
  (``pool_top_k``), and each takes its own top ``TOP_KEPT``.

Scores are inner products of L2-normalised float32 vectors (cosine), as UniIR's FAISS
``IndexFlatIP`` over ``faiss.normalize_L2``-ed embeddings
(``TIGER-AI-Lab/UniIR@98dc570:src/common/mbeir_retriever.py``, ``create_index``/``search_index``).
Order: higher score first, equal scores by lower pool row (file order). FAISS has no rule among
exactly equal scores (UniIR's GPU-sharded index, ``index_cpu_to_all_gpus`` with ``co.shard``,
promises none; faiss-cpu 1.15.1's heap returns them by descending id and keeps a scan-dependent
subset of those tied at the k-th place), so exact parity there is not guaranteed; without ties
the top k equals faiss-cpu's (checked: see the M-BEIR README), up to float32 rounding of
near-ties.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import Field

from mmlens.core.messages import Message
from mmlens.core.parts import Prediction, Rounds, inferencers
from mmlens.core.requests import Request, Response
from mmlens.core.sample import Sample
from mmlens.inferencers.embed import TOP_KEPT, EmbedCandidates, candidate_message, image_alone
from mmlens.runner.rounds import WAIT, SharedRequests

SCORE_BYTES = 9  # per score held while ranking: the float32 block, its partition copy, a mask


def pool_top_k(
    queries: np.ndarray, pool: np.ndarray, k: int, memory_bytes: int = 256 << 20
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's top ``k`` pool rows by inner product: ``(indices, scores)``, both (nq, k), best
    first, equal scores by lower row. ``queries`` (nq, d) and ``pool`` (n, d) float32. Blocks of
    queries x pool rows keep the scores held at once to about ``memory_bytes`` (never a full
    nq x n matrix when that would not fit); ties at the k-th score are resolved exactly."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    pool = np.ascontiguousarray(pool, dtype=np.float32)
    nq, n = queries.shape[0], pool.shape[0]
    k = min(k, n)
    best_idx = np.zeros((nq, k), dtype=np.int64)
    best_score = np.zeros((nq, k), dtype=np.float32)
    if nq == 0 or k == 0:
        return best_idx, best_score
    cells = max(memory_bytes // SCORE_BYTES, k * 2)
    q_block = int(max(1, min(nq, 1024, cells // max(k, min(n, 4096)))))
    p_block = int(max(k, min(n, cells // q_block)))
    for q0 in range(0, nq, q_block):
        q1 = min(q0 + q_block, nq)
        run_idx: np.ndarray | None = None
        run_score: np.ndarray | None = None
        for p0 in range(0, n, p_block):
            p1 = min(p0 + p_block, n)
            idx, score = _block_top(queries[q0:q1] @ pool[p0:p1].T, k)
            idx += p0
            if run_idx is None or run_score is None:
                run_idx, run_score = idx, score
                continue
            # earlier blocks hold lower rows: lexsort by (score desc, row asc) keeps ties in pool order
            both_idx = np.concatenate([run_idx, idx], axis=1)
            both_score = np.concatenate([run_score, score], axis=1)
            order = np.lexsort((both_idx, -both_score), axis=-1)[:, :k]
            run_idx = np.take_along_axis(both_idx, order, axis=1)
            run_score = np.take_along_axis(both_score, order, axis=1)
        assert run_idx is not None and run_score is not None
        best_idx[q0:q1], best_score[q0:q1] = run_idx, run_score
    return best_idx, best_score


def _block_top(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The top ``k`` of each row of one block, best first, equal scores by lower column: the
    scores at or above each row's k-th largest (all tied ones), sorted by (score desc, column),
    then the first k of each row."""
    rows, width = scores.shape
    if width <= k:
        order = np.lexsort((np.broadcast_to(np.arange(width), scores.shape), -scores), axis=-1)
        return order.astype(np.int64), np.take_along_axis(scores, order, axis=1)
    threshold = np.partition(scores, width - k, axis=1)[:, width - k]
    row, col = np.nonzero(scores >= threshold[:, None])  # row-major: columns ascending per row
    values = scores[row, col]
    order = np.lexsort((col, -values, row))
    row, col, values = row[order], col[order], values[order]
    starts = np.searchsorted(row, np.arange(rows))
    rank = np.arange(row.shape[0]) - starts[row]
    keep = rank < k
    idx = np.empty((rows, k), dtype=np.int64)
    top = np.empty((rows, k), dtype=np.float32)
    idx[row[keep], rank[keep]] = col[keep]
    top[row[keep], rank[keep]] = values[keep]
    return idx, top


def unit_vector(response: Response) -> tuple[np.ndarray | None, str | None]:
    """The response's vector L2-normalised as float32 (FAISS's normalize_L2), or why not."""
    if not response.embedding:
        return None, "the backend answered an embed request without a vector"
    values = np.asarray(response.embedding, dtype=np.float64)
    norm = float(np.linalg.norm(values))
    if not math.isfinite(norm) or norm == 0:
        return None, "a vector holds NaN or infinity, or is all zeros"
    return (values / norm).astype(np.float32), None


@dataclass
class PoolState:
    """One candidate pool being embedded and ranked against, shared by the queries that use it."""

    pairs: Sequence[Any]
    root: str
    alone: bool
    chunk: int
    memory_bytes: int
    members: int = 0
    matrix: np.ndarray | None = None
    done: set[int] = field(default_factory=set)
    claims: dict[int, object] = field(default_factory=dict)
    failed: str | None = None
    waiting: dict[object, np.ndarray] = field(default_factory=dict)
    ranked: dict[object, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def chunks(self) -> int:
        return -(-len(self.pairs) // self.chunk)

    @property
    def complete(self) -> bool:
        return len(self.done) == self.chunks

    def claim(self, token: object) -> int | None:
        """The next chunk for ``token`` to send, when none is out (one chunk a round) and some is
        left; None otherwise."""
        if self.failed is not None or self.claims:
            return None
        for number in range(self.chunks):
            if number not in self.done:
                self.claims[number] = token
                return number
        return None

    def requests(self, number: int) -> SharedRequests:
        start, stop = number * self.chunk, min((number + 1) * self.chunk, len(self.pairs))
        embedded = getattr(self.pairs, "embedded_pair", None)  # the text as the benchmark embeds it
        out = SharedRequests()
        for row in range(start, stop):
            text, image = embedded(row) if embedded is not None else self.pairs[row]
            message = candidate_message(str(text), str(image), self.root)
            out.append(Request("embed", (image_alone(message) if self.alone else message,)))
        return out

    def take(self, number: int, responses: list[Response]) -> str | None:
        """Write a chunk's vectors into the pool matrix; the reason if they cannot be used."""
        self.claims.pop(number, None)
        start = number * self.chunk
        for offset, response in enumerate(responses):
            vector, error = unit_vector(response)
            if vector is None:
                return self.fail(f"pool candidate row {start + offset} ({self._where()}): {error}")
            if self.matrix is None:
                self.matrix = np.zeros((len(self.pairs), vector.shape[0]), dtype=np.float32)
            if vector.shape[0] != self.matrix.shape[1]:
                return self.fail(
                    f"pool candidate row {start + offset} ({self._where()}): {vector.shape[0]} dimensions, "
                    f"the pool's first vector {self.matrix.shape[1]}"
                )
            self.matrix[start + offset] = vector
        self.done.add(number)
        return None

    def release(self, token: object, number: int | None) -> None:
        """``token``'s flow ended while its chunk ``number`` was out: the runner ends a flow there
        only on a failed request, so the pool fails (a retry would fail again)."""
        if number is None or self.claims.get(number) is not token:
            return
        del self.claims[number]
        self.fail(
            f"an embed request of the pool's rows {number * self.chunk}-"
            f"{min((number + 1) * self.chunk, len(self.pairs)) - 1} ({self._where()}) failed; "
            "the sample that sent them has the error"
        )

    def fail(self, reason: str) -> str:
        self.failed = self.failed or reason
        return self.failed

    def result(self, token: object) -> tuple[np.ndarray, np.ndarray] | str:
        """``token``'s ranking (ranking every waiting query at once on the first call)."""
        if token not in self.ranked:
            assert self.matrix is not None
            width = self.matrix.shape[1]
            tokens = [t for t, v in self.waiting.items() if v.shape[0] == width]
            if token not in tokens:
                vector = self.waiting.pop(token)
                return f"the query vector has {vector.shape[0]} dimensions, the pool's {width}"
            if tokens:
                queries = np.stack([self.waiting.pop(t) for t in tokens])
                idx, scores = pool_top_k(queries, self.matrix, TOP_KEPT, self.memory_bytes)
                for row, t in enumerate(tokens):
                    self.ranked[t] = (idx[row], scores[row])
        return self.ranked.pop(token)

    def _where(self) -> str:
        return str(getattr(self.pairs, "origin", f"a pool of {len(self.pairs)}"))


class _Pools(threading.local):
    """The pools of the run this thread drives (a run's flows are driven in one thread)."""

    def __init__(self) -> None:
        self.states: dict[tuple[int, str, bool], PoolState] = {}


_POOLS = _Pools()


@inferencers.register("embed_pool")
class EmbedPool(EmbedCandidates):
    """The query (the instruction's messages) ranked against a candidate pool shared by many
    queries (``sample.metadata["candidates"]``: one sequence object of ``(text, image)`` pairs for
    every query of the pool; images under ``sample.metadata["image_root"]``). The pool is embedded
    once, in chunks of ``pool_chunk`` candidates, and ranked with ``pool_top_k`` in blocks of about
    ``ranking_memory_mb``. The prediction's ``details`` keep the top ``TOP_KEPT`` rows
    (``top_stable``, ``top``) and scores. Replays (``mmlens score``) are those of
    ``embed_candidates``."""

    pool_chunk: int = Field(16384, ge=1)
    ranking_memory_mb: int = Field(256, ge=1)

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        """The query's own request (the pool's go out in shared rounds)."""
        if self.image_alone:
            messages = [image_alone(message) for message in messages]
        return [Request("embed", tuple(messages))]

    def rounds(self, sample: Sample, messages: list[Message]) -> Rounds[Prediction]:
        pairs = sample.metadata.get("candidates") or []
        if not len(pairs):
            return Prediction(text=None, error="the sample has no candidate pool")
        state = self._join(pairs, str(sample.metadata.get("image_root", "")))
        token = object()
        holding: int | None = None
        try:
            responses = yield self.plan(sample, messages)
            vector, error = unit_vector(responses[0])
            if vector is None:
                return Prediction(text=None, error=error)
            state.waiting[token] = vector
            waited = False  # a round has passed since this query put its vector in
            while True:
                holding = state.claim(token)
                if holding is not None:
                    responses = yield state.requests(holding)
                    error, holding, waited = state.take(holding, responses), None, True
                    if error is not None:
                        return Prediction(text=None, error=error)
                    continue
                if state.failed is not None:
                    return Prediction(text=None, error=state.failed)
                if state.complete and waited:
                    # every query of the pool put its vector in during round 1: all ranked at once
                    result = state.result(token)
                    if isinstance(result, str):
                        return Prediction(text=None, error=result)
                    return self._ranked(*result)
                yield WAIT
                waited = True
        finally:
            state.release(token, holding)
            state.waiting.pop(token, None)
            state.members -= 1
            if state.members <= 0:
                _POOLS.states.pop((id(pairs), state.root, state.alone), None)

    def _join(self, pairs: Sequence[Any], root: str) -> PoolState:
        key = (id(pairs), root, self.image_alone)
        state = _POOLS.states.get(key)
        if state is None or state.pairs is not pairs:
            state = PoolState(pairs, root, self.image_alone, self.pool_chunk, self.ranking_memory_mb << 20)
            _POOLS.states[key] = state
        state.members += 1
        return state

    @staticmethod
    def _ranked(indices: np.ndarray, scores: np.ndarray) -> Prediction:
        top = [int(i) for i in indices]
        details = {
            "argmax": top[0],
            "top": top,
            "top_stable": top,
            "top_scores": [round(float(s), 6) for s in scores],
            "best_score": float(scores[0]),
        }
        return Prediction(text=str(top[0]), answer=str(top[0]), details=details)


__all__ = ["EmbedPool", "PoolState", "pool_top_k", "unit_vector"]
