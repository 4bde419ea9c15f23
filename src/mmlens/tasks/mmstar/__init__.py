"""The mmstar benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.mmstar import metric, scenario

__all__ = ["metric", "scenario"]
