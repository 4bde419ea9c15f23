"""Shared fixtures: every test gets its own MMLENS_HOME, so nothing touches ~/.mmlens, and no test
leaves files in the checkout (a run without --output-dir writes mmlens-runs/ in the working folder,
which is the repository root under pytest: such a test fails, naming what it left)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PLUGINS = Path(__file__).resolve().parent / "plugins"


def _one_torch_thread() -> None:
    """One intra-op thread for torch in the test process, once something has imported it (importing
    it here would cost every test run ~3 s). The tests' models are tiny: on a 2-core machine running
    several processes at once, OpenMP's thread hand-offs and spin-waits cost far more than the
    matrices (the tiny-VLM tests ran about twice as fast with one thread). Subprocesses keep their
    defaults (vLLM picks its own threads, and an OMP_NUM_THREADS in its environment makes it
    slower); an explicit OMP_NUM_THREADS wins here too."""
    torch = sys.modules.get("torch")
    if torch is not None and "OMP_NUM_THREADS" not in os.environ and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def pytest_runtest_setup(item: pytest.Item) -> None:
    _one_torch_thread()


def pytest_runtest_call(item: pytest.Item) -> None:
    _one_torch_thread()  # torch imported by this test's fixtures


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "mmlens-home"
    monkeypatch.setenv("MMLENS_HOME", str(home))
    monkeypatch.delenv("MMLENS_STORE", raising=False)
    return home


@pytest.fixture(scope="session")
def checkout_entries() -> set[str]:
    """What the repository's top folder held before the first test."""
    return {path.name for path in REPOSITORY.iterdir()}


@pytest.fixture(autouse=True)
def leaves_no_files_in_the_checkout(checkout_entries: set[str]) -> Iterator[None]:
    yield
    left = sorted({path.name for path in REPOSITORY.iterdir()} - checkout_entries)
    if left:
        checkout_entries.update(left)  # this test is the one that fails, not every one after it
        pytest.fail(
            f"the test left {', '.join(left)} in the checkout ({REPOSITORY}): give it a tmp_path "
            "(--output-dir, store, -o), never the working folder"
        )


from tests.fixtures.postgres import postgres_server, postgres_url  # noqa: E402, F401 - shared fixtures
