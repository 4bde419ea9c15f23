"""Shared fixtures: every test gets its own MMLENS_HOME, so nothing touches ~/.mmlens."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PLUGINS = Path(__file__).resolve().parent / "plugins"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "mmlens-home"
    monkeypatch.setenv("MMLENS_HOME", str(home))
    monkeypatch.delenv("MMLENS_STORE", raising=False)
    return home
