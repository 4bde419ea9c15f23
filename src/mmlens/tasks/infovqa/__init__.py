"""The infovqa benchmark: importing this package registers its scenario (DocVQA's ANLS metric is
registered by importing mmlens.tasks.docvqa, which the scenario module does)."""

from mmlens.tasks.infovqa import scenario

__all__ = ["scenario"]
