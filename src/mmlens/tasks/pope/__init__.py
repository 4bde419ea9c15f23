"""The pope benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.pope import metric, scenario

__all__ = ["metric", "scenario"]
