"""The mme benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.mme import metric, scenario

__all__ = ["metric", "scenario"]
