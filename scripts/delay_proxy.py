"""A loopback TCP proxy that adds a fixed round-trip time, for the benchmark's slow-link scenarios.

    with DelayProxy(synapse.port, rtt=0.050) as proxy:
        run roomsync against proxy.url ...

Every byte waits rtt/2 on its way to the server and rtt/2 on its way back, in order, so a
request and its answer cost one round trip more than on loopback; a new connection costs one
round trip more again before its first byte goes out (a TCP handshake over the same link).
Bandwidth is not limited. It listens on 127.0.0.1 only, connects only to 127.0.0.1:target_port,
runs in a daemon thread of the caller's process (it dies with it), and stops by itself after
`lifetime` seconds if nobody stops it first. Standard library only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

__all__ = ["DelayProxy"]


class DelayProxy:
    def __init__(self, target_port: int, rtt: float, lifetime: float = 3600.0):
        self.target_port = target_port
        self.rtt = rtt
        self.lifetime = lifetime
        self.port: int | None = None
        self.connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> DelayProxy:
        self._thread = threading.Thread(target=self._run, name="delay-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self.port is None:
            raise RuntimeError("the delay proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended (lifetime)
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.lifetime)
            server.close()
            for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
                task.cancel()

    async def _connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        opened = time.monotonic()
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except (OSError, asyncio.CancelledError):
            client_writer.close()
            return
        half = self.rtt / 2
        # The handshake's round trip: the client's first bytes leave one rtt after it connected.
        try:
            await asyncio.gather(
                _pump(client_reader, server_writer, half, not_before=opened + self.rtt),
                _pump(server_reader, client_writer, half),
                return_exceptions=True,
            )
        except asyncio.CancelledError:
            pass  # stopped: the connections are closed below
        finally:
            client_writer.close()
            server_writer.close()


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float, not_before: float = 0.0
) -> None:
    """Copy reader to writer, each chunk `delay` seconds after it arrived, in order; pass on the end."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def read() -> None:
        while data := await reader.read(65536):
            await queue.put((max(time.monotonic() + delay, not_before + delay), data))
        await queue.put((time.monotonic() + delay, b""))

    reading = asyncio.create_task(read())
    try:
        while True:
            due, data = await queue.get()
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (OSError, ConnectionError):
        pass
    finally:
        reading.cancel()
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()
