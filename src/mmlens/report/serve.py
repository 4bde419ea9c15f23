"""`mmlens view`: serve a built report on 127.0.0.1 until Ctrl-C, rebuilt when the store changes.

The page asks ``/__mmlens/state`` every few seconds. The server compares the store's state (the
modification time and size of the SQLite file and its write-ahead log: a run saving responses or
finishing changes them) with the one the report was built from; when it changed, it rebuilds the
report (once, whoever asks) and answers the new state, and the page, built from another, reloads.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from mmlens.core.errors import MmlensError

# Names a browser on this machine uses for the server. Any other Host header is refused: a web page
# whose own name resolves to 127.0.0.1 (DNS rebinding) could otherwise read the report.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
_HOST_HEADER = re.compile(r"(?P<name>\[[0-9a-f:.]*\]|[^:\[\]]+)(?::\d{1,5})?")


def host_is_local(host: str | None) -> bool:
    """Whether a Host header names this machine (``127.0.0.1``, ``localhost``, with any port)."""
    match = _HOST_HEADER.fullmatch((host or "").strip().lower())
    return match is not None and match.group("name").rstrip(".") in LOCAL_HOSTS


STATE_PATH = "/__mmlens/state"


def store_state(path: Path) -> str:
    """What changes when a run writes to the store: the database file's and its WAL's mtime and size."""
    parts = []
    for file in (path, path.with_name(path.name + "-wal")):
        try:
            stat = file.stat()
        except OSError:
            parts.append("-")
            continue
        parts.append(f"{stat.st_mtime_ns:x}.{stat.st_size:x}")
    return "_".join(parts)


class LiveReport:
    """The report of a store, rebuilt by ``rebuild(state)`` whenever the store's state has changed."""

    def __init__(self, store: Path | Callable[[], str], rebuild: Callable[[str], Any]) -> None:
        # a SQLite file, or what tells a server store's state (Store.state through a new connection)
        self.store = store
        self.rebuild = rebuild
        self.lock = threading.Lock()
        self.built = ""
        self.last: Any = None  # what the last rebuild returned

    def build(self) -> str:
        """Build it now; the state it was built from."""
        with self.lock:
            state = self.store() if callable(self.store) else store_state(self.store)
            self.last = self.rebuild(state)
            self.built = state
            return state

    def current(self) -> str:
        """The state of the report as served: rebuilt first if the store changed since."""
        with self.lock:
            state = self.store() if callable(self.store) else store_state(self.store)
            if state != self.built:
                try:
                    self.last = self.rebuild(state)
                except Exception as error:  # noqa: BLE001 - the page keeps the last good report
                    print(f"the report could not be rebuilt: {error}", file=sys.stderr, flush=True)
                    return self.built
                self.built = state
            return self.built


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    live: LiveReport | None = None

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def _host_allowed(self) -> bool:
        if host_is_local(self.headers.get("Host")):
            return True
        self.send_error(421, "Misdirected Request: serving 127.0.0.1 and localhost only")
        return False

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        if not self._host_allowed():
            return
        if self.live is not None and self.path.split("?", 1)[0] == STATE_PATH:
            body = json.dumps({"state": self.live.current()}).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def do_HEAD(self) -> None:  # noqa: N802 - the base class's name
        if self._host_allowed():
            super().do_HEAD()


def start_server(folder: Path, port: int, live: LiveReport | None = None) -> http.server.ThreadingHTTPServer:
    """A server for the files of ``folder`` on 127.0.0.1:``port`` (0: any free port); with ``live``,
    also the store's state at ``/__mmlens/state``."""
    handler_class = type("_Handler", (_QuietHandler,), {"live": live}) if live is not None else _QuietHandler
    handler = functools.partial(handler_class, directory=str(folder))
    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as error:
        raise MmlensError(
            f"cannot serve on 127.0.0.1:{port} ({error.strerror}); pick another --port"
        ) from None


def serve_report(report: Path, port: int, out: TextIO = sys.stdout, live: LiveReport | None = None) -> None:
    """Serve ``report`` (a file in its own folder) and print its URL; returns on Ctrl-C."""
    server = start_server(report.parent, port, live)
    bound_port = server.server_address[1]
    print(
        f"serving the report at http://127.0.0.1:{bound_port}/{report.name} (Ctrl-C to stop)",
        file=out,
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("stopped", file=out, flush=True)
    finally:
        server.server_close()
