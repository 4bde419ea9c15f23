"""The shapes benchmark: importing this package registers its scenario."""

from mmlens.tasks.shapes import scenario

__all__ = ["scenario"]
