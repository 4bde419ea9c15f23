"""The ai2d benchmark: importing this package registers the ``mcq_table`` scenario and the
``harness_mcq`` metric (which scienceqa and realworldqa use as well)."""

from mmlens.tasks.ai2d import harness_rules, metric, scenario

__all__ = ["harness_rules", "metric", "scenario"]
