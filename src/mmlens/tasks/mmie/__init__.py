"""The mmie benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.mmie import metric, scenario

__all__ = ["metric", "scenario"]
