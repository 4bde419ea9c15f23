"""The mme_emotion benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.mme_emotion import metric, scenario

__all__ = ["metric", "scenario"]
