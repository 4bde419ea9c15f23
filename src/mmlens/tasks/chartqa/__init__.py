"""The chartqa benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.chartqa import metric, scenario

__all__ = ["metric", "scenario"]
