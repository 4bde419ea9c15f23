"""Judge outputs written by the official scripts, as a predictions file for ``mmlens score``.

    python -m mmlens.tasks.judge_anything.official_outputs Pair_overall.json --data DATASET \\
        -o predictions.jsonl
    mmlens score judge_anything_pair --predictions predictions.jsonl --data DATASET

The official files (``{Pair,Score}_{overall,rubric,checklist}.json``, a JSON list) come in two forms:

- ``gen_batch_api_judge.py`` (Gemini): one row per rubric, ``uniq_id, task_name, model_pair |
  model_name, rubric_name, choice | score, comment``; a sample's rows become the JSON object the
  judge returned (``{"overall_choice": ..., "overall_comment": ...}``), its reply;
- ``gen_phi4_judge.py``, ``gen_qwen_judge.py``, ``gen_intern_judge.py`` (local models): one row per
  sample, ``uniq_id, task_name, model_pair | model_name, [response_id,] response``: the judge's raw
  text, kept as it is (the task's parser reads it; the scripts parse nothing).

Rows are matched to samples by ``uniq_id`` and ``model_pair`` (pair) or ``response_id`` / else
``model_name`` (score; the Gemini rows carry no response_id), as the scenario names them from
JudgeAnything.json. The task is read from the file name (``Pair_rubric.json`` ->
``judge_anything_pair_rubric``) unless ``--task`` names it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mmlens.core.errors import DataError, MmlensError
from mmlens.core.parts import LoadContext
from mmlens.core.sample import Sample
from mmlens.core.task import TaskCatalog
from mmlens.runner.plan import load_samples
from mmlens.tasks.judge_anything.files import read_rows, text_field
from mmlens.tasks.judge_anything.labels import RUBRIC_NAMES

KINDS = {"pair": "judge_anything_pair", "score": "judge_anything_score"}


def task_for(path: Path) -> str:
    """``Pair_overall.json`` -> judge_anything_pair, ``Score_rubric.json`` -> judge_anything_score_rubric."""
    kind, _, setting = path.stem.lower().partition("_")
    if kind not in KINDS or setting not in ("overall", "rubric", "checklist"):
        raise DataError(
            f"{path}: the file name is not Pair_<setting>.json or Score_<setting>.json: give --task"
        )
    return KINDS[kind] + ("" if setting == "overall" else f"_{setting}")


def sample_keys(samples: list[Sample]) -> dict[tuple[str, str], str]:
    """(uniq_id, model_pair | model_name | response_id) -> sample id."""
    keys: dict[tuple[str, str], str] = {}
    for sample in samples:
        uniq_id = sample.metadata["uniq_id"]
        if sample.metadata["mode"] == "pair":
            keys[(uniq_id, sample.metadata["model_pair"])] = sample.id
        else:
            keys[(uniq_id, sample.metadata["model_name"])] = sample.id
            keys[(uniq_id, sample.metadata["response_ids"][0])] = sample.id
    return keys


def _row_sample(row: dict[str, Any], mode: str, keys: dict[tuple[str, str], str], where: str) -> str:
    uniq_id = text_field(row, "uniq_id", where)
    if mode == "pair":
        names = [text_field(row, "model_pair", where)]
    else:
        response_id = row.get("response_id")
        names = [response_id] if isinstance(response_id, str) and response_id != "N/A" else []
        names.append(text_field(row, "model_name", where))
    for name in names:
        if (uniq_id, name) in keys:
            return keys[(uniq_id, name)]
    raise DataError(f"{where}: no sample of query {uniq_id!r} has {' or '.join(names)!r}")


def convert(path: Path, samples: list[Sample]) -> list[dict[str, str]]:
    """One ``{"id", "response"}`` per sample the file judges, in sample order."""
    if not samples:
        raise DataError("the task has no samples to match the judge outputs to")
    mode = samples[0].metadata["mode"]
    suffix = "choice" if mode == "pair" else "score"
    keys = sample_keys(samples)
    texts: dict[str, str] = {}
    objects: dict[str, dict[str, Any]] = {}
    for where, row in read_rows(path, "judge output file"):
        sample_id = _row_sample(row, mode, keys, where)
        if "response" in row:
            if not isinstance(row["response"], str):
                raise DataError(f"{where}: response must be the judge's text")
            if sample_id in texts or sample_id in objects:
                raise DataError(f"{where}: a second judgement of sample {sample_id!r}")
            texts[sample_id] = row["response"]
        elif "rubric_name" in row:
            rubric = RUBRIC_NAMES.get(str(row["rubric_name"]))
            if rubric is None:
                raise DataError(
                    f"{where}: rubric_name {row['rubric_name']!r} is not one of {', '.join(RUBRIC_NAMES)}"
                )
            if sample_id in texts:
                raise DataError(f"{where}: sample {sample_id!r} also has a raw response row")
            found = objects.setdefault(sample_id, {})
            if f"{rubric}_{suffix}" in found:
                raise DataError(f"{where}: a second {rubric} judgement of sample {sample_id!r}")
            found[f"{rubric}_{suffix}"] = row.get(suffix)
            found[f"{rubric}_comment"] = row.get("comment")
        else:
            raise DataError(f"{where}: expected response (a local judge's text) or rubric_name with {suffix}")
    replies = {**texts, **{k: json.dumps(v, ensure_ascii=False) for k, v in objects.items()}}
    return [{"id": s.id, "response": replies[s.id]} for s in samples if s.id in replies]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mmlens.tasks.judge_anything.official_outputs", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("file", type=Path, help="Pair_<setting>.json or Score_<setting>.json")
    parser.add_argument("--data", required=True, help="the pudashi/JudgeAnything dataset folder")
    parser.add_argument("--task", help="the task (default: from the file name)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the predictions JSONL to write")
    args = parser.parse_args(argv)
    try:
        task = TaskCatalog().load(args.task or task_for(args.file))
        samples, _ = load_samples(task, LoadContext(task.name, task.task_dir, args.data))
        lines = convert(args.file, samples)
    except MmlensError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.output.write_text(
        "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8"
    )
    print(f"{len(lines)} judgements of task {task.name} -> {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
