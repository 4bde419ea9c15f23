"""The mmdu benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.mmdu import metric, scenario

__all__ = ["metric", "scenario"]
