"""Plugins: extra Python modules that register tasks' parts or model backends.

They come from the ``mmlens.plugins`` entry-point group of installed packages and from the
``MMLENS_PLUGINS`` environment variable (comma-separated module names or .py file paths).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

from mmlens.core.errors import ConfigError

_loaded: set[str] = set()
_entry_points_loaded = False


def import_python_file(path: Path, prefix: str, what: str) -> None:
    """Import a .py file once per process (under a name derived from its path); any failure in it
    becomes one ConfigError that starts with ``what``."""
    name = f"{prefix}_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{what}: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - any failure in the file is the file's, said in one line
        del sys.modules[name]
        raise ConfigError(f"{what}: {path} failed to import: {type(error).__name__}: {error}") from None


def load_plugins() -> None:
    global _entry_points_loaded
    if not _entry_points_loaded:  # scanning installed packages is slow: once per process
        for entry in entry_points(group="mmlens.plugins"):
            try:
                entry.load()
            except Exception as error:  # noqa: BLE001
                raise ConfigError(
                    f"plugin {entry.name} ({entry.value}) failed to import: {type(error).__name__}: {error}"
                ) from None
        _entry_points_loaded = True
    for item in filter(None, (p.strip() for p in os.environ.get("MMLENS_PLUGINS", "").split(","))):
        if item in _loaded:
            continue
        if item.endswith(".py"):
            path = Path(item)
            if not path.is_file():
                raise ConfigError(f"MMLENS_PLUGINS: plugin file {item} does not exist")
            import_python_file(path, "mmlens_plugin", "MMLENS_PLUGINS")
        else:
            try:
                importlib.import_module(item)
            except Exception as error:  # noqa: BLE001 - any failure in a plugin is the plugin's
                raise ConfigError(
                    f"MMLENS_PLUGINS: module {item} failed to import: {type(error).__name__}: {error}"
                ) from None
        _loaded.add(item)
