"""`mmlens view` answers only requests addressed to 127.0.0.1 or localhost: a page on another name
that resolves to 127.0.0.1 (DNS rebinding) gets 421, never the report."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mmlens.report.serve import host_is_local, start_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    (tmp_path / "report.html").write_text("<html>the report</html>", encoding="utf-8")
    httpd = start_server(tmp_path, 0)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


def get(port: int, host: str | None, method: str = "GET") -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, "/report.html", skip_host=True)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST", "127.0.0.1", "[::1]:{port}"]
)
def test_local_names_get_the_report(server: int, host: str) -> None:
    status, body = get(server, host.format(port=server))
    assert status == 200 and b"the report" in body


@pytest.mark.parametrize(
    "host", ["attacker.example:{port}", "127.0.0.1.attacker.example", "evil.localhost.example", "", None]
)
def test_other_host_headers_are_refused(server: int, host: str | None) -> None:
    status, body = get(server, None if host is None else host.format(port=server))
    assert status == 421 and b"the report" not in body
    status, _ = get(server, None if host is None else host.format(port=server), method="HEAD")
    assert status == 421


def test_host_is_local() -> None:
    assert host_is_local("localhost.:8000") and not host_is_local("localhost:8000@evil")
