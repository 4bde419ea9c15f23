"""The mbeir benchmark: importing this package registers its scenario and metric (and the
``embed_pool`` inferencer it uses: the pool embedded once, every query ranked against it)."""

from mmlens.inferencers import embed, pool_ranking
from mmlens.tasks.mbeir import metric, scenario

__all__ = ["embed", "metric", "pool_ranking", "scenario"]
