"""The mme_videoocr benchmark: importing this package registers its scenario, instruction and metric."""

from mmlens.tasks.mme_videoocr import instruction, metric, scenario

__all__ = ["instruction", "metric", "scenario"]
