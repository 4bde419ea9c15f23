"""The mmneedle benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.mmneedle import metric, scenario

__all__ = ["metric", "scenario"]
