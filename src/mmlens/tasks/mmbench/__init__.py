"""The mmbench benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.mmbench import metric, scenario

__all__ = ["metric", "scenario"]
