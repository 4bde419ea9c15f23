"""The mme_realworld benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.mme_realworld import metric, scenario

__all__ = ["metric", "scenario"]
