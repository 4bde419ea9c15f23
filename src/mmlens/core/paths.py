"""Where mmlens keeps its files: the home folder and the default store."""

from __future__ import annotations

import os
from pathlib import Path


def default_home() -> Path:
    """``$MMLENS_HOME``, else ``~/.mmlens``."""
    return Path(os.environ.get("MMLENS_HOME", Path.home() / ".mmlens"))


def default_store_path() -> Path:
    """``$MMLENS_STORE``, else ``$MMLENS_HOME/store.sqlite`` (``~/.mmlens/store.sqlite``)."""
    explicit = os.environ.get("MMLENS_STORE")
    return Path(explicit) if explicit else default_home() / "store.sqlite"
