"""The mmvet benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.mmvet import metric, scenario

__all__ = ["metric", "scenario"]
