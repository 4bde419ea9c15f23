"""The mmvm benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.mmvm import metric, scenario

__all__ = ["metric", "scenario"]
