"""The unreadable-image check of a large first run, done in a child process beside the run.

Before anything is sent, every image of a sample that still needs a model is checked to decode
(``ImageRef.unreadable_reason``), so that a corrupt file is one bad sample, not a request retried on
every run. On a first run of 50,000 rows that check was a third of the run's own work (reading each
image from the data and parsing its header, ~0.1-0.3 ms each). An image that can be read again from
its ``source()`` (a file, a parquet/arrow/TSV cell) is checked here instead, in another process that
reads the data itself, while the run plans, keys and looks up its requests; the run takes the
verdicts when it needs them (``ReadabilityChecker.verdicts``) and checks whatever the child did not
answer for itself, as before. The verdicts are the very messages the in-process check gives.

The check takes longer than the planning it runs beside (50,000 parquet JPEGs: ~9 s of one core
against ~4 s of planning), so the run would then wait for it with a core idle: the images are
split, in data order, between one child per core (at most ``MAX_CHILDREN``, each with at least
``IMAGES_PER_CHILD``), which share the cores with the run while it plans and have them all while it
waits.

Protocol: the parent writes one JSON list ``[[digest, label, source], ...]`` on stdin and closes it;
the child writes one JSON object ``{digest: reason or null}`` on stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import Any

from mmlens.core.errors import DataError
from mmlens.core.media import BytesImage, FileImage, ImageRef, sha256_hex


def check_sources(items: list[list[Any]]) -> dict[str, str | None]:
    """The unreadable reason (None: readable) of each (digest, label, source)."""
    from mmlens.scenarios.tables import reopen_table

    verdicts: dict[str, str | None] = {}
    tables: dict[str, Any] = {}
    keyed = [(json.dumps(item[2].get("table"), sort_keys=True), item) for item in items]  # once each
    keyed.sort(key=lambda pair: (pair[0], pair[1][2].get("row", 0)))
    for key, (digest, label, source) in keyed:
        try:
            if "file" in source:
                image: ImageRef = FileImage(source["file"])
                data = image.encoded()
            else:
                if key not in tables:
                    tables[key] = reopen_table(source["table"])
                data = tables[key].image_at(source["row"], source["column"], label, source.get("item"))
        except DataError as error:
            verdicts[digest] = str(error)
            continue
        if "sha256:" + sha256_hex(data) != digest:
            verdicts[digest] = f"image {label} changed since the data was read (its content hash differs)"
            continue
        verdicts[digest] = BytesImage(data, label=label).unreadable_reason()
    return verdicts


MAX_CHILDREN = 4
IMAGES_PER_CHILD = 2000


class _Child:
    """One child process checking ``items``; ``answer`` once ``join`` returns ({} if it failed)."""

    def __init__(self, items: list[list[Any]]) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "mmlens.runner.readability_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.answer: dict[str, str | None] = {}
        self._thread = threading.Thread(target=self._talk, args=(json.dumps(items).encode(),), daemon=True)
        self._thread.start()

    def _talk(self, request: bytes) -> None:
        try:
            output, _ = self._process.communicate(request)
            if self._process.returncode == 0:
                self.answer = json.loads(output)
        except (OSError, ValueError):
            self.answer = {}

    def join(self) -> None:
        self._thread.join()

    def cancel(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._thread.join()


def child_count(images: int, cores: int | None = None) -> int:
    """One child per core, at most MAX_CHILDREN, each with at least IMAGES_PER_CHILD images."""
    return max(1, min(cores or os.cpu_count() or 1, MAX_CHILDREN, images // IMAGES_PER_CHILD))


class ReadabilityChecker:
    """The child processes checking ``images`` (each with a source), ``children`` of them (default
    ``child_count``), each a contiguous share in data order; ``verdicts()`` waits for them. A child
    that fails answers nothing (the run then checks its images in-process)."""

    def __init__(self, images: list[ImageRef], children: int | None = None) -> None:
        items = [[image.digest, image.describe(), image.source()] for image in images]
        count = max(1, min(children or child_count(len(items)), len(items) or 1))
        bounds = [len(items) * part // count for part in range(count + 1)]
        self._children = [_Child(items[start:end]) for start, end in zip(bounds, bounds[1:], strict=False)]

    def verdicts(self) -> dict[str, str | None]:
        answers: dict[str, str | None] = {}
        for child in self._children:
            child.join()
            answers.update(child.answer)
        return answers

    def cancel(self) -> None:
        for child in self._children:
            child.cancel()


if __name__ == "__main__":
    sys.stdout.write(json.dumps(check_sources(json.loads(sys.stdin.buffer.read()))))
