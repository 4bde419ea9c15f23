"""The mmeb benchmark: importing this package registers its scenario, metric and the
``embed_candidates`` inferencer it uses."""

from mmlens.inferencers import embed
from mmlens.tasks.mmeb import metric, scenario

__all__ = ["embed", "metric", "scenario"]
