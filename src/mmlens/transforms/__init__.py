"""Transforms: applied between Scenario and Instruction, to any task (``--transform NAME[:ARGS]``,
``transforms:`` in task YAML). Each module registers its transforms; ``core.parts.GENERIC_TRANSFORMS``
maps names to modules so that a transform's code is imported only when a task uses it."""
