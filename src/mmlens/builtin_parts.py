"""Importing this module registers every built-in scenario, instruction, inferencer and metric."""

import importlib
import pkgutil

import mmlens.inferencers
import mmlens.instructions
import mmlens.metrics
import mmlens.scenarios

for _package in (mmlens.scenarios, mmlens.instructions, mmlens.inferencers, mmlens.metrics):
    for _module in pkgutil.iter_modules(_package.__path__):
        if not _module.name.startswith("_"):
            importlib.import_module(f"{_package.__name__}.{_module.name}")
