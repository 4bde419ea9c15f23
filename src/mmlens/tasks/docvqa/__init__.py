"""The docvqa benchmark: importing this package registers its scenario and the ANLS metric
(which infovqa shares)."""

from mmlens.tasks.docvqa import anls, metric, scenario

__all__ = ["anls", "metric", "scenario"]
