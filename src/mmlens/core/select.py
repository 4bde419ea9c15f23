"""Selecting a subtree of a benchmark by the values of its axes (GMAI-MMBench's lexical tree:
modality, clinical task, department, perceptual granularity), and breaking results down by them.

A scenario that offers axes puts each sample's values in ``sample.metadata["axes"]`` (axis name ->
value) and names them in ``Scenario.axes``. The selection is a transform, ``select``, given as

    mmlens run gmai_mmbench_val --select "modality=CT|MR,department=Urology"
    # task YAML:  select: {modality: [CT, MR], department: Urology}
    # or:         transforms: ["select:modality=CT|MR,department=Urology"]

Values of one axis are alternatives (``|``), axes are all required. Axis names are matched with
``_``/``-`` read as spaces and case ignored (``clinical_vqa_task`` names ``clinical vqa task``);
values exactly. The runner applies the selection while it loads (so ``--limit N`` counts selected
samples) and checks every requested value occurs in the data; ``mmlens score`` accepts predictions
for samples outside the selection and leaves them out. Each selected axis is broken down in the
results (``<axis>/<value>`` nodes), whatever the task's metric breaks down itself.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mmlens.core.errors import ConfigError
from mmlens.core.parts import (
    Aggregate,
    MetricValue,
    SampleRecord,
    Transform,
    TransformContext,
    register_transform,
)
from mmlens.core.sample import BadSample, Sample

AXES_KEY = "axes"  # sample.metadata / record.details key holding {axis: value}
OPTION = "--select"


def axis_name(text: str) -> str:
    """How axis names compare: lower case, ``_``/``-`` as spaces, single spaces."""
    return " ".join(text.replace("_", " ").replace("-", " ").lower().split())


def parse_selection(text: str, option: str = OPTION) -> dict[str, list[str]]:
    """``"modality=CT|MR,department=Urology"`` -> {"modality": ["CT", "MR"], "department": ["Urology"]}.

    A piece without ``=`` continues the previous value (a value holding a comma); a repeated axis
    adds alternatives."""
    criteria: dict[str, list[str]] = {}
    last: str | None = None
    for piece in text.split(","):
        if "=" not in piece:
            if last is None or not piece.strip():
                raise ConfigError(
                    f"{option} {text!r}: expected AXIS=VALUE[|VALUE...],AXIS=VALUE (got {piece!r})"
                )
            criteria[last][-1] += "," + piece
            continue
        key, _, values = piece.partition("=")
        if not key.strip() or not values.strip():
            raise ConfigError(f"{option} {text!r}: expected AXIS=VALUE[|VALUE...] (got {piece!r})")
        last = key.strip()
        criteria.setdefault(last, []).extend(value for value in values.split("|"))
    if not criteria:
        raise ConfigError(f"{option}: nothing selected; expected AXIS=VALUE[|VALUE...],...")
    return {key: [value.strip() for value in values if value.strip()] for key, values in criteria.items()}


def selection_spec(value: Any, where: str) -> dict[str, Any]:
    """A ``select:`` value (YAML mapping axis -> value or list, or the ``--select`` text) as the
    transform spec of ``select``."""
    if isinstance(value, str):
        return {"type": "select", "criteria": parse_selection(value, where)}
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"{where}: expected a mapping of axis -> value(s) (modality: CT)")
    criteria: dict[str, list[str]] = {}
    for key, values in value.items():
        items = values if isinstance(values, list) else [values]
        if not items or any(not isinstance(item, str | int | float) or str(item) == "" for item in items):
            raise ConfigError(f"{where}: {key}: expected a value or a list of values (got {values!r})")
        criteria[str(key)] = [str(item) for item in items]
    return {"type": "select", "criteria": criteria}


def sample_axes(sample: Sample) -> dict[str, str]:
    axes = sample.metadata.get(AXES_KEY)
    return axes if isinstance(axes, dict) else {}


@register_transform("select")
class Select(Transform):
    """Keeps the samples whose axis values match every axis of ``criteria`` (axis -> accepted values)."""

    criteria: dict[str, list[str]]

    @classmethod
    def from_args(cls, args: str) -> dict[str, Any]:
        return {"criteria": parse_selection(args, "--transform select")}

    def label(self) -> str:
        return "select:" + ",".join(f"{key}={'|'.join(values)}" for key, values in self.criteria.items())

    def axes(self) -> list[str]:
        return [axis_name(key) for key in self.criteria]

    def keeps(self, sample: Sample) -> bool:
        values = {axis_name(key): value for key, value in sample_axes(sample).items()}
        return all(values.get(axis_name(key)) in accepted for key, accepted in self.criteria.items())

    def apply(self, samples: list[Sample], context: TransformContext) -> list[Sample | BadSample]:
        return [sample for sample in samples if self.keeps(sample)]


class SelectionCheck:
    """The task's ``select`` transforms while its samples load: which samples they keep, and, once
    every sample has been seen, one ConfigError per unknown axis or value naming the valid ones."""

    def __init__(self, selections: Sequence[Select], task: str, declared_axes: Sequence[str] = ()) -> None:
        self.selections = list(selections)
        self.task = task
        self.seen: dict[str, set[str]] = {axis_name(axis): set() for axis in declared_axes}
        self.display: dict[str, str] = {axis_name(axis): axis for axis in declared_axes}
        if declared_axes:
            self._check_axes()

    @classmethod
    def of(
        cls, transforms: Iterable[Transform], task: str, declared_axes: Sequence[str] = ()
    ) -> SelectionCheck | None:
        selections = [t for t in transforms if isinstance(t, Select)]
        return cls(selections, task, declared_axes) if selections else None

    def keeps(self, sample: Sample) -> bool:
        for key, value in sample_axes(sample).items():
            name = axis_name(key)
            self.seen.setdefault(name, set()).add(str(value))
            self.display.setdefault(name, key)
        return all(selection.keeps(sample) for selection in self.selections)

    def _check_axes(self) -> None:
        for selection in self.selections:
            for key in selection.criteria:
                if axis_name(key) not in self.seen:
                    known = (
                        ", ".join(self.display[a] for a in sorted(self.seen)) or "none (the task has no axes)"
                    )
                    raise ConfigError(
                        f"{OPTION} {key}=...: task {self.task} has no axis {key!r}; its axes: {known}"
                    )

    def check(self) -> None:
        """After loading: every selected axis exists and every selected value occurs in the data."""
        self._check_axes()
        for selection in self.selections:
            for key, values in selection.criteria.items():
                valid = sorted(self.seen[axis_name(key)])
                for value in (value for value in values if value not in valid):
                    close = difflib.get_close_matches(value, valid, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    raise ConfigError(
                        f"{OPTION} {key}={value}: no sample of task {self.task} has {key} {value!r}{hint}; "
                        f"valid values: {', '.join(valid)}"
                    )


def record_axes(record: SampleRecord) -> dict[str, str]:
    axes = record.details.get(AXES_KEY)
    return {axis_name(k): str(v) for k, v in axes.items()} if isinstance(axes, dict) else {}


def axis_groups(records: Sequence[SampleRecord], axis: str) -> dict[str, list[SampleRecord]]:
    """value -> records of ``axis`` (records without a value for it are left out), by value."""
    groups: dict[str, list[SampleRecord]] = {}
    name = axis_name(axis)
    for record in records:
        value = record_axes(record).get(name)
        if value is not None and value != "":
            groups.setdefault(value, []).append(record)
    return dict(sorted(groups.items()))


def axis_nodes(records: Sequence[SampleRecord], axes: Iterable[str]) -> dict[str, list[SampleRecord]]:
    """Breakdown nodes ``<axis>`` (every record with a value for it) and ``<axis>/<value>``."""
    from mmlens.metrics.aggregation import category_node

    nodes: dict[str, list[SampleRecord]] = {}
    for axis in axes:
        groups = axis_groups(records, axis)
        if not groups:
            continue
        name = axis_name(axis)
        nodes[category_node((name,))] = [r for group in groups.values() for r in group]
        for value, group in groups.items():
            nodes[category_node((name, value))] = group
    return nodes


def with_axis_breakdown(
    aggregate: Aggregate, records: Sequence[SampleRecord], axes: Iterable[str], metrics_of: Any
) -> Aggregate:
    """``aggregate`` plus the nodes of ``axes`` it has not got yet; ``metrics_of(records)`` gives a
    node's metrics (the task metric's aggregate over the node's records)."""
    breakdown: dict[str, dict[str, MetricValue]] = dict(aggregate.breakdown)
    for node, subset in axis_nodes(records, axes).items():
        if node not in breakdown:
            breakdown[node] = metrics_of(list(subset))
    return Aggregate(aggregate.metrics, dict(sorted(breakdown.items())), reliability=aggregate.reliability)


def selected_axes(transforms: Iterable[Transform]) -> list[str]:
    """The axes every ``select`` transform of a task names, in order, once each."""
    axes: list[str] = []
    for transform in transforms:
        if isinstance(transform, Select):
            axes.extend(axis for axis in transform.axes() if axis not in axes)
    return axes
