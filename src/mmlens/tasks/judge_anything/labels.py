"""The human labels (``Preference/Human_Pairing.json``, ``Preference/Human_Scoring.json`` of HF
``pudashi/JudgeAnything``). Their published layout could not be read (the repository holds them
as large-file objects that are not in its git history and no public code reads them), so this
layout is mmlens's reconstruction, shaped like the official judge outputs
(``gen_batch_api_judge.py``) so that a file in either form reads. A JSON list or JSON Lines of
objects, each with ``uniq_id`` and:

- pair comparison: ``response_ids: [first, second]`` (JudgeAnything.json ``response_id`` s, in
  the order shown) or ``model_pair: "<model_name>_vs_<model_name>"`` (the official key); a pair
  given the other way round has its choices mirrored (0 <-> 2);
- score evaluation: ``response_id`` or ``model_name``;

and the labels, wide (``overall_choice``, ``relevance_choice``, ... / ``overall_score``, ...) or
long, one rubric a row (``rubric_name``: ``overall_score`` or a rubric name, and ``choice`` /
``score``). A choice is "0", "1" or "2" (or 0, 1, 2); a score any finite number (a mean of
annotators may be 3.5). The same label given twice with different values is an error naming both
rows; a label for a pair or response that is not a sample is not used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmlens.core.errors import DataError
from mmlens.tasks.judge_anything.files import read_rows, text_field
from mmlens.tasks.judge_anything.parsing import CHOICES
from mmlens.tasks.judge_anything.prompts import OVERALL, RUBRICS, Mode, value_key

ALL_RUBRICS = (OVERALL, *RUBRICS)
RUBRIC_NAMES = {"overall_score": OVERALL, OVERALL: OVERALL, **{rubric: rubric for rubric in RUBRICS}}
MIRRORED = {"0": "2", "1": "1", "2": "0"}

# A label's key: ("ids", uniq_id, first response_id[, second]) or ("name", uniq_id, model_pair | model_name).
LabelKey = tuple[str, ...]


@dataclass
class HumanLabels:
    mode: Mode
    path: Path
    by_key: dict[LabelKey, dict[str, str | float]] = field(default_factory=dict)
    where: dict[tuple[LabelKey, str], str] = field(default_factory=dict)

    def add(self, key: LabelKey, rubric: str, value: str | float, where: str) -> None:
        labels = self.by_key.setdefault(key, {})
        if rubric in labels and labels[rubric] != value:
            raise DataError(
                f"{where}: {rubric} is {value!r}, but {self.where[(key, rubric)]} gave {labels[rubric]!r} "
                "for the same one"
            )
        labels[rubric] = value
        self.where.setdefault((key, rubric), where)

    def for_pair(self, uniq_id: str, first: str, second: str, model_pair: str) -> dict[str, str | float]:
        """The pair's labels, in its own order (a pair labelled the other way round is mirrored)."""
        labels = dict(self.by_key.get(("name", uniq_id, model_pair), {}))
        stored = self.by_key.get(("ids", uniq_id, *sorted((first, second))), {})
        flip = first > second  # pairs by response_ids are kept in sorted order (see ``read_labels``)
        labels.update({rubric: MIRRORED[str(v)] if flip else v for rubric, v in stored.items()})
        return labels

    def for_response(self, uniq_id: str, response_id: str, model_name: str) -> dict[str, str | float]:
        labels = dict(self.by_key.get(("name", uniq_id, model_name), {}))
        labels.update(self.by_key.get(("ids", uniq_id, response_id), {}))
        return labels


def _value(mode: Mode, raw: Any, name: str, where: str) -> str | float:
    if mode == "pair":
        if isinstance(raw, int) and not isinstance(raw, bool) and str(raw) in CHOICES:
            return str(raw)
        if isinstance(raw, str) and raw in CHOICES:
            return raw
        raise DataError(f'{where}: {name} must be "0", "1" or "2" (got {raw!r})')
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        return float(raw)
    raise DataError(f"{where}: {name} must be a finite number (got {raw!r})")


def _key(mode: Mode, row: dict[str, Any], where: str) -> LabelKey:
    uniq_id = text_field(row, "uniq_id", where)
    if mode == "pair":
        ids = row.get("response_ids")
        if ids is not None:
            if not (isinstance(ids, list) and len(ids) == 2 and all(isinstance(i, str) and i for i in ids)):
                raise DataError(f"{where}: response_ids must be [first response_id, second response_id]")
            return ("ids", uniq_id, ids[0], ids[1])
        if "model_pair" in row:
            return ("name", uniq_id, text_field(row, "model_pair", where))
        raise DataError(f"{where}: a pair label needs response_ids [first, second] or model_pair")
    if "response_id" in row:
        return ("ids", uniq_id, text_field(row, "response_id", where))
    if "model_name" in row:
        return ("name", uniq_id, text_field(row, "model_name", where))
    raise DataError(f"{where}: a score label needs response_id or model_name")


def read_labels(path: Path, mode: Mode) -> HumanLabels:
    labels = HumanLabels(mode, path)
    single = "choice" if mode == "pair" else "score"
    for where, row in read_rows(path, "human label file"):
        key = _key(mode, row, where)
        reversed_pair = mode == "pair" and key[0] == "ids" and key[2] > key[3]
        if reversed_pair:  # one key per pair whichever way round it is given: conflicts are seen
            key = (key[0], key[1], key[3], key[2])

        def oriented(value: str | float, flip: bool = reversed_pair) -> str | float:
            return MIRRORED[str(value)] if flip else value

        found = 0
        if "rubric_name" in row:
            rubric = RUBRIC_NAMES.get(str(row["rubric_name"]))
            if rubric is None:
                known = ", ".join(RUBRIC_NAMES)
                raise DataError(f"{where}: rubric_name {row['rubric_name']!r} is not one of {known}")
            if single not in row:
                raise DataError(f"{where}: a row with rubric_name needs {single!r}")
            labels.add(key, rubric, oriented(_value(mode, row[single], single, where)), where)
            found += 1
        for rubric in ALL_RUBRICS:
            name = value_key(mode, rubric)
            if name in row and row[name] is not None:
                labels.add(key, rubric, oriented(_value(mode, row[name], name, where)), where)
                found += 1
        if not found:
            raise DataError(
                f"{where}: no label: expected {value_key(mode, OVERALL)!r}, "
                f"{value_key(mode, RUBRICS[0])!r}, ... or rubric_name with {single!r}"
            )
    return labels
