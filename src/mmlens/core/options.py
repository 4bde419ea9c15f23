"""Option letters of multiple-choice questions and their rotations (shared by scenarios,
instructions, inferencers, metrics and transforms)."""

from __future__ import annotations

LETTERS = "ABCDEFGHIJ"


def option_letters(choices: list[str] | None, default: str = "ABCD") -> str:
    """The letters of ``choices`` (A, B, ...), or ``default`` for a question without listed options."""
    return LETTERS[: len(choices)] if choices else default


def rotate_options(choices: list[str], answer_position: int, k: int) -> tuple[list[str], int]:
    """Pass k of CircularEval: position p shows original option (p + k) mod n; also returns the
    answer's new position."""
    n = len(choices)
    return [choices[(p + k) % n] for p in range(n)], (answer_position - k) % n
