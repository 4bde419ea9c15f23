"""The gmai_mmbench benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.gmai_mmbench import metric, scenario

__all__ = ["metric", "scenario"]
