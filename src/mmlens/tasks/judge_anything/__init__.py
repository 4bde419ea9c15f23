"""The Judge Anything benchmark: importing this package registers its scenario, inferencer and metrics."""

from mmlens.tasks.judge_anything import inferencer, metric, scenario

__all__ = ["inferencer", "metric", "scenario"]
