"""The evalmi benchmark (LMM4LMM / EvalMi-50K): importing this package registers its scenario,
inferencer and metrics."""

from mmlens.tasks.evalmi import inferencer, metric, scenario

__all__ = ["inferencer", "metric", "scenario"]
