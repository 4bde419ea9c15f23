"""The seedbench2_l3 benchmark: importing this package registers its scenario and inferencer (the
metric is SEED-Bench's own, ``seedbench``)."""

from mmlens.tasks.seedbench import metric as seedbench_metric
from mmlens.tasks.seedbench2_l3 import inferencer, scenario

__all__ = ["inferencer", "scenario", "seedbench_metric"]
