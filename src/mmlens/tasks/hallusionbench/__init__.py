"""The hallusionbench benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.hallusionbench import metric, scenario

__all__ = ["metric", "scenario"]
