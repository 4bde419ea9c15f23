"""ChEF's desiderata scores across runs (Shi et al. 2023, arXiv 2311.02692), as pure functions.

Each function takes the records or accuracies of runs made elsewhere (``mmlens.api.evaluate``, so
cached and resumable) and reproduces the official code (Coach257/ChEF@54df7bb ``tools/``; the
same formulas in OpenGVLab/LAMM@ea57136 ``src/ChEF/``). Accuracies are percentages, as ChEF's.

What each desideratum needs (runs through ``mmlens.api.evaluate``) and the function that scores it:

- calibration: one multiple-choice task with ``--transform likelihood --transform calibration``
  (a task that already ranks by likelihood: ``calibration`` alone); the score is the run's own
  ``ece`` metric and ``reliability`` diagram (``mmlens.metrics.calibration``).
- in-context learning: the task with ``icl:k`` for k = 0, 1, 2, 3 ->
  ``riam([accuracy(records_k) for k in 0..3], random_accuracy)``.
- instruction following: the task with ``likelihood`` (the unmapped run) and with ``likelihood``
  then ``verbalizer:<map>`` for each map of ``CHEF_RUN_SET`` ->
  ``instruction_following(origin_records, {map: records})``.
- robustness: the task plain and with the image, text and both corruptions ->
  ``robustness(origin_acc, {"ic": acc, "tc": acc, "ictc": acc}, random_accuracy)`` (``rrm``, ``rr``).
- hallucination: the ``pope_likelihood`` task; its metrics are ChEF's (acc, precision, recall,
  f1, yes_ratio), per split in its breakdown.

``accuracy(records)`` is ChEF's ``ACC`` / ``vanilla_acc``: the share of right answers among the
questions as published (the first record of each question, ``mmlens.metrics.originals``; pass
``rotation_groups=True`` for MMBench's published rotations). ``random_accuracy`` is ChEF's
constant for its two datasets (``CHEF_RANDOM_ACCURACY``, by profile) or ``random_guess_accuracy``
of any task's samples.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from mmlens.core.results import SampleRecord
from mmlens.core.sample import Sample
from mmlens.metrics.originals import base_id, first_occurrences
from mmlens.transforms.choices import find_options
from mmlens.transforms.verbalizer import CHEF_RUN_SET


class DesiderataError(ValueError):
    """Runs that cannot be compared, or a score whose denominator is zero (ChEF divides by it)."""


# Random-guess accuracy (%) of ChEF's datasets, by the code that carries it: ``chef`` is
# Coach257/ChEF@54df7bb scenario/utils.py and OpenGVLab/LAMM@ea57136 src/ChEF/scenario/utils.py;
# ``lamm_e3117c0`` is LAMM's earlier release (e3117c0 src/ChEF/tools/desiderata/utils.py).
# "vanilla" is the question as published, "circular" MMBench's CircularEval.
CHEF_RANDOM_ACCURACY: dict[str, dict[str, dict[str, float]]] = {
    "chef": {
        "MMBench": {"vanilla": 27.57, "circular": 2.55},
        "ScienceQA": {"vanilla": 35.8, "circular": 35.8},
    },
    "lamm_e3117c0": {
        "MMBench": {"vanilla": 27.67, "circular": 2.55},
        "ScienceQA": {"vanilla": 35.8, "circular": 35.8},
    },
}


def chef_random_accuracy(dataset: str, profile: str = "chef", setting: str = "vanilla") -> float:
    """ChEF's constant for ``dataset`` (MMBench or ScienceQA); ``profile`` names its source."""
    try:
        return CHEF_RANDOM_ACCURACY[profile][dataset][setting]
    except KeyError:
        raise DesiderataError(
            f"no ChEF random-guess accuracy for {dataset!r}/{setting!r} in profile {profile!r} "
            f"(profiles: {', '.join(CHEF_RANDOM_ACCURACY)}; datasets: MMBench, ScienceQA)"
        ) from None


def random_guess_accuracy(samples: Iterable[Sample]) -> float:
    """The accuracy (%) of guessing uniformly: the mean over questions of 1 / options (1/2 for a
    yes/no question). A question that is neither is an error (nothing to guess among)."""
    chances = []
    for sample in samples:
        options = sample.choices or (found.choices if (found := find_options(sample)) else None)
        if options:
            chances.append(1.0 / len(options))
        elif sample.target is not None and sample.target.strip().lower() in ("yes", "no"):
            chances.append(0.5)
        else:
            raise DesiderataError(f"sample {sample.id} is neither multiple-choice nor yes/no")
    if not chances:
        raise DesiderataError("no samples: random-guess accuracy is undefined")
    return sum(chances) / len(chances) * 100


def accuracy(records: Sequence[SampleRecord], rotation_groups: bool = False) -> float:
    """ChEF's ``ACC`` / ``vanilla_acc`` (%): right answers among the first record of each question,
    in record order; a failed sample (no answer) is wrong, as ChEF counts an unmatched answer."""
    kept = first_occurrences(list(records), rotation_groups)
    if not kept:
        raise DesiderataError("no records: accuracy is undefined")
    undecided = [r.id for r in kept if r.correct is None]
    if undecided:
        raise DesiderataError(f"record {undecided[0]} has no right/wrong (accuracy needs one per sample)")
    return sum(1 for r in kept if r.correct) / len(kept) * 100


def riam(accuracies: Sequence[float], random_accuracy: float) -> float:
    """ChEF's ICL score (v1 ``tools/eval_icl.py`` L44-50): accuracies (%) at k = 0, 1, 2, 3 in-context
    examples -> ``(mean(acc_1..) - acc_0) / (acc_0 - acc_rand) * 50 + 50``. At least two runs (the
    official ``assert len(results) > 1``); acc_0 equal to the random-guess accuracy is an error
    (ChEF stops with ZeroDivisionError)."""
    if len(accuracies) < 2:
        raise DesiderataError(f"RIAM needs the k = 0 run and at least one more (got {len(accuracies)})")
    acc_0 = accuracies[0]
    if acc_0 - random_accuracy == 0:
        raise DesiderataError(
            f"RIAM is undefined: the k = 0 accuracy {acc_0} equals the random-guess accuracy "
            f"(ChEF divides by acc_0 - acc_rand = 0)"
        )
    icl_average = sum(accuracies[1:]) / len(accuracies[1:])
    return ((icl_average - acc_0) / (acc_0 - random_accuracy)) * 50 + 50


def rrm(corrupted_accuracy: float, origin_accuracy: float, random_accuracy: float) -> float:
    """ChEF's relative robustness for multiple choice (v1 ``tools/eval_robust.py`` compute_RRM):
    ``(acc_crp - acc_rand) / (acc_origin - acc_rand) * 100``."""
    if origin_accuracy - random_accuracy == 0:
        raise DesiderataError(
            f"RRM is undefined: the uncorrupted accuracy {origin_accuracy} equals the random-guess accuracy"
        )
    return (corrupted_accuracy - random_accuracy) / (origin_accuracy - random_accuracy) * 100


def rr(corrupted_accuracy: float, origin_accuracy: float) -> float:
    """ChEF's robustness ratio: ``acc_crp / acc_origin * 100``."""
    if origin_accuracy == 0:
        raise DesiderataError("RR is undefined: the uncorrupted accuracy is 0")
    return corrupted_accuracy / origin_accuracy * 100


@dataclass(frozen=True)
class RobustnessRow:
    setting: str  # "origin", or ChEF's "ic" (image), "tc" (text), "ictc" (both), or any name
    acc: float
    rrm: float
    rr: float


def robustness(
    origin_accuracy: float, corrupted: Mapping[str, float], random_accuracy: float
) -> list[RobustnessRow]:
    """ChEF's ``Robust_Results.json``: the uncorrupted run (RRM and RR 100 by definition, as the
    official script writes them) and one row per corrupted setting. No aggregate (ChEF has none)."""
    rows = [RobustnessRow("origin", origin_accuracy, 100.0, 100.0)]
    for setting, acc in corrupted.items():
        rows.append(
            RobustnessRow(setting, acc, rrm(acc, origin_accuracy, random_accuracy), rr(acc, origin_accuracy))
        )
    return rows


def _chosen(record: SampleRecord, run: str) -> int:
    if record.option_scores is None:
        raise DesiderataError(
            f"{run} run: sample {record.id} has no ranked option ({record.error or 'no option scores'}); "
            "the match ratio needs every question ranked"
        )
    return record.option_scores.chosen


def match_ratio(
    origin: Sequence[SampleRecord], mapped: Sequence[SampleRecord], rotation_groups: bool = False
) -> float:
    """ChEF's MR (v1 ``tools/eval_insfollow.py`` compute_MR) in %: the share of questions (first
    record of each, in the unmapped run's order) whose chosen option *position* is the one the
    unmapped run chose, right or wrong. Records pair by position, and paired ids must be equal (the
    official ``assert``); runs of different lengths are an error (the official ``zip`` would drop
    the longer run's tail silently)."""
    if len(origin) != len(mapped):
        raise DesiderataError(f"the unmapped run has {len(origin)} records, the mapped run {len(mapped)}")
    seen: set[str] = set()
    matches = total = 0
    for o, t in zip(origin, mapped, strict=True):
        key = base_id(o, rotation_groups)
        if key in seen:
            continue
        seen.add(key)
        total += 1
        if o.id != t.id:
            raise DesiderataError(f"record {total} pairs sample {o.id!r} of the unmapped run with {t.id!r}")
        matches += _chosen(o, "unmapped") == _chosen(t, "mapped")
    if not total:
        raise DesiderataError("no records: the match ratio is undefined")
    return matches / total * 100


@dataclass(frozen=True)
class InstructionFollowing:
    """Per map: ChEF's Acc and MR (%); the means over the maps of the run set (``weighted_avg_Acc`` /
    ``weighted_avg_MR``, plain means of the six: the unmapped run is not one of them)."""

    acc: dict[str, float]
    mr: dict[str, float]
    mean_acc: float
    mean_mr: float


def instruction_following(
    origin: Sequence[SampleRecord],
    mapped: Mapping[str, Sequence[SampleRecord]],
    run_set: Sequence[str] = CHEF_RUN_SET,
    rotation_groups: bool = False,
) -> InstructionFollowing:
    """ChEF's instruction following from the unmapped run and one run per verbalizer map (the
    ``verbalizer:<map>`` transform). Every map of ``run_set`` must be given; other maps given are
    scored too but left out of the means."""
    missing = [name for name in run_set if name not in mapped]
    if missing:
        raise DesiderataError(
            f"instruction following needs a run per map of {list(run_set)}; missing {missing}"
        )
    acc = {name: accuracy(records, rotation_groups) for name, records in mapped.items()}
    mr = {name: match_ratio(origin, records, rotation_groups) for name, records in mapped.items()}
    return InstructionFollowing(
        acc=acc,
        mr=mr,
        mean_acc=sum(acc[name] for name in run_set) / len(run_set),
        mean_mr=sum(mr[name] for name in run_set) / len(run_set),
    )
