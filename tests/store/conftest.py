"""Every store test that takes ``store_at`` runs twice: on a SQLite file and on a real PostgreSQL
database (tests/fixtures/postgres.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.store.backends import BACKEND_NAMES, Raw


@pytest.fixture(params=BACKEND_NAMES)
def store_at(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """A fresh store's location: a SQLite file's Path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return tmp_path / "s.sqlite"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def raw(store_at: Path | str) -> Raw:
    return Raw(store_at)
