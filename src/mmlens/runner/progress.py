"""The run's progress bar: samples of one task (not requests), and what a resumed run found saved.

A sample counts once all its requests of the round are answered (from the store or the model), so
two samples asking the same question (one unique request) are two samples, and a judged or
multi-turn task shows each round in turn (``<task> · round 2``). When a run starts with answers
already in the store it says so first: ``resuming <task>: N of M samples already saved``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO


class SampleProgress:
    """A tqdm bar on ``out`` (stderr) counting samples; silent when disabled."""

    def __init__(self, task: str, enabled: bool, out: TextIO | None = None) -> None:
        self.task = task
        self.enabled = enabled
        self.out = out if out is not None else sys.stderr
        self.round = 0
        self._waiting: dict[str, list[int]] = {}  # unanswered key -> the samples waiting for it
        self._left: list[int] = []  # per sample of the round: its unanswered keys
        self._done = 0
        self._bar: Any = None
        self._errors = 0

    def start_round(self, round_number: int, sample_keys: Sequence[Sequence[str]]) -> None:
        """A round begins: ``sample_keys`` holds each active sample's request keys."""
        self.close()
        self.round = round_number
        self._waiting = {}
        self._left = []
        self._done = 0
        for slot, keys in enumerate(sample_keys):
            distinct = set(keys)
            self._left.append(len(distinct))
            for key in distinct:
                self._waiting.setdefault(key, []).append(slot)

    def saved(self, keys: Iterable[str]) -> None:
        """Keys the store already answers (before anything is sent)."""
        for key in keys:
            self._answer(key)

    def begin(self) -> None:
        """Everything saved is counted: say what a resumed run found, and show the bar."""
        total = len(self._left)
        if not self.enabled or not total:
            return
        if self.round == 1 and self._done:
            print(
                f"resuming {self.task}: {self._done:,} of {total:,} samples already saved",
                file=self.out,
                flush=True,
            )
        if self._done == total:
            return
        from tqdm import tqdm

        description = self.task if self.round <= 1 else f"{self.task} · round {self.round}"
        self._bar = tqdm(
            total=total,
            initial=self._done,
            desc=description,
            unit="sample",
            file=self.out,
            dynamic_ncols=True,
        )

    def answered(self, key: str, ok: bool) -> None:
        """A response arrived from the model."""
        if not ok:
            self._errors += 1
        before = self._done
        self._answer(key)
        if self._bar is not None:
            if self._done > before:
                self._bar.update(self._done - before)
            if not ok:
                self._bar.set_postfix(errors=self._errors, refresh=False)

    def _answer(self, key: str) -> None:
        for slot in self._waiting.pop(key, ()):
            self._left[slot] -= 1
            if self._left[slot] == 0:
                self._done += 1

    @property
    def done(self) -> int:
        """Samples of the round whose requests are all answered."""
        return self._done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
