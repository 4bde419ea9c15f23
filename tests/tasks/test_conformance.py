"""Every built-in task, with and without each of its profiles: it loads, documents itself, and
scores a tiny predictions file end to end through ``mmlens.api.score``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from mmlens import api
from mmlens.core.options import option_letters
from mmlens.core.parts import LoadContext
from mmlens.core.sample import Sample
from mmlens.core.task import BUILTIN_TASKS_DIR, TaskCatalog, TaskEntry
from mmlens.inferencers.ranking import RankingInferencer
from mmlens.runner.plan import load_samples
from tests.fixtures.task_data import BENCHMARK_DATA, data_builder

CATALOG = TaskCatalog()
# Metric settings for tasks whose default scoring model is a hub download (none is reachable in
# tests); each of those scorers is tested end to end with a tiny local model in its own test file.
OFFLINE_METRIC_SETTINGS: dict[str, dict[str, object]] = {
    "medrega_regr2t": {"bertscore_model": None},  # tests/tasks/test_medrega_regions.py: a tiny BERT
}


def builtin_entries() -> list[TaskEntry]:
    return [
        entry
        for name in CATALOG.names()
        if (entry := CATALOG.entries[name]).path.parent.resolve().parent == BUILTIN_TASKS_DIR
    ]


def profile_names(entry: TaskEntry) -> list[str]:
    """The task's profiles, read from its YAML (the file's and, for a variant, the variant's own)."""
    raw = yaml.safe_load(entry.path.read_text(encoding="utf-8"))
    names = set(raw.get("profiles") or {}) | set((entry.overrides or {}).get("profiles") or {})
    return sorted(names)


CASES = [
    pytest.param(entry.name, profile, id=f"{entry.name}-{profile or 'default'}")
    for entry in builtin_entries()
    for profile in [None, *profile_names(entry)]
]


def folder_of(task: str) -> Path:
    return CATALOG.entries[task].path.parent


def test_every_built_in_task_is_covered() -> None:
    assert {case.values[0] for case in CASES} >= {"shapes", "mme", "pope", "mmstar", "seedbench"}


@pytest.mark.parametrize(("task", "profile"), CASES)
def test_task_loads_and_documents_itself(task: str, profile: str | None) -> None:
    loaded = CATALOG.load(task, profile)
    assert loaded.config.description.strip(), f"task {task}: empty description"
    entry = CATALOG.entries[task]
    assert entry.id_scheme, f"task {task}: its YAML declares no id_scheme (the one place it is written)"
    assert loaded.id_scheme == entry.id_scheme
    readme = folder_of(task) / "README.md"
    assert readme.is_file(), f"benchmark folder {folder_of(task).name} has no README.md"
    text = readme.read_text(encoding="utf-8")
    assert f"`{task}`" in text, f"{readme} does not mention the task `{task}`"
    if profile is not None:
        assert f"`{profile}`" in text, f"{readme} does not mention the profile `{profile}` of task {task}"


def prediction_line(sample: Sample, ranking: bool) -> dict[str, object]:
    """A plausible output for one sample: the target as the response, or, for a likelihood ranking,
    one log-probability per option with the target option's highest."""
    if not ranking:
        return {"id": sample.id, "response": sample.target or "A"}
    letters = option_letters(sample.choices)
    best = letters.index(sample.target) if sample.target and sample.target in letters else 0
    return {"id": sample.id, "option_logprobs": [0.0 if i == best else -5.0 for i in range(len(letters))]}


@pytest.mark.parametrize(("task", "profile"), CASES)
def test_task_scores_a_tiny_predictions_file(tmp_path: Path, task: str, profile: str | None) -> None:
    benchmark = folder_of(task).name
    builder = data_builder(task, benchmark)
    if builder is None:
        pytest.fail(
            f"no tiny data for benchmark folder {benchmark!r} (task {task}): add a builder to "
            f"BENCHMARK_DATA in tests/fixtures/task_data.py (None for a generator that reads no data)"
        )
    data = builder(tmp_path / "data")
    loaded = CATALOG.load(task, profile)
    context = LoadContext(task, loaded.task_dir, str(data) if data is not None else None)
    samples, _ = load_samples(loaded, context)  # as the task's transforms leave them (likelihood: choices)
    assert samples, f"task {task}: the tiny data from BENCHMARK_DATA[{benchmark!r}] holds no samples"
    ranking = isinstance(loaded.inferencer, RankingInferencer)
    predictions = tmp_path / "predictions.jsonl"
    # A judged task gets one reply per role in each line (scoring here reaches no live judge).
    roles = loaded.metric.roles()
    lines = [
        {**prediction_line(s, ranking), **({"roles": dict.fromkeys(roles, s.target or "A")} if roles else {})}
        for s in samples
    ]
    predictions.write_text("".join(json.dumps(line) + "\n" for line in lines))

    offline = OFFLINE_METRIC_SETTINGS.get(task)
    scored_task = (
        dataclasses.replace(loaded, metric=loaded.metric.model_copy(update=offline)) if offline else task
    )
    scored = api.score(scored_task, predictions, data=data, profile=profile)
    results = scored.results
    undecided = [r.id for r in scored.records if r.correct is None and r.score is None]
    assert not undecided, (
        f"task {task}: records {undecided[:3]} state neither `correct` nor `score` "
        "(set the metric's correct_key to its per-sample right/wrong score)"
    )

    assert results["primary_metric"] in results["metrics"]
    assert results["counts"]["scored"] == len(samples)
    assert results["counts"]["errors"] == 0
    assert results["counts"].get("missing_predictions", 0) == 0


def test_the_data_registry_names_only_real_benchmarks() -> None:
    folders = {path.parent.name for path in BUILTIN_TASKS_DIR.glob("*/*.yaml")}
    assert set(BENCHMARK_DATA) <= folders | set(CATALOG.names())
