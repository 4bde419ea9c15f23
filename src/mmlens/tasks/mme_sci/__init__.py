"""The mme_sci benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.mme_sci import metric, scenario

__all__ = ["metric", "scenario"]
