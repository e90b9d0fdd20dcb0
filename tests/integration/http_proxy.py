"""A loopback HTTP reverse proxy that hides Synapse's admin API, as many deployments do.

    with AdminHidingProxy(synapse.port) as proxy:
        run roomsync against proxy.url ...
        proxy.admin_requests  # the /_synapse/admin requests it refused

Every request under /_synapse/admin is answered 404 with a plain-text page (what a reverse proxy
that forwards only /_matrix sends); every other request is forwarded to the target and its answer
passed back. Standard library only, every wait bounded, everything on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["AdminHidingProxy"]

HIDDEN = "/_synapse/admin"
# Headers that describe one connection, not the request or answer: never passed on.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade"}


class AdminHidingProxy:
    def __init__(self, target_port: int, timeout: float = 60.0, hide_admin: bool = True):
        self.target_port = target_port
        self.timeout = timeout
        self.hide_admin = hide_admin  # False: a plain recording proxy, the admin API passed through
        self.requests: list[str] = []  # "METHOD PATH" of every request, forwarded or refused
        self.calls: list[tuple[str, str, bytes | None]] = []  # (method, path, body) of every request
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "use AdminHidingProxy as a context manager"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def admin_requests(self) -> list[str]:
        with self._lock:
            return [line for line in self.requests if line.split(" ", 1)[1].startswith(HIDDEN)]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.calls.clear()

    def __enter__(self) -> AdminHidingProxy:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-proxy", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as aiohttp expects

            def log_message(self, format: str, *args: object) -> None:  # quiet: the test reads proxy.requests
                pass

            def _any(self) -> None:
                with proxy._lock:
                    proxy.requests.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy._lock:
                    proxy.calls.append((self.command, self.path, body))
                if proxy.hide_admin and self.path.startswith(HIDDEN):
                    self._answer(404, {"Content-Type": "text/html"}, b"<html><body>404 Not Found</body></html>")
                    return
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.target_port, timeout=proxy.timeout)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    content = response.read()
                    passed = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
                    self._answer(response.status, passed, content)
                finally:
                    upstream.close()

            def _answer(self, status: int, headers: dict[str, str], content: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        return Handler
