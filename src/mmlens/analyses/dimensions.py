"""``mmlens dimensions TASK``: ChEF's desiderata on any task, from runs that are each cached and
resumable like ``mmlens run``.

Each dimension names the runs it needs (the task with a list of transforms) and turns their
results into scores; runs shared by several dimensions (the plain likelihood run) are made once.
Every run answers by likelihood ranking (ChEF's PPL inferencer, the ``likelihood`` transform)
unless the task ranks options by likelihood already.

=======================  ===================================================  ======================
dimension                runs                                                 scores
=======================  ===================================================  ======================
calibration              origin                                                ECE (0-1), accuracy
in_context_learning      ``icl:k:random:chef`` for k = 0..3 (ChEF v1, seed 1)  RIAM, accuracy per k
instruction_following    origin and ChEF's six verbalizer maps                 Acc and MR per map, means
robustness               origin, ``corrupt_image:chef``, ``corrupt_text:chef``  RRM and RR per setting
                         and both
hallucination            origin (its yes/no questions)                         POPE acc/P/R/F1/yes-ratio
language_performance     ``strategy:chain_of_thought`` + ``language_performance``  the judge's mean score
                         (needs the judge role)                                (0-10)
=======================  ===================================================  ======================
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from mmlens import api
from mmlens.analyses import desiderata
from mmlens.core.errors import ConfigError, DataError, MmlensError, ModelUnavailable
from mmlens.core.registry import Registry
from mmlens.core.results import SampleRecord
from mmlens.core.task import build_transform
from mmlens.metrics.calibration import CalibrationError, calibration_of_records
from mmlens.models.base import Model, ModelSpec
from mmlens.runner.roles import RoleInput
from mmlens.transforms.calibration import gives_option_scores
from mmlens.transforms.verbalizer import CHEF_RUN_SET

TransformSpec = str | dict[str, Any]


@dataclass(frozen=True)
class DimensionScore:
    """One number of a dimension: its name, value, and the runs it came from."""

    dimension: str
    name: str
    value: float
    runs: tuple[str, ...]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"dimension": self.dimension, "name": self.name, "value": self.value,
                "runs": list(self.runs), "note": self.note}  # fmt: skip


@dataclass
class Runs:
    """The records of the runs made, by key (``origin``, ``icl_2``, ``image``, ...)."""

    records_by_key: dict[str, list[SampleRecord]] = field(default_factory=dict)

    def records(self, key: str) -> list[SampleRecord]:
        return self.records_by_key[key]

    def accuracy(self, key: str) -> float:
        """A run's accuracy (%) on the questions as published, as ChEF's scripts compute it."""
        return desiderata.accuracy(self.records(key))

    def chance(self, key: str) -> float:
        """The random-guess accuracy (%) of a run's ranked questions: the mean of 1 / options (the
        number of options each ranking scored; a yes/no question has two)."""
        counts = [len(r.option_scores.logprobs) for r in self.records(key) if r.option_scores is not None]
        if not counts:
            raise desiderata.DesiderataError(f"run {key} ranked no question: no random-guess accuracy")
        return sum(1.0 / n for n in counts) / len(counts) * 100


class Dimension(ABC):
    name: ClassVar[str]
    summary: ClassVar[str]
    roles: ClassVar[tuple[str, ...]] = ()  # the run's roles it needs (a judge)
    by_default: ClassVar[bool] = True  # False: only when named in --only (many runs)

    @abstractmethod
    def runs(self) -> dict[str, list[TransformSpec]]:
        """The runs this dimension needs: key -> transforms after the likelihood base."""

    @abstractmethod
    def score(self, runs: Runs) -> list[DimensionScore]: ...


dimensions: Registry[type[Dimension]] = Registry("dimension")


def register_dimension(cls: type[Dimension]) -> type[Dimension]:
    dimensions.add(cls.name, cls)
    return cls


@register_dimension
class Calibration(Dimension):
    name = "calibration"
    summary = "expected calibration error of the likelihood ranking (ChEF's 10 equal-count bins)"

    def runs(self) -> dict[str, list[TransformSpec]]:
        return {"origin": []}

    def score(self, runs: Runs) -> list[DimensionScore]:
        result = calibration_of_records(runs.records("origin"))
        keys = ("origin",)
        return [
            DimensionScore(self.name, "ece", result.ece, keys, f"{result.binning}, {result.n} questions"),
            DimensionScore(self.name, "accuracy_pct", runs.accuracy("origin"), keys),
        ]


ICL_SHOTS = (0, 1, 2, 3)


@register_dimension
class InContextLearning(Dimension):
    name = "in_context_learning"
    summary = "RIAM from accuracy with 0-3 random in-context examples (ChEF v1, seed 1)"

    def runs(self) -> dict[str, list[TransformSpec]]:
        return {f"icl_{k}": [f"icl:{k}:random:chef"] for k in ICL_SHOTS}

    def score(self, runs: Runs) -> list[DimensionScore]:
        keys = tuple(f"icl_{k}" for k in ICL_SHOTS)
        accuracies = [runs.accuracy(key) for key in keys]
        scores = [
            DimensionScore(self.name, f"accuracy_pct_k{k}", value, (key,))
            for k, value, key in zip(ICL_SHOTS, accuracies, keys, strict=True)
        ]
        chance = runs.chance("icl_0")
        riam = desiderata.riam(accuracies, chance)
        scores.append(DimensionScore(self.name, "riam", riam, keys, f"random-guess accuracy {chance:.2f} %"))
        return scores


VERBALIZER_MAPS = tuple(CHEF_RUN_SET)


@register_dimension
class InstructionFollowing(Dimension):
    name = "instruction_following"
    summary = "ChEF's six verbalizer maps: accuracy and match ratio against the unmapped run"

    def runs(self) -> dict[str, list[TransformSpec]]:
        return {"origin": [], **{f"verbalizer_{m}": [f"verbalizer:{m}"] for m in VERBALIZER_MAPS}}

    def score(self, runs: Runs) -> list[DimensionScore]:
        mapped = {m: runs.records(f"verbalizer_{m}") for m in VERBALIZER_MAPS}
        summary = desiderata.instruction_following(runs.records("origin"), mapped)
        scores = []
        for m in VERBALIZER_MAPS:
            keys = ("origin", f"verbalizer_{m}")
            scores.append(DimensionScore(self.name, f"acc_pct_{m}", summary.acc[m], keys))
            scores.append(DimensionScore(self.name, f"mr_pct_{m}", summary.mr[m], keys))
        every = ("origin", *(f"verbalizer_{m}" for m in VERBALIZER_MAPS))
        scores.append(DimensionScore(self.name, "acc_pct_mean", summary.mean_acc, every))
        scores.append(DimensionScore(self.name, "mr_pct_mean", summary.mean_mr, every))
        return scores


ROBUSTNESS_SETTINGS: dict[str, list[TransformSpec]] = {
    "image": ["corrupt_image:chef"],
    "text": ["corrupt_text:chef"],
    "image_text": ["corrupt_image:chef", "corrupt_text:chef"],
}


@register_dimension
class Robustness(Dimension):
    name = "robustness"
    summary = "RRM and RR under ChEF's chained image, text and image+text corruptions"

    def runs(self) -> dict[str, list[TransformSpec]]:
        return {"origin": [], **ROBUSTNESS_SETTINGS}

    def score(self, runs: Runs) -> list[DimensionScore]:
        corrupted = {setting: runs.accuracy(setting) for setting in ROBUSTNESS_SETTINGS}
        chance = runs.chance("origin")
        rows = desiderata.robustness(runs.accuracy("origin"), corrupted, chance)
        note = f"random-guess accuracy {chance:.2f} %"
        scores = []
        for row in rows[1:]:  # the origin row is 100 by definition
            keys = ("origin", row.setting)
            scores.append(DimensionScore(self.name, f"acc_pct_{row.setting}", row.acc, keys))
            scores.append(DimensionScore(self.name, f"rrm_{row.setting}", row.rrm, keys, note))
            scores.append(DimensionScore(self.name, f"rr_{row.setting}", row.rr, keys))
        return scores


SWEEP_SEVERITIES = (1, 2, 3, 4, 5)


@register_dimension
class CorruptionSweep(Dimension):
    name = "corruption_sweep"
    summary = "accuracy under each single image corruption kind at severities 1-5 (only with --only)"
    by_default = False

    def runs(self) -> dict[str, list[TransformSpec]]:
        from mmlens.transforms.image_corruptions import KINDS

        runs: dict[str, list[TransformSpec]] = {"origin": []}
        for kind in KINDS:
            for severity in SWEEP_SEVERITIES:
                runs[f"{kind}@{severity}"] = [f"corrupt_image:{kind}@{severity}"]
        return runs

    def score(self, runs: Runs) -> list[DimensionScore]:
        origin = runs.accuracy("origin")
        scores = [DimensionScore(self.name, "acc_pct_origin", origin, ("origin",))]
        by_kind: dict[str, list[float]] = {}
        for key in self.runs():
            if key == "origin":
                continue
            accuracy = runs.accuracy(key)
            by_kind.setdefault(key.split("@")[0], []).append(accuracy)
            scores.append(DimensionScore(self.name, f"acc_pct_{key}", accuracy, ("origin", key)))
        for kind, values in by_kind.items():
            keys = tuple(f"{kind}@{s}" for s in SWEEP_SEVERITIES)
            scores.append(DimensionScore(self.name, f"acc_pct_{kind}_mean", sum(values) / len(values), keys))
        for severity in SWEEP_SEVERITIES:
            values = [runs.accuracy(f"{kind}@{severity}") for kind in by_kind]
            keys = tuple(f"{kind}@{severity}" for kind in by_kind)
            scores.append(
                DimensionScore(self.name, f"acc_pct_severity{severity}_mean", sum(values) / len(values), keys)
            )
        return scores


@register_dimension
class Hallucination(Dimension):
    name = "hallucination"
    summary = "POPE's accuracy, precision, recall, F1 and yes-ratio on the task's yes/no questions"

    def runs(self) -> dict[str, list[TransformSpec]]:
        return {"origin": []}

    def score(self, runs: Runs) -> list[DimensionScore]:
        records = [r for r in runs.records("origin") if (r.target or "").lower() in ("yes", "no")]
        if not records:
            raise DataError("dimensions: hallucination needs yes/no questions, and this task has none")
        tally = {(a, t): 0 for a in ("yes", "no") for t in ("yes", "no")}
        for record in records:
            key = (record.answer, record.target.lower() if record.target else None)
            if key in tally:
                tally[key] += 1
        tp, fp, fn, tn = tally["yes", "yes"], tally["yes", "no"], tally["no", "yes"], tally["no", "no"]
        precision = tp / (tp + fp) if tp + fp else float("nan")
        recall = tp / (tp + fn) if tp + fn else float("nan")
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else float("nan")
        keys = ("origin",)
        values = {"acc": (tp + tn) / len(records), "precision": precision, "recall": recall, "f1": f1,
                  "yes_ratio": (tp + fp) / len(records)}  # fmt: skip
        return [DimensionScore(self.name, name, value, keys, f"{len(records)} yes/no questions")
                for name, value in values.items()]  # fmt: skip


@register_dimension
class LanguagePerformance(Dimension):
    name = "language_performance"
    summary = "a judge rates the chain of thought 0-10 (ChEF: SYS_VQA, six replies, 250 questions)"
    roles = ("judge",)

    def runs(self) -> dict[str, list[TransformSpec]]:
        return {"language": ["strategy:chain_of_thought", "language_performance"]}

    def score(self, runs: Runs) -> list[DimensionScore]:
        records = runs.records("language")
        judged = [r.scores["language_score"] for r in records if "language_score" in r.scores]
        if not judged:
            raise desiderata.DesiderataError("no question got a score from the judge")
        note = f"{len(judged)} of {len(records)} questions scored by the judge"
        return [DimensionScore(self.name, "language_score", sum(judged) / len(judged), ("language",), note)]


@dataclass
class DimensionsReport:
    task: str
    model: str
    scores: list[DimensionScore]
    runs: dict[str, str]  # key -> run id
    seconds: float
    incomplete: dict[str, str]  # key -> why

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "model": self.model, "scores": [s.to_dict() for s in self.scores],
                "runs": self.runs, "seconds": self.seconds, "incomplete": self.incomplete}  # fmt: skip


def scored(dimension: Dimension, runs: Runs, failed: dict[str, str]) -> list[DimensionScore]:
    """The dimension's scores, or one line saying why there are none (a run failed or was not made,
    a score's denominator is zero as the official code would divide by it)."""
    keys = tuple(dimension.runs())
    absent = [key for key in keys if key not in runs.records_by_key and key not in failed]
    if absent:
        needs = f" (needs the {', '.join(dimension.roles)} role: --judge SPEC)" if dimension.roles else ""
        return [DimensionScore(dimension.name, "-", float("nan"), keys, f"run {absent[0]} not made{needs}")]
    missing = [key for key in keys if key in failed]
    if missing:
        reason = f"run {missing[0]} failed: {failed[missing[0]]}"
        return [DimensionScore(dimension.name, "-", float("nan"), keys, reason)]
    try:
        return dimension.score(runs)
    except (desiderata.DesiderataError, CalibrationError, DataError) as error:
        return [DimensionScore(dimension.name, "-", float("nan"), keys, str(error))]


def transform_labels(specs: list[TransformSpec]) -> tuple[str, ...]:
    """The labels runs record for these transforms (``provenance.task.transforms``)."""
    return tuple(build_transform(spec, "dimensions").label() for spec in specs)


LIKELIHOOD_BASES: tuple[tuple[str, ...], ...] = (("likelihood",), ())  # () where the task ranks itself


def scores_from_labelled_runs(runs: Mapping[tuple[str, ...], list[SampleRecord]]) -> list[DimensionScore]:
    """The dimensions of one task and model from runs known by their transform labels (what the
    report has): each dimension whose runs are all there, ranked by likelihood, is scored with the
    same code as ``mmlens dimensions``; the others are left out."""
    found = []
    for name in dimensions.names():
        dimension = dimensions.get(name)()
        try:
            needed = {key: transform_labels(extra) for key, extra in dimension.runs().items()}
        except MmlensError:  # a transform whose optional extra is not installed: not run here
            continue
        for base in LIKELIHOOD_BASES:
            wanted = {key: base + labels for key, labels in needed.items()}
            present = all(labels in runs for labels in wanted.values())
            if present and all(any(r.option_scores for r in runs[labels]) for labels in wanted.values()):
                found += scored(dimension, Runs({key: runs[labels] for key, labels in wanted.items()}), {})
                break
    return found


def chosen_dimensions(only: list[str] | None) -> list[type[Dimension]]:
    names = only or [name for name in dimensions.names() if dimensions.get(name).by_default]
    unknown = [name for name in names if name not in dimensions]
    if unknown:
        raise ConfigError(f"--only: {dimensions.unknown_message(unknown[0])}")
    return [dimensions.get(name) for name in names]


def run_dimensions(
    task: str,
    model: str | ModelSpec | Model = "reference",
    *,
    model_args: str | None = None,
    only: list[str] | None = None,
    data: str | Path | None = None,
    limit: int | None = None,
    include: list[str | Path] | None = None,
    profile: str | None = None,
    transforms: list[TransformSpec] | None = None,
    store: str | Path | None = None,
    output_dir: str | Path | None = api.DEFAULT_OUTPUT_DIR,
    progress: bool = False,
    roles: dict[str, RoleInput] | None = None,
    role_args: dict[str, str] | None = None,
    on_run: Callable[[str, api.RunResult], None] | None = None,
) -> DimensionsReport:
    """Make every run the chosen dimensions need (each once, cached and resumable) and score them."""
    from mmlens.summary import incomplete_reason

    started = time.perf_counter()
    loaded = api.load_task(task, include, profile, transforms)
    base: list[TransformSpec] = [*(transforms or [])]
    if not gives_option_scores(loaded.inferencer):
        base.append("likelihood")
    chosen = [cls() for cls in chosen_dimensions(only)]
    planned: dict[str, list[TransformSpec]] = {}
    for dimension in chosen:
        if any(role not in (roles or {}) for role in dimension.roles):
            continue  # said in its row: the role it needs was not given
        for key, extra in dimension.runs().items():
            planned.setdefault(key, extra)
    built = model if isinstance(model, Model) else api.resolve_model(model, model_args)
    results: dict[str, api.RunResult] = {}
    failed: dict[str, str] = {}
    try:
        for key, extra in planned.items():
            try:
                result = api.evaluate(task, built, data=data, limit=limit, include=include, profile=profile,
                                      transforms=[*base, *extra], store=store, output_dir=output_dir,
                                      progress=progress, roles=roles, role_args=role_args)  # fmt: skip
            except (ModelUnavailable, DataError) as error:  # this run only: the others still tell something
                failed[key] = str(error)
                continue
            results[key] = result
            if on_run is not None:
                on_run(key, result)
    finally:
        if built is not model:
            built.close()
    runs = Runs({key: result.records for key, result in results.items()})
    scores = [score for dimension in chosen for score in scored(dimension, runs, failed)]
    incomplete = {key: reason for key, run in results.items() if (reason := incomplete_reason(run.typed))}
    incomplete.update(failed)
    return DimensionsReport(task, built.label, scores, {k: r.run_id for k, r in results.items()},
                            time.perf_counter() - started, incomplete)  # fmt: skip
