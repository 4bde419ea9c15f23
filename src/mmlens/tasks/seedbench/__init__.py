"""The seedbench benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.seedbench import metric, scenario

__all__ = ["metric", "scenario"]
