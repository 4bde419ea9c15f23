"""The mbeir benchmark: importing this package registers its scenario and metric (and the
``embed_candidates`` inferencer it uses)."""

from mmlens.inferencers import embed
from mmlens.tasks.mbeir import metric, scenario

__all__ = ["embed", "metric", "scenario"]
