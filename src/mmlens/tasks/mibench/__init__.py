"""The mibench benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.mibench import metric, scenario

__all__ = ["metric", "scenario"]
