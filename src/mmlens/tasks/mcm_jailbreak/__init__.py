"""The mcm_jailbreak benchmark (3MAD / MCM): importing this package registers its scenario and metric."""

from mmlens.tasks.mcm_jailbreak import metric, scenario

__all__ = ["metric", "scenario"]
