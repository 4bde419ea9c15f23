"""MMEB (TIGER-Lab/MMEB-eval) read in its published layout.

``--data DIR`` is a copy of the hub repository: ``DIR/<dataset>/test-*.parquet`` (one folder per
config, as the hub stores them; a ``.jsonl`` of the same rows is read too) and the images of
``images.zip`` unpacked under ``DIR/<image_dir>`` (``qry_img_path`` and ``tgt_img_path`` are
relative to it). Row: ``qry_text``, ``qry_img_path`` ("" for a text query), ``tgt_text`` (list),
``tgt_img_path`` (list, "" for a text candidate); the positive is candidate 0.
Sample id: ``<dataset>/<row number>`` (0-based, file order).

``layout: v2`` reads MMEB V2's image part (``ziyjiang/MMEB_Test_Instruct``, the same folder per
dataset, images under ``image-tasks/``): rows with ``qry_inst`` and ``tgt_inst`` beside the texts,
turned into queries and candidates as VLM2Vec V2 does (``v2.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from mmlens.core.errors import DataError
from mmlens.core.messages import Message
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.inferencers.embed import candidate_message
from mmlens.tasks.mmeb import v2
from mmlens.tasks.mmeb.datasets import DATASETS, META_TASK_OF, OUT_OF_DISTRIBUTION

COLUMNS = ("qry_text", "qry_img_path", "tgt_text", "tgt_img_path")
V2_NEEDS = {  # the columns each V2 parser reads
    "image_cls": ("qry_inst", "qry_text", "qry_img_path", "tgt_text"),
    "image_i2t": ("qry_inst", "qry_text", "qry_img_path", "tgt_text"),
    "image_qa": ("qry_inst", "qry_text", "qry_img_path", "tgt_text"),
    "image_t2i": ("qry_inst", "qry_text", "tgt_inst", "tgt_text", "tgt_img_path"),
    "image_i2i_vg": ("qry_inst", "qry_text", "qry_img_path", "tgt_inst", "tgt_text", "tgt_img_path"),
}


def dataset_rows(folder: Path, columns: tuple[str, ...] = COLUMNS) -> Iterator[dict[str, Any]]:
    """The rows of one dataset folder: its parquet shards in name order, else a rows.jsonl."""
    shards = sorted(folder.glob("*.parquet"))
    if shards:
        import pyarrow.parquet as pq

        for shard in shards:
            table = pq.read_table(shard)
            missing = [c for c in columns if c not in table.column_names]
            if missing:
                raise DataError(
                    f"{shard}: columns {missing} are missing (these MMEB rows need {list(columns)})"
                )
            yield from table.select(list(columns)).to_pylist()
        return
    for file in sorted(folder.glob("*.jsonl")):
        with file.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as error:
                        raise DataError(f"{file}, line {number}: not JSON ({error.msg})") from None
        return
    raise DataError(f"{folder}: no test-*.parquet (or .jsonl) file")


@scenarios.register("mmeb")
class MMEBScenario(Scenario):
    """Fields: ``image_dir`` (where images.zip is unpacked, relative to --data), ``datasets``
    (a subset of the 36, default all: the overall mean is over the datasets read), ``layout``
    (``v1``: TIGER-Lab/MMEB-eval rows embedded as written; ``v2``: MMEB_Test_Instruct rows built
    as VLM2Vec V2 builds them)."""

    id_scheme = '"<dataset>/<row number>", e.g. "ImageNet-1K/0" (0-based, in file order)'
    image_dir: str = "eval_images"
    datasets: tuple[str, ...] = DATASETS
    layout: Literal["v1", "v2"] = "v1"

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        if context.data_path is None:
            raise DataError(
                f"task {context.task_name}: give --data DIR, a copy of TIGER-Lab/MMEB-eval "
                "(DIR/<dataset>/test-*.parquet, images.zip unpacked in DIR/eval_images)"
            )
        root = Path(context.data_path)
        unknown = [name for name in self.datasets if name not in META_TASK_OF]
        if unknown:
            raise DataError(
                f"task {context.task_name}: unknown MMEB datasets {unknown} (known: {list(DATASETS)})"
            )
        missing = [name for name in self.datasets if not (root / name).is_dir()]
        if missing:
            raise DataError(
                f"{root}: no folder for MMEB datasets {missing}; give a full copy or name the ones "
                "you have in the task's scenario.datasets"
            )
        images = root / self.image_dir
        seen: dict[str, bool] = {}  # image path -> exists (a class list's images are checked once)

        def exists(path: str) -> bool:
            if path not in seen:
                seen[path] = (images / path).is_file()
            return seen[path]

        for name in self.datasets:
            names = v2.CandidateNames()  # V2: a dataset's candidates by name, the first kept
            parser = v2.PARSER_OF[name]
            columns = V2_NEEDS[parser] if self.layout == "v2" else COLUMNS
            for number, row in enumerate(dataset_rows(root / name, columns)):
                sample_id = f"{name}/{number}"
                if self.layout == "v2":
                    problem = self._v2_problem(row, parser)
                    parsed = v2.PARSERS[parser](row, name) if problem is None else None
                    if parsed is not None:
                        paths = [parsed.query_image, *(image for _, image in parsed.candidates)]
                        problem = next(
                            (f"image {p} is not in the image folder" for p in paths if p and not exists(p)),
                            None,
                        )
                else:
                    problem, parsed = self._problem(row, exists), None
                if problem is not None:
                    yield BadSample(sample_id, f"{root / name} row {number}: {problem}")
                    continue
                if parsed is not None:
                    query = candidate_message(parsed.query_text, parsed.query_image, str(images))
                    candidates = names.resolve(parsed)
                else:
                    query = candidate_message(row["qry_text"], row["qry_img_path"] or "", str(images))
                    candidates = [
                        [text, image or ""]
                        for text, image in zip(row["tgt_text"], row["tgt_img_path"], strict=True)
                    ]
                split = "ood" if name in OUT_OF_DISTRIBUTION else "ind"
                yield Sample(
                    id=sample_id,
                    messages=[Message(query.role, query.content)],
                    target="0",  # the positive is always candidate 0
                    category=(META_TASK_OF[name], name),
                    metadata={"candidates": candidates, "image_root": str(images), "split": split},
                )

    @staticmethod
    def _v2_problem(row: dict[str, Any], parser: str) -> str | None:
        for column in V2_NEEDS[parser]:
            value = row.get(column)
            if column.startswith("tgt_t") or column == "tgt_img_path":
                if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
                    return f"{column} must be a non-empty list of strings"
            elif not isinstance(value, str) and not (
                column in ("qry_text", "qry_img_path") and value is None
            ):
                return f"{column} is not a string"
        if "tgt_img_path" in V2_NEEDS[parser] and len(row["tgt_text"]) != len(row["tgt_img_path"]):
            return f"{len(row['tgt_text'])} tgt_text but {len(row['tgt_img_path'])} tgt_img_path"
        if parser != "image_t2i" and not row.get("qry_img_path"):
            return "qry_img_path is empty (this dataset's queries have an image)"
        return None

    @staticmethod
    def _problem(row: dict[str, Any], exists: Any) -> str | None:
        if not isinstance(row.get("qry_text"), str):
            return "qry_text is not a string"
        texts, paths = row.get("tgt_text"), row.get("tgt_img_path")
        if not isinstance(texts, list) or not isinstance(paths, list) or not texts:
            return "tgt_text and tgt_img_path must be non-empty lists"
        if len(texts) != len(paths):
            return f"{len(texts)} tgt_text but {len(paths)} tgt_img_path"
        for path in [row.get("qry_img_path") or "", *[p or "" for p in paths]]:
            if path and not exists(path):
                return f"image {path} is not in the image folder"
        return None
