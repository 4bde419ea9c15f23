"""The llava_bench benchmark: importing this package registers its scenario and metric."""

from mmlens.tasks.llava_bench import metric, scenario

__all__ = ["metric", "scenario"]
