"""The mmxu benchmark: importing this package registers its scenario."""

from mmlens.tasks.mmxu import scenario

__all__ = ["scenario"]
