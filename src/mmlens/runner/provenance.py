"""Provenance: what a number was computed from, so that it can be traced and reproduced."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

import mmlens
from mmlens.core.requests import canonical_json
from mmlens.core.results import TaskProvenance
from mmlens.core.sample import Sample
from mmlens.core.task import Task


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the mmlens source tree, when it runs from a git checkout."""
    source = Path(mmlens.__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no", "."],
        capture_output=True,
        text=True,
        timeout=5,
    ).stdout.strip()
    return result.stdout.strip() + ("+dirty" if dirty else "")


def dataset_fingerprint(samples: list[Sample]) -> str:
    digest = hashlib.sha256()
    for sample in samples:
        digest.update(canonical_json(sample.canonical()).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def task_provenance(task: Task) -> TaskProvenance:
    return TaskProvenance(
        name=task.name,
        version=task.config.version,
        version_hash=task.version_hash,
        profile=task.profile,
        source=str(task.source),
        inferencer=task.config.inferencer,
        instruction=task.config.instruction,
        metric=task.config.metric,
    )


def environment() -> dict[str, Any]:
    """The mmlens version and commit, Python and platform: ``Provenance``'s first four fields."""
    return {
        "mmlens_version": mmlens.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
