"""The mathvista benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.mathvista import metric, scenario

__all__ = ["metric", "scenario"]
