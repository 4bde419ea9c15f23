"""`mmlens view`: serve a built report on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import functools
import http.server
import re
import sys
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


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def _host_allowed(self) -> bool:
        if host_is_local(self.headers.get("Host")):
            return True
        self.send_error(421, "Misdirected Request: serving 127.0.0.1 and localhost only")
        return False

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        if self._host_allowed():
            super().do_GET()

    def do_HEAD(self) -> None:  # noqa: N802 - the base class's name
        if self._host_allowed():
            super().do_HEAD()


def start_server(folder: Path, port: int) -> http.server.ThreadingHTTPServer:
    """A server for the files of ``folder`` on 127.0.0.1:``port`` (0: any free port)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as error:
        raise MmlensError(
            f"cannot serve on 127.0.0.1:{port} ({error.strerror}); pick another --port"
        ) from None


def serve_report(report: Path, port: int, out: TextIO = sys.stdout) -> None:
    """Serve ``report`` (a file in its own folder) and print its URL; returns on Ctrl-C."""
    server = start_server(report.parent, port)
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
