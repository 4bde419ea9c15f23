"""The human_mme benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.human_mme import metric, scenario

__all__ = ["metric", "scenario"]
