"""The ocrbench benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.ocrbench import metric, scenario

__all__ = ["metric", "scenario"]
