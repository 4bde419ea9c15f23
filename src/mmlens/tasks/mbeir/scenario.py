"""M-BEIR (UniIR) read in its published layout.

``--data DIR`` is the M-BEIR folder: ``query/test/mbeir_<name>_test.jsonl`` (``qid``,
``query_txt``, ``query_img_path``, ``task_id``, ...), the candidate pools
``cand_pool/local/mbeir_<name>_test_cand_pool.jsonl`` (``did``, ``txt``, ``img_path``) or the
global ``cand_pool/global/mbeir_union_test_cand_pool.jsonl``, and the qrels
``qrels/test/mbeir_<name>_test_qrels.txt`` (``qid 0 did relevance task_id``; relevance > 0 is
relevant). Image paths are relative to DIR. ``<name>`` is a dataset and task, e.g. ``mscoco_task0``.
Sample id: the query's ``qid``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from mmlens.core.errors import DataError
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.inferencers.embed import candidate_message

# The 16 test datasets in the order of UniIR's result table (mbeir_retriever.py dataset_order).
DATASETS = (
    "visualnews_task0", "mscoco_task0", "fashion200k_task0", "webqa_task1", "edis_task2",
    "webqa_task2", "visualnews_task3", "mscoco_task3", "fashion200k_task3", "nights_task4",
    "oven_task6", "infoseek_task6", "fashioniq_task7", "cirr_task7", "oven_task8", "infoseek_task8",
)  # fmt: skip

# common/data/preprocessing/utils.py::get_mbeir_task_name, by task_id.
TASK_NAMES = {
    0: "qt->ci", 1: "qt->ct", 2: "qt->(ci,ct)", 3: "qi->ct", 4: "qi->ci",
    5: "qi->(ci,ct)", 6: "(qi,qt)->ct", 7: "(qi,qt)->ci", 8: "(qi,qt)->(ci,ct)",
}  # fmt: skip


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise DataError(f"{path} does not exist (M-BEIR layout: query/, cand_pool/, qrels/)")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as error:
                    raise DataError(f"{path}, line {number}: not JSON ({error.msg})") from None


def read_qrels(path: Path) -> dict[str, list[str]]:
    """qid -> relevant dids (relevance > 0), as UniIR's load_qrel reads them."""
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    qrels: dict[str, list[str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 5 or not fields[3].lstrip("-").isdigit():
            raise DataError(f"{path}, line {number}: expected 'qid 0 did relevance task_id'")
        if int(fields[3]) > 0:
            qrels.setdefault(fields[0], []).append(fields[2])
    return qrels


@scenarios.register("mbeir")
class MBEIRScenario(Scenario):
    """Fields: ``datasets`` (default the 16 test sets), ``pool`` (``local``: each dataset's own
    pool, the paper's M-BEIR_local; ``global``: the union pool), ``split`` (``test``)."""

    id_scheme = 'the query\'s "qid", e.g. "9:1"'
    datasets: tuple[str, ...] = DATASETS
    pool: Literal["local", "global"] = "local"
    split: str = "test"

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        if context.data_path is None:
            raise DataError(
                f"task {context.task_name}: give --data DIR, the M-BEIR folder (query/, cand_pool/, qrels/)"
            )
        root = Path(context.data_path)
        pools: dict[str, tuple[list[list[str]], dict[str, int]]] = {}
        for name in self.datasets:
            pool_name = name if self.pool == "local" else "union"
            pool_file = root / "cand_pool" / self.pool / f"mbeir_{pool_name}_{self.split}_cand_pool.jsonl"
            if pool_name not in pools:
                pools[pool_name] = self._pool(pool_file)
            candidates, position = pools[pool_name]
            qrels = read_qrels(root / "qrels" / self.split / f"mbeir_{name}_{self.split}_qrels.txt")
            query_file = root / "query" / self.split / f"mbeir_{name}_{self.split}.jsonl"
            for number, row in read_jsonl(query_file):
                qid = str(row.get("qid", ""))
                where = f"{query_file}, line {number}"
                if not qid:
                    yield BadSample(f"{name}/line{number}", f"{where}: no qid")
                    continue
                relevant = qrels.get(qid)
                if not relevant:
                    yield BadSample(qid, f"{where}: query {qid} has no relevant candidate in the qrels")
                    continue
                task_id = int(row.get("task_id", name.rsplit("task", 1)[-1]))
                relevant_rows = [position[did] for did in relevant if did in position]
                query = candidate_message(
                    row.get("query_txt") or "", row.get("query_img_path") or "", str(root)
                )
                yield Sample(
                    id=qid,
                    messages=[query],
                    target=" ".join(str(r) for r in relevant_rows),  # pool rows of the relevant candidates
                    category=(TASK_NAMES.get(task_id, f"task{task_id}"), name),
                    metadata={
                        "candidates": candidates,  # the pool, shared by every query of it
                        "image_root": str(root),
                        "relevant": relevant_rows,
                        "relevant_dids": relevant,
                        "pool": pool_file.name,
                    },
                )

    @staticmethod
    def _pool(path: Path) -> tuple[list[list[str]], dict[str, int]]:
        candidates: list[list[str]] = []
        position: dict[str, int] = {}
        for number, row in read_jsonl(path):
            did = str(row.get("did", ""))
            if not did or did in position:
                raise DataError(
                    f"{path}, line {number}: {'no did' if not did else f'did {did} appears twice'}"
                )
            position[did] = len(candidates)
            candidates.append([row.get("txt") or "", row.get("img_path") or ""])
        if not candidates:
            raise DataError(f"{path}: the candidate pool is empty")
        return candidates, position
