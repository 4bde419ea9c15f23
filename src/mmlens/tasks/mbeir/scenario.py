"""M-BEIR (UniIR) read in its published layout.

``--data DIR`` is the M-BEIR folder: ``query/test/mbeir_<name>_test.jsonl`` (``qid``,
``query_txt``, ``query_img_path``, ``task_id``, ...), the candidate pools
``cand_pool/local/mbeir_<name>_test_cand_pool.jsonl`` (``did``, ``txt``, ``img_path``) or the
global ``cand_pool/global/mbeir_union_test_cand_pool.jsonl``, and the qrels
``qrels/test/mbeir_<name>_test_qrels.txt`` (``qid 0 did relevance task_id``; relevance > 0 is
relevant). Image paths are relative to DIR. ``<name>`` is a dataset and task, e.g. ``mscoco_task0``.
Sample id: the query's ``qid``. With ``query_instructions`` (the default), each query's text is
prefixed with an instruction from ``instructions/query_instructions.tsv``, as UniIR's
``MBEIRMainDataset`` does; texts are cleaned by UniIR's ``format_string``.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, overload

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


def format_string(text: str | None) -> str:
    """UniIR's ``format_string`` (``src/data/preprocessing/utils.py@98dc570``, line 110): strip,
    drop carriage returns and surrounding double quotes, capitalise the first character, end with
    a period unless it ends with ".", "?" or "!"."""
    text = (text or "").replace("\r", "").strip().strip('"')
    if text:
        text = text[0].upper() + text[1:]
        text = text + "." if text[-1] not in (".", "?", "!") else text
    return text


def read_instructions(path: Path) -> dict[str, list[str]]:
    """UniIR's ``_load_query_instructions`` (``src/data/mbeir_dataset.py@98dc570``, line 75): the
    header skipped, each row keyed ``"<dataset_id>, <query_modality>, <cand_modality>"`` (columns
    4, 1, 2), its non-empty columns from the 5th on the instructions."""
    if not path.is_file():
        raise DataError(
            f"{path} does not exist: M-BEIR's query instructions (instructions/query_instructions.tsv "
            "of TIGER-Lab/M-BEIR); for queries without instructions use --profile no_instruction"
        )
    prompts: dict[str, list[str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()[1:], 2):
        parts = line.strip().split("\t")
        if not line.strip():
            continue
        if len(parts) < 5:
            raise DataError(
                f"{path}, line {number}: expected query_modality, cand_modality, name, id, prompts"
            )
        prompts[f"{parts[3]}, {parts[0]}, {parts[1]}"] = [p for p in parts[4:] if p]
    return prompts


class CandidatePool(Sequence[tuple[str, str]]):
    """One candidate pool file, shared by every query of it: ``(txt, img_path)`` per row as the file
    writes them (the key of vectors made elsewhere); ``embedded_pair`` is what is embedded (the text
    through ``format_string``, as UniIR's ``MBEIRCandidatePoolDataset``). Its ``str`` names the
    file and its content digest, so the dataset fingerprint holds one line per query, not the pool."""

    def __init__(self, path: Path, texts: list[str], images: list[str], modalities: list[str], digest: str):
        self.origin = str(path)
        self.texts, self.images, self.modalities, self.digest = texts, images, modalities, digest

    def __len__(self) -> int:
        return len(self.texts)

    @overload
    def __getitem__(self, index: int) -> tuple[str, str]: ...
    @overload
    def __getitem__(self, index: slice) -> list[tuple[str, str]]: ...
    def __getitem__(self, index: int | slice) -> tuple[str, str] | list[tuple[str, str]]:
        if isinstance(index, slice):
            return list(zip(self.texts[index], self.images[index], strict=True))
        return self.texts[index], self.images[index]

    def embedded_pair(self, index: int) -> tuple[str, str]:
        return format_string(self.texts[index]), self.images[index]

    def __str__(self) -> str:
        return f"{Path(self.origin).name} ({len(self)} candidates, sha256 {self.digest})"

    __repr__ = __str__


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
    pool, the paper's M-BEIR_local; ``global``: the union pool), ``split`` (``test``),
    ``query_instructions`` (prefix UniIR's instruction to each query, for instruction-tuned
    retrievers; off for zero-shot models), ``instruction_seed`` (the instruction drawn per query:
    ``random.Random(f"{seed}:{qid}")``; 2023 is UniIR's config seed)."""

    id_scheme = 'the query\'s "qid", e.g. "9:1"'
    datasets: tuple[str, ...] = DATASETS
    pool: Literal["local", "global"] = "local"
    split: str = "test"
    query_instructions: bool = True
    instruction_seed: int = 2023

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        if context.data_path is None:
            raise DataError(
                f"task {context.task_name}: give --data DIR, the M-BEIR folder (query/, cand_pool/, qrels/)"
            )
        root = Path(context.data_path)
        prompts = (
            read_instructions(root / "instructions" / "query_instructions.tsv")
            if self.query_instructions
            else {}
        )
        pools: dict[str, tuple[CandidatePool, dict[str, int]]] = {}
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
                text = format_string(row.get("query_txt"))
                instruction = None
                if self.query_instructions:
                    instruction = self._instruction(row, qid, candidates, position, relevant, prompts)
                    if instruction.startswith("!"):
                        yield BadSample(qid, f"{where}: {instruction[1:]}")
                        continue
                    text = format_string(f"{instruction} {row.get('query_txt') or ''}")
                query = candidate_message(text, row.get("query_img_path") or "", str(root))
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
                        "instruction": instruction,
                    },
                )

    def _instruction(
        self,
        row: dict[str, Any],
        qid: str,
        pool: CandidatePool,
        position: dict[str, int],
        relevant: list[str],
        prompts: dict[str, list[str]],
    ) -> str:
        """The query's instruction as UniIR's MBEIRMainDataset.__getitem__ (eval mode) draws it: a
        positive from ``pos_cand_list`` of the query's own dataset (random.choice), its modality
        and the query's keying the instructions, then random.choice among them. The draws here
        are seeded per query; UniIR's follow its DataLoader workers' seeds (seed 2023 + rank,
        5 workers, the batch order), so the instruction each query gets is not reproduced, only
        how it is chosen. A reason starting with "!" when the row cannot be keyed."""
        dataset_id = qid.split(":")[0]
        positives = [
            str(d) for d in row.get("pos_cand_list") or relevant if str(d).split(":")[0] == dataset_id
        ]
        known = [d for d in positives if d in position]
        if not known:
            return f"!no positive candidate of dataset {dataset_id} in the pool to key the instruction"
        rng = random.Random(f"{self.instruction_seed}:{qid}")
        positive = rng.choice(known)
        key = f"{dataset_id}, {row.get('query_modality')}, {pool.modalities[position[positive]]}"
        choices = prompts.get(key)
        if not choices:
            return f"!instructions/query_instructions.tsv has no instruction for {key!r}"
        return format_string(rng.choice(choices))

    @staticmethod
    def _pool(path: Path) -> tuple[CandidatePool, dict[str, int]]:
        texts: list[str] = []
        images: list[str] = []
        modalities: list[str] = []
        position: dict[str, int] = {}
        digest = hashlib.sha256()
        if path.is_file():
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        for number, row in read_jsonl(path):
            did = str(row.get("did", ""))
            if not did or did in position:
                raise DataError(
                    f"{path}, line {number}: {'no did' if not did else f'did {did} appears twice'}"
                )
            position[did] = len(texts)
            texts.append(row.get("txt") or "")
            images.append(row.get("img_path") or "")
            modalities.append(sys.intern(str(row.get("modality"))))
        if not texts:
            raise DataError(f"{path}: the candidate pool is empty")
        return CandidatePool(path, texts, images, modalities, digest.hexdigest()[:16]), position
