"""The mmr benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.mmr import metric, scenario

__all__ = ["metric", "scenario"]
