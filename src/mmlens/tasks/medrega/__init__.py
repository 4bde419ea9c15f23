"""The medrega benchmark: importing this package registers its scenario and metrics."""

from mmlens.tasks.medrega import caption, metric, regions, scenario

__all__ = ["caption", "metric", "regions", "scenario"]
