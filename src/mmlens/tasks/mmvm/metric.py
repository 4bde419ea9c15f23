"""MMVM's MMatch scorer (zhouyiks/MMVMEvalKit@34ecca27, CrossImageMatchDataset).

Extraction is ``can_infer`` under ``exact_matching`` as the fork has it (``matching.py``: older than
upstream VLMEvalKit's): an option letter, else the one option text the response contains, else "Z"
(wrong). hit = the
letter equals ``answer``. Overall = mean(hit) over all questions (0-1). Per match type CL, SP, TM,
SZ, RP, OO, BR, OM (ids 1-8): a question counts in every type its ``match_type`` lists; a cell
that ``eval()`` cannot read counts as [1, 5], an id outside 1-8 as 2 (the official quirks).
"""

from __future__ import annotations

from mmlens.core.parts import Aggregate, Extraction, Metric, Prediction, SampleRecord, metrics
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import mean_aggregate, mean_metrics
from mmlens.tasks.mmvm.matching import can_infer

MATCH_TYPES = {1: "CL", 2: "SP", 3: "TM", 4: "SZ", 5: "RP", 6: "OO", 7: "BR", 8: "OM"}


def match_type_names(cell: str) -> list[str]:
    """The match types a question counts in, with the official eval() failure and unknown-id rules."""
    try:
        value = eval(cell, {"__builtins__": {}}, {})  # noqa: S307 - the official code eval()s the cell
    except Exception:  # noqa: BLE001 - any failure is the official [1, 5]
        value = [1, 5]
    ids = list(value) if isinstance(value, list | tuple) else [value]
    return [
        MATCH_TYPES.get(number, MATCH_TYPES[2]) if isinstance(number, int) else MATCH_TYPES[2]
        for number in ids
    ]


@metrics.register("mmvm")
class MMVMAccuracy(Metric):
    """hit per question; overall and per match type means."""

    primary = "hit"
    correct_key = "hit"

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        types = match_type_names(str(sample.metadata.get("match_type", "")))
        details: dict[str, object] = {"match_types": types}
        if prediction.text is None:
            return Extraction(None, "failed", details=details)
        choices = dict(sample.metadata.get("choices") or {})
        letter = can_infer(prediction.text, choices)
        if letter is None or letter == "Z":
            return Extraction(None, "failed", details={**details, "vlmevalkit": "Z"})
        if prediction.text.strip() == letter:
            return Extraction(letter, "exact", details=details)
        return Extraction(letter, "rule", details=details)

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        return {"hit": float(extraction.answer is not None and extraction.answer == sample.target)}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        aggregate = mean_aggregate(records, ["hit"])
        by_type: dict[str, list[SampleRecord]] = {}
        for record in records:
            for name in record.details.get("match_types", []):
                by_type.setdefault(name, []).append(record)
        for name in MATCH_TYPES.values():
            if name in by_type:
                aggregate.breakdown[f"match_type/{name}"] = mean_metrics(by_type[name], ["hit"])
        return aggregate
