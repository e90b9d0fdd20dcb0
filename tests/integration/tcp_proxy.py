"""A small loopback TCP proxy for fault-injection tests.

    with TcpProxy(synapse.port) as proxy:
        run roomsync against proxy.url ...
        proxy.sever()          # reset every open connection, refuse new ones
        proxy.resume()         # listen again on the same port, forward as before
        proxy.fail_with(503)   # answer every new request with an HTTP error instead of forwarding
        proxy.freeze_after(r"POST /_matrix/client/v3/createRoom", 3)  # see below
        proxy.freeze_after(..., hold=True); proxy.wait_answered(30)  # the server is idle

Everything is on 127.0.0.1; the proxy only ever connects to the target port given.
Threads, standard library only, every wait bounded. The proxy also records the
request lines it forwards (``proxy.requests``), which lets a test act at a precise
point of a client's run: :meth:`freeze_after` stops passing answers back to the
client once the n-th request matching a pattern has been forwarded, so the server
has done the work but the client never hears about it; a test then kills the
client right there. With ``hold=True`` no later request reaches the server either, and
:meth:`wait_answered` waits until the server has answered every request it was sent: a
test can then kill the server between two requests, never inside one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import random
import re
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Seen", "TcpProxy", "quiet_port"]

_REQUEST_LINE = re.compile(rb"(GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH) (\S+) HTTP/1\.[01]\r\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] \d{3} ")
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


@dataclass(frozen=True)
class Seen:
    """One request line the proxy forwarded (or answered itself)."""

    at: float  # time.monotonic()
    method: str
    path: str
    answered_by_proxy: bool = False

    @property
    def line(self) -> str:
        return f"{self.method} {self.path}"


def quiet_port() -> int:
    """A free loopback port below the kernel's ephemeral range (ports it hands out itself).

    While nothing listens on a port (a severed proxy, a killed Synapse), any outgoing
    connection on the machine may be given it as its own end, and the port cannot be bound
    again until that connection is gone; the busier the machine, the likelier. A port outside
    that range is never given out so.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0  # not Linux: let the kernel pick
    for port in random.sample(range(min(10000, low // 2), low), 50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                continue
            return port
    return 0


def _abort(sock: socket.socket) -> None:
    """Close a socket with a TCP reset (as a crashed peer or a cut cable would look), ignoring errors."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    """Forward 127.0.0.1:<port> to 127.0.0.1:<target_port>; can cut, refuse, fail or freeze traffic."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.port: int | None = None
        self.requests: list[Seen] = []
        self.accepted = 0
        self.forwarded = 0  # requests passed on to the target ...
        self.answered = 0  # ... and answers that came back from it (passed on or held)
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._failing: set[socket.socket] = set()  # connections answered by fail_with()
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        self._refusing = False
        self._fail_status: int | None = None
        self._unfrozen = threading.Event()
        self._unfrozen.set()
        self._freeze: tuple[re.Pattern[str], int, threading.Event, bool] | None = None
        self._holding = False  # requests wait in the proxy (set with a freeze's hold)
        self._released = threading.Event()
        self._released.set()

    # -- lifecycle ---------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        self._listen()
        thread = threading.Thread(target=self._accept_loop, name="tcp-proxy-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._unfrozen.set()
        self._released.set()
        self._close_listener()
        self._cut_all()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- faults ------------------------------------------------------------------

    def sever(self) -> None:
        """Reset every open connection and refuse new ones (the port stops listening) until resume()."""
        with self._lock:
            self._refusing = True
        self._close_listener()
        self._cut_all()

    def resume(self) -> None:
        """Listen again on the same port and forward normally (also ends fail_with and freezes).

        Connections that fail_with() answered are reset, so that a client's kept-alive
        connection does not go on getting errors."""
        with self._lock:
            self._fail_status = None
            self._freeze = None
            self._holding = False
            refusing, self._refusing = self._refusing, False
            failing, self._failing = list(self._failing), set()
        for sock in failing:
            self._untrack(sock)
        self._unfrozen.set()
        self._released.set()
        if refusing:
            self._listen()

    def fail_with(self, status: int = 503) -> None:
        """Answer every request on new connections with `status` (a Matrix-style JSON error) until resume().

        Open connections are reset, so that nothing already on the wire reaches the server.
        """
        with self._lock:
            self._fail_status = status
        self._cut_all()

    def freeze_after(self, pattern: str, count: int, hold: bool = False) -> threading.Event:
        """Once the `count`-th request whose "METHOD PATH" matches `pattern` has been forwarded, stop
        passing any answer back to the client (requests still reach the server, but with `hold`
        the later ones wait in the proxy). Returns an event set at that moment. resume() unfreezes."""
        event = threading.Event()
        with self._lock:
            already = sum(1 for seen in self.requests if re.search(pattern, seen.line))
            self._freeze = (re.compile(pattern), count, event, hold)
            if already >= count:
                self._start_freeze(event, hold)
        return event

    def wait_answered(self, timeout: float) -> bool:
        """Wait (bounded) until the target has answered every request forwarded to it; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.answered >= self.forwarded:
                    return True
            time.sleep(0.01)
        return False

    def seen(self, pattern: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.requests if re.search(pattern, s.line)]

    def wait_for(self, pattern: str, count: int, timeout: float) -> bool:
        """Wait (bounded) until `count` requests matching `pattern` have passed; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.seen(pattern)) >= count:
                return True
            time.sleep(0.01)
        return False

    # -- internals -----------------------------------------------------------------

    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Listening again right after sever(): the old listener lingers while the accept thread's
        # select() (0.1 s) still holds it.
        deadline = time.monotonic() + 5
        while True:
            try:
                sock.bind(("127.0.0.1", self.port or quiet_port()))
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or self.port is None or time.monotonic() > deadline:
                    sock.close()
                    raise
                time.sleep(0.02)
        sock.listen(128)
        self.port = sock.getsockname()[1]
        with self._lock:
            self._listener = sock

    def _close_listener(self) -> None:
        with self._lock:
            sock, self._listener = self._listener, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def _cut_all(self) -> None:
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            _abort(sock)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        _abort(sock)

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            with self._lock:
                listener = self._listener
            if listener is None:
                time.sleep(0.02)
                continue
            try:
                ready, _, _ = select.select([listener], [], [], 0.1)
                if not ready:
                    continue
                client, _ = listener.accept()
            except (OSError, ValueError):
                continue  # the listener was closed under us (sever/stop)
            with self._lock:
                self.accepted += 1
                refusing, failing = self._refusing, self._fail_status
            if refusing:
                _abort(client)
                continue
            target = self._fail_connection if failing else self._connect
            thread = threading.Thread(target=target, args=(client, failing), name="tcp-proxy-conn", daemon=True)
            thread.start()
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _start_freeze(self, event: threading.Event, hold: bool) -> None:
        """With the lock held."""
        self._unfrozen.clear()
        if hold:
            self._holding = True
            self._released.clear()
        event.set()

    def _record(self, data: bytes, by_proxy: bool = False) -> tuple[list[Seen], bool]:
        """Record the request lines in `data`; and whether it must wait in the proxy (a hold that
        began before it: the request that starts a freeze still goes through)."""
        found = [
            Seen(time.monotonic(), m.group(1).decode(), m.group(2).decode("latin-1"), by_proxy)
            for m in _REQUEST_LINE.finditer(data)
        ]
        if not found:
            return found, False  # the rest of a request already on its way (its body)
        with self._lock:
            held = self._holding
            self.requests.extend(found)
            if self._freeze is not None and not by_proxy:
                pattern, count, event, hold = self._freeze
                if sum(1 for s in self.requests if pattern.search(s.line)) >= count and not event.is_set():
                    self._start_freeze(event, hold)
        return found, held

    def _connect(self, client: socket.socket, _failing: object) -> None:
        self._track(client)
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            self._untrack(client)  # the server is down: the client sees its connection reset
            return
        upstream.settimeout(None)
        self._track(upstream)
        down = threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True)
        down.start()
        self._pump(client, upstream, True)
        down.join(timeout=10)

    def _pump(self, src: socket.socket, dst: socket.socket, requests: bool) -> None:
        try:
            while not self._stopped.is_set():
                ready, _, _ = select.select([src], [], [], 0.2)
                if not ready:
                    continue
                data = src.recv(65536)
                if not data:
                    break
                if requests:
                    # Record first: a freeze triggered by this request is in place before it can be answered.
                    found, held = self._record(data)
                    while held and not self._released.wait(0.1):
                        if self._stopped.is_set():
                            return
                    with self._lock:
                        self.forwarded += len(found)  # before it can be answered
                    dst.sendall(data)
                else:
                    with self._lock:
                        self.answered += len(_STATUS_LINE.findall(data))
                    while not self._unfrozen.wait(0.1):
                        if self._stopped.is_set():
                            return
                    dst.sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            self._untrack(src)
            self._untrack(dst)

    def _fail_connection(self, client: socket.socket, status: int) -> None:
        """Play a server that answers every request with `status`, keeping the connection alive."""
        self._track(client)
        with self._lock:
            self._failing.add(client)
        buffer = b""
        body = json.dumps({"errcode": "M_UNKNOWN", "error": f"injected {status} by the test proxy"}).encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        try:
            client.settimeout(30)
            while not self._stopped.is_set():
                while b"\r\n\r\n" not in buffer:
                    data = client.recv(65536)
                    if not data:
                        return
                    buffer += data
                headers, buffer = buffer.split(b"\r\n\r\n", 1)
                self._record(headers + b"\r\n", by_proxy=True)
                length = re.search(rb"(?im)^content-length:\s*(\d+)", headers)
                needed = int(length.group(1)) if length else 0
                while len(buffer) < needed:
                    data = client.recv(65536)
                    if not data:
                        return
                    buffer += data
                buffer = buffer[needed:]
                client.sendall(head + body)
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._failing.discard(client)
            self._untrack(client)
