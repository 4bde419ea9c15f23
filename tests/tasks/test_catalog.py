"""The MME / POPE / MMR task files: names, variants, profiles and their documented id schemes."""

from __future__ import annotations

import pytest

from mmlens.core.errors import ConfigError
from mmlens.core.task import TaskCatalog


def test_tasks_variants_and_profiles_load() -> None:
    catalog = TaskCatalog()
    for name in ("mme", "pope", "pope_random", "pope_popular", "pope_adversarial", "mmr"):
        task = catalog.load(name)
        assert task.id_scheme and task.config.description
    assert catalog.load("pope_popular").scenario.split == "popular"  # type: ignore[attr-defined]
    assert catalog.load("pope").scenario.split is None  # type: ignore[attr-defined]
    pope = catalog.load("pope_random", profile="lmms-eval")
    assert (pope.metric.extraction, pope.metric.yes_ratio_from) == ("lmms-eval", "answers")  # type: ignore[attr-defined]
    assert pope.scenario.split == "random"  # type: ignore[attr-defined]
    mme = catalog.load("mme", profile="lmms-eval")
    assert mme.metric.extraction == "lmms-eval"  # type: ignore[attr-defined]
    assert catalog.load("mme").version_hash != mme.version_hash
    with pytest.raises(ConfigError, match="task mmr has no such profile"):
        catalog.load("mmr", profile="lmms-eval")
