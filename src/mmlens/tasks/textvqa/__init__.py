"""The textvqa benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.textvqa import metric, scenario

__all__ = ["metric", "scenario"]
