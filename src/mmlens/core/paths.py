"""Where mmlens keeps its files: the home folder and the default store."""

from __future__ import annotations

import os
import re
from pathlib import Path

from mmlens.core.errors import ConfigError

_SERVER_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")


def default_home() -> Path:
    """``$MMLENS_HOME``, else ``~/.mmlens``."""
    return Path(os.environ.get("MMLENS_HOME", Path.home() / ".mmlens"))


def default_store_path() -> Path:
    """``$MMLENS_STORE``, else ``$MMLENS_HOME/store.sqlite`` (``~/.mmlens/store.sqlite``)."""
    explicit = os.environ.get("MMLENS_STORE")
    return store_location(explicit, "MMLENS_STORE") if explicit else default_home() / "store.sqlite"


def store_location(text: str, where: str) -> Path:
    """The SQLite file ``text`` names (``where``: the option or variable, for the message). A server
    URL (``postgresql://...``) is refused in one line that does not repeat it (it may hold a password):
    only SQLite files are supported so far."""
    match = _SERVER_URL.match(text.strip())
    if match:
        raise ConfigError(
            f"{where}: server stores ({match.group('scheme')}://...) are not supported yet; "
            "give the path of a SQLite file"
        )
    return Path(text).expanduser()
