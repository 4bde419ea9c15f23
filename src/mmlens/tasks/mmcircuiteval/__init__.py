"""The mmcircuiteval benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.mmcircuiteval import metric, scenario

__all__ = ["metric", "scenario"]
