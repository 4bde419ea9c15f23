"""The questions as published, once each: ChEF scores calibration and instruction following on
"the first occurrence of each ``id % 1e6``" (MMBench's circular copies share that remainder).

mmlens generalises that to sample ids: a record's *base id* is the question it was made from, the
``circular`` transform's ``of`` for its rotated passes, the ``group`` of a benchmark's own published
rotations (MMBench, whose ids are ``index + k*1000000`` exactly as ChEF's), and otherwise its own id.
The first record of each base id, in the order the records come (the order the scenario yields
the samples), is kept.
"""

from __future__ import annotations

from mmlens.core.results import SampleRecord

CIRCULAR_KEY = "circular"  # the circular transform's record detail (mmlens.transforms.circular)


def base_id(record: SampleRecord, rotation_groups: bool = False) -> str:
    """The question a record was made from. ``rotation_groups``: the task publishes its own option
    rotations grouped by ``group`` (its metric has ``scores_rotations``, as MMBench's)."""
    tag = record.details.get(CIRCULAR_KEY)
    if isinstance(tag, dict) and "of" in tag:
        return str(tag["of"])
    if rotation_groups and record.group is not None:
        return record.group
    return record.id


def first_occurrences(records: list[SampleRecord], rotation_groups: bool = False) -> list[SampleRecord]:
    """The first record of each base id, in the given order."""
    seen: set[str] = set()
    kept = []
    for record in records:
        key = base_id(record, rotation_groups)
        if key not in seen:
            seen.add(key)
            kept.append(record)
    return kept
