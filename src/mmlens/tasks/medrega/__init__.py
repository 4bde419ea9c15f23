"""The medrega benchmark: importing this package registers its scenario and metrics."""

from mmlens.tasks.medrega import metric, scenario

__all__ = ["metric", "scenario"]
