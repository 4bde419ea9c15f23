"""Fixtures of the CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.cli_judged_task import build_judged_task


@pytest.fixture(scope="session")
def judged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy per session: its hooks file registers a metric, and a second copy (another path, so
    another module) would clash with it."""
    return build_judged_task(tmp_path_factory.mktemp("judged"))
