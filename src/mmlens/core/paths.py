"""Where mmlens keeps its files: the home folder and the default store."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from mmlens.core.errors import ConfigError

_SERVER_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")

SERVER_SCHEMES = ("postgresql", "postgres")
"""URL schemes of server stores (store/postgres.py); ``sqlite://`` names a file."""


def default_home() -> Path:
    """``$MMLENS_HOME``, else ``~/.mmlens``."""
    return Path(os.environ.get("MMLENS_HOME", Path.home() / ".mmlens"))


def default_store_path() -> Path | str:
    """``$MMLENS_STORE``, else ``$MMLENS_HOME/store.sqlite`` (``~/.mmlens/store.sqlite``); a server
    URL is returned as it is (a ``str``)."""
    explicit = os.environ.get("MMLENS_STORE")
    return store_location(explicit, "MMLENS_STORE") if explicit else default_home() / "store.sqlite"


def store_location(text: str, where: str) -> Path | str:
    """What ``text`` names (``where``: the option or variable, for the message): a SQLite file (a
    plain path or ``sqlite:///ABSOLUTE/PATH``) as a Path, or a server URL (``postgresql://...``) as
    it is. Another scheme is refused in one line that does not repeat the URL (it may hold a
    password)."""
    match = _SERVER_URL.match(text.strip())
    if not match:
        return Path(text).expanduser()
    scheme = match.group("scheme").lower()
    if scheme == "sqlite":
        path = unquote(urlsplit(text.strip()).path)
        if not path or path == "/":
            raise ConfigError(f"{where}: sqlite:// names no file; give sqlite:///ABSOLUTE/PATH or a path")
        return Path(re.sub("^/+", "/", path))  # sqlite:////abs (SQLAlchemy's form) too
    if scheme in SERVER_SCHEMES:
        return text.strip()
    raise ConfigError(
        f"{where}: {match.group('scheme')}://... is not a store mmlens can use; give a SQLite file "
        "(a path or sqlite:///PATH) or a PostgreSQL URL (postgresql://USER@HOST:PORT/DATABASE)"
    )


def redacted(url: str) -> str:
    """``url`` without its password (for messages, provenance and --help)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
