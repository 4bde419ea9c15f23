"""The mmworld benchmark: importing this package registers its scenario, instruction and metric."""

from mmlens.tasks.mmworld import instruction, metric, scenario

__all__ = ["instruction", "metric", "scenario"]
