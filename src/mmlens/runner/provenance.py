"""Provenance: what a number was computed from, so that it can be traced and reproduced."""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

import mmlens
from mmlens.core.canonical import canonical_json_object
from mmlens.core.results import ProcessProvenance, TaskProvenance
from mmlens.core.sample import Sample
from mmlens.core.task import Task
from mmlens.models.hf_identity import library_versions


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
    """The hash of every sample's ``canonical_json(sample.canonical())``, one a line (each
    message's cached canonical JSON reused: the request keys encoded the same messages)."""
    digest = hashlib.sha256()
    for sample in samples:
        messages = "[" + ",".join(message.canonical_json() for message in sample.messages) + "]"
        digest.update(canonical_json_object(sample.canonical(), {"messages": messages}).encode("utf-8"))
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
        transforms=task.transform_labels,
    )


def environment() -> dict[str, Any]:
    """The mmlens version and commit, Python and platform: ``Provenance``'s first four fields, and
    the versions of the installed libraries that compute answers (``libraries``, when any is)."""
    found: dict[str, Any] = {
        "mmlens_version": mmlens.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    libraries = library_versions()
    return {**found, "libraries": libraries} if libraries else found


def process_start_time(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (field 22 of Linux's
    /proc/PID/stat); None where there is no /proc or no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
        # the command name (field 2) is in parentheses and may hold spaces or parentheses itself
        return int(stat[stat.rindex(")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def boot_id() -> str | None:
    """This boot's id (Linux); a pid and a start time are only unique within one boot."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def this_process() -> ProcessProvenance:
    pid = os.getpid()
    return ProcessProvenance(
        host=socket.gethostname(), pid=pid, start_time=process_start_time(pid), boot_id=boot_id()
    )


def process_is_gone(process: ProcessProvenance) -> bool:
    """Whether the process that a run row names has ended: only answerable on the host that ran it
    (elsewhere: False). A live process with the same pid but another start time or boot is another
    process, the pid reused after the run's own process was killed."""
    if process.host is None or process.host != socket.gethostname():
        return False
    if process.pid is None:
        return True
    try:
        os.kill(process.pid, 0)
    except (OSError, OverflowError):
        return True
    if process.boot_id is not None and boot_id() not in (None, process.boot_id):
        return True
    if process.start_time is not None:
        now = process_start_time(process.pid)
        if now is not None and now != process.start_time:
            return True
    return False
