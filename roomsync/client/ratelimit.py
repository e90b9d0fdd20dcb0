"""The homeserver's rate limits as the client meets them: which limiter a request counts against,
a queue per limiter once the server has refused one, and a caller's time budget (SEND_BY)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Callable

from ..errors import RoomsyncError


class NotSent(RoomsyncError):
    """A request was not sent because its time (SEND_BY) had passed."""


# Set by a caller for the requests of one task: none of them goes out after this loop time, and
# none waits in a rate-limit queue past it (a time budget: what has not begun stays undone).
SEND_BY: contextvars.ContextVar[float | None] = contextvars.ContextVar("roomsync_send_by", default=None)


def check_send_by(extra: float = 0.0) -> None:
    limit = SEND_BY.get()
    if limit is not None and asyncio.get_running_loop().time() + extra > limit:
        raise NotSent("the time budget is spent")


def limit_kind(method: str, path: str) -> str | None:
    """Which of the homeserver's rate limiters a request meets (Synapse's rc_* settings), if any."""
    if method == "GET":
        return None
    if path.endswith(("/createRoom", "/upgrade")):
        return "room creation"
    if "/join/" in path or path.endswith("/join"):
        return "joins"
    if path.endswith("/invite"):
        return "invites"
    if "/profile/" in path:
        return "profile changes"
    return "events"  # state events, kicks and the rest count against the message limit


class Limiter:
    """One kind of request the homeserver rate-limits together.

    Until the server refuses one, requests go as fast as they like. Once it answers
    M_LIMIT_EXCEEDED, requests of this kind go one at a time, none before the time the
    server asked for, then paced at the longest wait it asked: they queue instead of
    colliding, so none starves and each costs at most about one refusal.
    """

    def __init__(self) -> None:
        self.serial = False
        self.lock = asyncio.Lock()
        self.open_at = 0.0  # loop time before which no request of this kind may go
        self.pace = 0.0  # the interval the server allows between two requests, as learnt so far
        self.last_passed: float | None = None

    @contextlib.asynccontextmanager
    async def turn(self, announce: Callable[[float], None]) -> AsyncIterator[None]:
        if not self.serial:
            yield
            return
        async with self.lock:
            delay = self.open_at - asyncio.get_running_loop().time()
            check_send_by(max(delay, 0.0))
            if delay > 0:
                announce(delay)
                await asyncio.sleep(delay)
            yield

    def refused(self, wait: float) -> None:
        now = asyncio.get_running_loop().time()
        self.serial = True
        self.open_at = max(self.open_at, now + wait)
        # From the last request that passed to the next the server allows: the true interval,
        # which may be longer than one wait when several limiters apply to the same request.
        since = now - self.last_passed if self.last_passed is not None else None
        self.pace = max(self.pace, wait + since if since is not None and since < 60 else wait)

    def passed(self) -> None:
        now = asyncio.get_running_loop().time()
        self.last_passed = now
        if self.serial:
            self.open_at = now + self.pace
