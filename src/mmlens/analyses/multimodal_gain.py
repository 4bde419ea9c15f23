"""MMStar's multimodal gain and leakage (Chen et al. 2024, "Are We on the Right Way for Evaluating
Large Vision-Language Models?", section 4):

    S_v  = the multimodal model on the task with its images
    S_wv = the same model on the same questions without the images
    S_t  = the model's language backbone (an LLM) on the questions without the images
    MG = S_v - S_wv          (what the images add)
    ML = max(0, S_wv - S_t)  (what multimodal training leaked: answers known without images
                              that the backbone alone does not know)

The three runs go through ``mmlens.api.evaluate`` (so they are cached and resumable). S_wv is the
task with the ``blind`` transform (the same prompts without media; a task's own ``<task>_blind``
variant where it has one); S_t uses ``<task>_llm`` where the benchmark words its prompt differently
for a language model (MMStar does), else the blind task. Any task works, multiple-choice or not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmlens import api
from mmlens.core.errors import ConfigError
from mmlens.core.results import RunResults
from mmlens.core.task import TaskCatalog
from mmlens.models.base import ModelSpec
from mmlens.store.sqlite import Store
from mmlens.summary import incomplete_reason, load_results


@dataclass
class MultimodalGain:
    metric: str
    s_v: float
    s_wv: float
    s_t: float
    runs: dict[str, api.RunResult]

    @property
    def incomplete(self) -> dict[str, str]:
        """The runs (S_v, S_wv, S_t) that are incomplete, with why: their scores are not final."""
        reasons = {name: incomplete_reason(_typed(run)) for name, run in self.runs.items()}
        return {name: reason for name, reason in reasons.items() if reason is not None}

    @property
    def mg(self) -> float:
        return self.s_v - self.s_wv

    @property
    def ml(self) -> float:
        return max(0.0, self.s_wv - self.s_t)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "S_v": self.s_v,
            "S_wv": self.s_wv,
            "S_t": self.s_t,
            "MG": self.mg,
            "ML": self.ml,
            "runs": {name: run.run_id for name, run in self.runs.items()},
            "incomplete": self.incomplete,
        }


def _typed(result: api.RunResult) -> RunResults:
    return load_results(result.results, f"run {result.run_id}")


def _primary_value(result: api.RunResult, metric: str | None) -> tuple[str, float]:
    results = _typed(result)
    name = metric or results.primary_metric
    entry = results.metrics.get(name)
    if entry is None:
        known = ", ".join(results.metrics) or "none"
        raise ConfigError(f"task {results.task} has no metric {name!r} (known: {known})")
    return name, entry.value


def multimodal_gain(
    task: str = "mmstar",
    model: str | ModelSpec = "reference",
    backbone_model: str | ModelSpec = "reference",
    *,
    model_args: str | None = None,
    backbone_model_args: str | None = None,
    blind_task: str | None = None,
    backbone_task: str | None = None,
    metric: str | None = None,
    data: str | Path | None = None,
    limit: int | None = None,
    include: list[str | Path] | None = None,
    profile: str | None = None,
    transforms: list[str] | None = None,
    store: str | Path | Store | None = None,
    output_dir: str | Path | None = api.DEFAULT_OUTPUT_DIR,
    progress: bool = False,
) -> MultimodalGain:
    """Run ``task`` with ``model`` (S_v), ``blind_task`` (default ``<task>_blind``, else the task with
    the ``blind`` transform) with ``model`` (S_wv),
    and ``backbone_task`` with ``backbone_model`` (S_t; default ``<task>_llm``, the benchmark's prompt
    for a language model, where the task has one, else the blind task); return the scores, MG and ML.

    Models are given as specs (not built Model objects): each evaluation builds and closes its own.
    """
    known = TaskCatalog(include).entries
    if task not in known:
        TaskCatalog(include).load(task)  # the unknown-task message, with close names
    if blind_task is not None and blind_task not in known:
        raise ConfigError(f"multimodal gain: no task {blind_task!r} (the blind task given)")
    blind = blind_task or (f"{task}_blind" if f"{task}_blind" in known else None)
    # (task name, extra transforms): without a blind variant, the task itself with the blind transform
    blind_run = (blind, []) if blind is not None else (task, ["blind"])
    if backbone_task is not None:
        backbone_run: tuple[str, list[str]] = (backbone_task, [])
    else:
        backbone_run = (f"{task}_llm", []) if f"{task}_llm" in known else blind_run
    common: dict[str, Any] = {
        "data": data,
        "limit": limit,
        "include": include,
        "profile": profile,
        "store": store,
        "output_dir": output_dir,
        "progress": progress,
    }
    base = list(transforms or [])

    def run(name: str, extra: list[str], spec: str | ModelSpec, args: str | None) -> api.RunResult:
        return api.evaluate(name, spec, model_args=args, transforms=[*base, *extra] or None, **common)

    runs = {
        "S_v": run(task, [], model, model_args),
        "S_wv": run(*blind_run, model, model_args),
        "S_t": run(*backbone_run, backbone_model, backbone_model_args),
    }
    name, s_v = _primary_value(runs["S_v"], metric)
    _, s_wv = _primary_value(runs["S_wv"], name)
    _, s_t = _primary_value(runs["S_t"], name)
    if any(math.isnan(value) for value in (s_v, s_wv, s_t)):
        raise ConfigError(f"multimodal gain: a run of {task} produced no {name} value (no scored samples)")
    return MultimodalGain(name, s_v, s_wv, s_t, runs)
