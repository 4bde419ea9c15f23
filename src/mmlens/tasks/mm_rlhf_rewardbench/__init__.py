"""The mm_rlhf_rewardbench benchmark: importing this package registers its scenario, inferencer and metric."""

from mmlens.tasks.mm_rlhf_rewardbench import inferencer, metric, scenario

__all__ = ["inferencer", "metric", "scenario"]
