"""A real HTTP server on 127.0.0.1 for end-to-end tests of the CLI against a fake platform."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, str, bytes]  # status, content type, body
Route = Callable[[dict[str, str], bytes], Answer]


def json_answer(body: Any, status: int = 200) -> Answer:
    """A JSON answer."""
    return status, "application/json", json.dumps(body).encode()


@dataclass
class Loopback:
    """Routes `(METHOD, path)` to answers; records the paths asked for."""

    url: str = ""
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _answer(self, method: str) -> None:
        parts = urlsplit(self.path)
        self.server.loopback.seen.append(f"{method} {parts.path}")
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        route = self.server.loopback.routes.get((method, parts.path))
        status, kind, content = (
            route(query, body) if route else json_answer({"error": "no route"}, 404)
        )
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the server's record instead."""


class _Server(ThreadingHTTPServer):
    loopback: Loopback


@contextmanager
def serving(loopback: Loopback) -> Iterator[Loopback]:
    """Serve `loopback` on a free port of 127.0.0.1 until the block ends."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.loopback = loopback
    loopback.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield loopback
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
