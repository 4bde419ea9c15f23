"""The realworldqa benchmark: its task uses the ``mcq_table`` scenario and the ``harness_mcq`` metric,
registered by the ai2d package (the option-letter rules of lmms-eval and VLMEvalKit live there)."""

from mmlens.tasks import ai2d

__all__ = ["ai2d"]
