"""A small HTTP server on 127.0.0.1 for the download tests: no test reaches the internet.

It serves the files of a folder, and routes that misbehave on purpose:
trickling, stalling, endless, dropped, or failing replies.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

Route = Callable[["_Handler"], None]
_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class _Handler(http.server.SimpleHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        route = self.server.owner.routes.get(self.path)
        if route is None:
            super().do_GET()
            return
        try:
            route(self)
        except _GONE:  # the client hung up, as the tests make it do
            self.close_connection = True

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: LoopbackServer


class LoopbackServer:
    """Serve ``folder`` on 127.0.0.1; ``routes`` maps a path such as ``/x.gz`` to a behaviour."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.routes: dict[str, Route] = {}
        self.stop = threading.Event()
        self.sent: dict[str, int] = {}  # bytes the misbehaving routes managed to write

        def handler(*a: Any, **k: Any) -> _Handler:
            return _Handler(*a, directory=str(folder), **k)

        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The base URL, ending in ``/``."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/"

    def close(self) -> None:
        self.stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    # ---- behaviours -------------------------------------------------------------------

    def trickle(self, name: str, length: int = 100, interval: float = 0.1) -> None:
        """Announce ``length`` bytes, then send one every ``interval`` seconds."""

        def route(h: _Handler) -> None:
            _headers(h, length)
            for _ in range(length):
                if self.stop.wait(interval):
                    return
                h.wfile.write(b"x")

        self.routes["/" + name] = route

    def stall(self, name: str, length: int = 1000, first: int = 10) -> None:
        """Announce ``length`` bytes, send ``first``, then nothing until the server closes."""

        def route(h: _Handler) -> None:
            _headers(h, length)
            h.wfile.write(b"x" * first)
            self.stop.wait(30)

        self.routes["/" + name] = route

    def endless(self, name: str, total: int, announce: bool) -> None:
        """Send ``total`` zero bytes (``Content-Length`` only if ``announce``)."""

        def route(h: _Handler) -> None:
            _headers(h, total if announce else None)
            block = bytes(1 << 16)
            self.sent[name] = 0
            while self.sent[name] < total and not self.stop.is_set():
                h.wfile.write(block)
                self.sent[name] += len(block)

        self.routes["/" + name] = route

    def drop(self, name: str, body: bytes, announced: int) -> None:
        """Announce ``announced`` bytes, send ``body``, and close the connection."""

        def route(h: _Handler) -> None:
            _headers(h, announced)
            h.wfile.write(body)
            h.close_connection = True

        self.routes["/" + name] = route

    def status(self, name: str, code: int) -> None:
        """Answer with the HTTP error ``code``."""
        self.routes["/" + name] = lambda h: h.send_error(code)


def _headers(h: _Handler, length: int | None) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "application/octet-stream")
    if length is not None:
        h.send_header("Content-Length", str(length))
    h.end_headers()


def closed_port_url() -> str:
    """A 127.0.0.1 URL where nothing listens (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
