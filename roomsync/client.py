"""The only module that talks to the homeserver.

matrix-nio provides the HTTP session (aiohttp, TLS and proxy settings). Requests
are sent raw through AsyncClient.send because nio's high-level helpers retry
forever, corrupt alt_aliases and report some HTTP errors as success. Here every
request has bounded retries, a bounded number in flight, and errors become
MatrixError / HomeserverError whose messages never contain the access token.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
from nio import AsyncClient, AsyncClientConfig

from .errors import HomeserverError, MatrixError, RoomsyncError

log = logging.getLogger(__name__)

CLIENT = "/_matrix/client/v3"
ADMIN = "/_synapse/admin/v1"
SLIDING_SYNC = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"


@dataclass(frozen=True)
class RetryPolicy:
    in_flight: int = 16  # requests on the wire at once
    rate_limited_tries: int = 12  # M_LIMIT_EXCEEDED answers tolerated per request
    max_wait: float = 3600.0  # cap on one retry_after_ms wait, seconds (a time budget bounds a run)
    transient_tries: int = 4  # 5xx answers or connection failures tolerated per request
    backoff: float = 0.5  # first backoff after a transient failure, doubling each time
    timeout: float = 60.0  # one request, seconds
    connect_timeout: float = 10.0  # TCP connect plus TLS handshake: a silent host fails fast
    first_timeout: float = 10.0  # the first request of a run: a wrong URL is reported in seconds


class AuthError(HomeserverError):
    """The homeserver does not accept the access token."""


class NotSent(RoomsyncError):
    """A request was not sent because its time (SEND_BY) had passed."""


# Set by a caller for the requests of one task: none of them goes out after this loop time, and
# none waits in a rate-limit queue past it (a time budget: what has not begun stays undone).
SEND_BY: contextvars.ContextVar[float | None] = contextvars.ContextVar("roomsync_send_by", default=None)


def _check_send_by(extra: float = 0.0) -> None:
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


class _Limiter:
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
            _check_send_by(max(delay, 0.0))
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


def seg(value: str) -> str:
    """A room id, alias or user id as one URL path segment."""
    return quote(value, safe="")


def check_token(token: str) -> str:
    token = token.strip()
    if not token:
        raise HomeserverError("the access token is empty")
    if any(not (33 <= ord(c) <= 126) for c in token):
        raise HomeserverError("the access token contains whitespace or non-ASCII characters")
    return token


class Homeserver:
    """An authenticated connection to one homeserver. Use as an async context manager."""

    def __init__(
        self,
        base_url: str,
        token: str,
        policy: RetryPolicy | None = None,
        token_source: str = "ROOMSYNC_ACCESS_TOKEN / ROOMSYNC_ACCESS_TOKEN_FILE",
    ):
        self.base_url = base_url.rstrip("/")
        self._token = check_token(token)
        self._token_source = token_source  # named in a rejected-token message
        self._headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}
        self.policy = policy or RetryPolicy()
        self._slots = asyncio.Semaphore(self.policy.in_flight)
        self._limiters: dict[str, _Limiter] = defaultdict(_Limiter)
        self._nio: AsyncClient | None = None
        # Counters for the benchmark and tests: requests sent (retries included), the most
        # ever on the wire at once, and M_LIMIT_EXCEEDED answers seen.
        self.requests = 0
        self.peak_in_flight = 0
        self.rate_limited = 0
        self._in_flight = 0
        # Set once a request has used up its retries against an unreachable or failing server:
        # every later request fails at once instead of retrying all over again.
        self.unavailable: str | None = None
        self.sliding: bool | None = None  # does the server answer sliding sync? None: not asked yet
        # Called with a one-line message before a wait a person would notice (rate limit, backoff).
        self.on_wait: Callable[[str], None] | None = None

    async def __aenter__(self) -> Homeserver:
        # max_limit_exceeded/max_timeouts of 0: nio must never retry on its own (it would forever).
        config = AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0, request_timeout=self.policy.timeout)
        self._nio = AsyncClient(self.base_url, config=config)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._nio is not None:
            await self._nio.close()

    # --- one request, with bounded retries ---------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        what: str,
        missing_ok: bool = False,
        first: bool = False,
    ) -> Any:
        """Send a request; return the decoded JSON answer, or None for a 404 when missing_ok.

        `first` marks the first request of a run: it gets a short timeout and no retries when
        the server cannot be reached, and its failure says what is likely wrong with the URL.
        """
        assert self._nio is not None, "use Homeserver as an async context manager"
        if self.unavailable:
            raise HomeserverError(f"not attempted ({what}): {self.unavailable}")
        policy = self.policy
        data = None if body is None else json.dumps(body)
        if first:
            connect = min(policy.connect_timeout, policy.first_timeout / 2)
            timeout = aiohttp.ClientTimeout(total=policy.first_timeout, connect=connect)
        else:
            timeout = aiohttp.ClientTimeout(total=policy.timeout, connect=policy.connect_timeout)
        limited = transient = 0
        kind = limit_kind(method, path)
        limiter = self._limiters[kind] if kind else None
        while True:
            try:
                async with contextlib.AsyncExitStack() as turn:
                    if limiter is not None:
                        await turn.enter_async_context(
                            limiter.turn(
                                lambda delay: self._announce(
                                    f"waiting {_seconds(delay)}: the homeserver's rate limit on {kind} ({what})",
                                    delay,
                                    at_least=5,
                                )
                            )
                        )
                    _check_send_by()
                    async with self._slots:
                        self.requests += 1
                        self._in_flight += 1
                        self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
                        log.debug("%s %s", method, path)
                        try:
                            response = await self._nio.send(method, path, data, dict(self._headers), timeout=timeout)
                            status = response.status
                            content_type = response.headers.get("Content-Type", "")
                            text = await response.text(errors="replace")
                            response.release()
                        finally:
                            self._in_flight -= 1
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                if first:
                    raise HomeserverError(await _unreachable(self.base_url, exc, timeout)) from None
                transient += 1
                reason = _describe(exc)
                if transient > policy.transient_tries:
                    self.unavailable = f"{self.base_url} stopped answering ({reason})"
                    raise HomeserverError(f"cannot reach {self.base_url} ({what}): {reason}") from None
                await self._backoff(transient, f"{what}: {reason}")
                continue

            text = text.replace(self._token, "[redacted]")  # a server or proxy may echo the request
            answer = _decode(text)
            if answer is None:
                # Not Matrix's JSON (an HTML error page, a proxy's text): never show the body.
                if first and status < 500:
                    raise HomeserverError(_not_matrix(self.base_url, status, content_type))
                answer = {}
                message = f"HTTP {status}, not a Matrix JSON answer ({_kind(content_type)})"
            else:
                message = str(answer.get("error", "")) if isinstance(answer, dict) else ""
                message = " ".join(message.split())  # one line, whatever the server sent
            errcode = answer.get("errcode", "") if isinstance(answer, dict) else ""
            if status == 429 or errcode == "M_LIMIT_EXCEEDED":
                limited += 1
                self.rate_limited += 1
                if limited > policy.rate_limited_tries:
                    raise MatrixError(status, "M_LIMIT_EXCEEDED", f"still rate limited after {limited} tries", what)
                wait = min(_retry_after(answer) / 1000.0, policy.max_wait)
                log.info("rate limited (%s); waiting %.1fs", what, wait)
                if limiter is not None:
                    limiter.refused(wait)  # the wait happens in the limiter's queue
                else:
                    self._announce(f"waiting {_seconds(wait)}: the homeserver's rate limit ({what})", wait)
                    await asyncio.sleep(wait)
                continue
            if limiter is not None:
                limiter.passed()
            if status >= 500:
                transient += 1
                if transient > policy.transient_tries:
                    self.unavailable = f"{self.base_url} kept failing (HTTP {status})"
                    raise MatrixError(status, errcode or "M_UNKNOWN", message or "server error", what)
                await self._backoff(transient, f"{what}: HTTP {status}")
                continue
            if status == 401:
                raise AuthError(
                    f"{self.base_url} rejected the access token ({errcode or status}: {message}); "
                    f"check {self._token_source}"
                )
            if first and status == 404 and errcode in ("M_UNRECOGNIZED", ""):
                raise HomeserverError(_not_matrix(self.base_url, status, content_type, errcode))
            if 200 <= status < 300:
                return answer
            if status == 404 and missing_ok:
                return None
            raise MatrixError(status, errcode or "M_UNKNOWN", message or f"HTTP {status}", what)

    def _announce(self, message: str, seconds: float, at_least: float = 1.0) -> None:
        """Tell the person (or CI log) watching about a wait long enough to notice."""
        if self.on_wait is not None and seconds >= at_least:
            self.on_wait(message)

    async def _backoff(self, attempt: int, why: str) -> None:
        delay = self.policy.backoff * (2 ** (attempt - 1)) * (0.75 + random.random() / 2)
        log.info("retrying in %.1fs after %s", delay, why)
        self._announce(f"waiting {_seconds(delay)} before retrying: {why}", delay)
        await asyncio.sleep(delay)

    # --- reading ---------------------------------------------------------------------

    async def whoami(self) -> str:
        """The token's user. The first request of a run: it also checks the URL points at Matrix."""
        answer = await self.call("GET", f"{CLIENT}/account/whoami", what="whoami", first=True)
        if not isinstance(answer, dict) or not isinstance(answer.get("user_id"), str):
            raise HomeserverError(
                f"{self.base_url} answered whoami without a user id; is it a Matrix homeserver's base URL?"
            )
        return answer["user_id"]

    async def room_versions(self) -> tuple[str, frozenset[str]]:
        """The default room version and every version the server offers."""
        answer = await self.call("GET", f"{CLIENT}/capabilities", what="capabilities")
        versions = answer.get("capabilities", {}).get("m.room_versions", {})
        available = versions.get("available") if isinstance(versions.get("available"), dict) else {}
        return str(versions.get("default", "1")), frozenset(str(v) for v in available)

    async def upgrade_room(self, room_id: str, version: str, creators: tuple[str, ...] = ()) -> str:
        """Synapse's room upgrade: a new room, aliases and directory moved, the old one tombstoned.
        `creators`: the new room's additional creators (room version 12 and later)."""
        body: dict[str, Any] = {"new_version": version}
        if creators:
            body["additional_creators"] = list(creators)
        answer = await self.call(
            "POST",
            f"{CLIENT}/rooms/{seg(room_id)}/upgrade",
            body,
            what=f"upgrade {room_id} to version {version}",
        )
        return answer["replacement_room"]

    async def joined_rooms(self) -> list[str]:
        answer = await self.call("GET", f"{CLIENT}/joined_rooms", what="joined_rooms")
        return list(answer.get("joined_rooms", []))

    # Synapse's simplified sliding sync (MSC4186) reads chosen state of many rooms in one request,
    # member events by user id included, much faster than /sync; other servers fall back.
    async def _sliding_sync(self, body: dict[str, Any], what: str) -> dict[str, Any] | None:
        if self.sliding is False:
            return None
        body = {**body, "conn_id": f"roomsync-{random.getrandbits(64):x}"}  # a fresh connection: no cache
        try:
            answer = await self.call("POST", SLIDING_SYNC, body, what=what)
        except MatrixError as exc:
            if exc.status in (400, 404, 405) or exc.errcode == "M_UNRECOGNIZED":
                self.sliding = False
                return None
            raise
        self.sliding = True
        return answer

    async def joined_state(self, required: list[tuple[str, str]]) -> dict[str, list[dict[str, Any]]]:
        """The given (event type, state key) state of every joined room: room id -> events."""
        found: dict[str, list[dict[str, Any]]] = {}
        start, page = 0, 1000
        while True:
            answer = await self._sliding_sync(
                {
                    "lists": {
                        "joined": {
                            "ranges": [[start, start + page - 1]],
                            "required_state": [list(r) for r in required],
                            "timeline_limit": 0,
                        }
                    }
                },
                what="read the joined rooms",
            )
            if answer is None:
                return await self._joined_state_by_sync(sorted({t for t, _ in required}))
            found.update(_joined(answer))
            count = ((answer.get("lists") or {}).get("joined") or {}).get("count") or 0
            start += page
            if start >= count:
                return found

    async def rooms_state(
        self, room_ids: list[str], required: list[tuple[str, str]]
    ) -> dict[str, list[dict[str, Any]]]:
        """The given state of each room (the whole state where sliding sync is missing): room id ->
        events; a room the account is not joined in is left out."""
        found: dict[str, list[dict[str, Any]]] = {}
        for chunk in (room_ids[i : i + 500] for i in range(0, len(room_ids), 500)):
            subscription = {"required_state": [list(r) for r in required], "timeline_limit": 0}
            answer = await self._sliding_sync(
                {"room_subscriptions": {r: subscription for r in chunk}}, what=f"read the state of {len(chunk)} rooms"
            )
            if answer is None:
                return await self._rooms_state_one_by_one(room_ids)
            found.update(_joined(answer))
        # Sliding sync leaves out a room it has no record of yet (one whose creation a crash cut
        # short, say): such a room is read on its own.
        missing = [room_id for room_id in room_ids if room_id not in found]
        found.update(await self._rooms_state_one_by_one(missing) if missing else {})
        return found

    async def _joined_state_by_sync(self, types: list[str]) -> dict[str, list[dict[str, Any]]]:
        """One filtered /sync. Synapse keeps an initial /sync's answer for minutes and hands it to
        the same filter again, older than a write made meanwhile: a filter of its own (a room id
        that cannot exist in not_rooms) makes every answer fresh."""
        room_filter: dict[str, Any] = {
            "state": {"types": types, "lazy_load_members": True},
            "timeline": {"limit": 0},
            "ephemeral": {"types": []},
            "account_data": {"types": []},
            "not_rooms": [f"!roomsync-{random.getrandbits(64):x}:invalid"],
        }
        sync_filter = {"room": room_filter, "presence": {"types": []}, "account_data": {"types": []}}
        query = urlencode({"filter": json.dumps(sync_filter, separators=(",", ":"))})
        answer = await self.call("GET", f"{CLIENT}/sync?{query}", what="read the joined rooms")
        joined = (answer.get("rooms") or {}).get("join") or {}
        return {
            room_id: list((room.get("state") or {}).get("events") or [])
            for room_id, room in joined.items()
            if isinstance(room, dict)
        }

    async def _rooms_state_one_by_one(self, room_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        async def one(room_id: str) -> list[dict[str, Any]] | None:
            try:
                return await self.room_state(room_id)
            except MatrixError as exc:
                if exc.status in (403, 404):
                    return None  # left or kicked meanwhile
                raise

        answers = await asyncio.gather(*(one(r) for r in room_ids))
        return {room_id: events for room_id, events in zip(room_ids, answers, strict=True) if events is not None}

    async def public_room_ids(self) -> set[str]:
        """Rooms of this server's room directory, as /publicRooms lists them (Synapse leaves out
        published rooms that are invite-only or restricted and not world-readable)."""
        listed: set[str] = set()
        since = None
        while True:
            query = {"limit": 500, **({"since": since} if since else {})}
            answer = await self.call("GET", f"{CLIENT}/publicRooms?{urlencode(query)}", what="room directory")
            listed |= {r["room_id"] for r in answer.get("chunk") or [] if isinstance(r, dict) and "room_id" in r}
            since = answer.get("next_batch")
            if not since:
                return listed

    async def room_state(self, room_id: str) -> list[dict[str, Any]]:
        return await self.call("GET", f"{CLIENT}/rooms/{seg(room_id)}/state", what=f"read state of {room_id}")

    async def resolve_alias(self, alias: str) -> str | None:
        answer = await self.call(
            "GET", f"{CLIENT}/directory/room/{seg(alias)}", what=f"resolve {alias}", missing_ok=True
        )
        return None if answer is None else answer.get("room_id")

    async def published(self, room_id: str) -> bool:
        answer = await self.call(
            "GET", f"{CLIENT}/directory/list/room/{seg(room_id)}", what=f"directory visibility of {room_id}"
        )
        return answer.get("visibility") == "public"

    async def admin_published_rooms(self) -> set[str] | None:
        """Room ids published in the directory, from Synapse's admin room list; None if not an admin."""
        published: set[str] = set()
        start = 0
        while True:
            query = urlencode({"from": start, "limit": 1000})
            try:
                answer = await self.call("GET", f"{ADMIN}/rooms?{query}", what="admin room list")
            except MatrixError as exc:
                if exc.status in (403, 404, 400):
                    return None  # not a server admin, or not Synapse
                raise
            published |= {r["room_id"] for r in answer.get("rooms", []) if r.get("public")}
            if answer.get("next_batch") is None:
                return published
            start = answer["next_batch"]

    async def profile(self, user_id: str) -> dict[str, Any]:
        answer = await self.call(
            "GET", f"{CLIENT}/profile/{seg(user_id)}", what=f"profile of {user_id}", missing_ok=True
        )
        return answer or {}

    async def rate_limit_exempt(self, user_id: str) -> bool | None:
        """Whether a Synapse admin exempted user_id from rate limits; None if this token may not ask."""
        try:
            answer = await self.call(
                "GET", f"{ADMIN}/users/{seg(user_id)}/override_ratelimit", what="rate-limit override", missing_ok=True
            )
        except MatrixError as exc:
            if exc.status in (400, 403):
                return None
            raise
        if answer is None:
            return None
        return answer.get("messages_per_second") == 0 and answer.get("burst_count") == 0

    async def state_event(self, room_id: str, event_type: str, state_key: str = "") -> dict[str, Any] | None:
        """One state event's content; None if it is absent or the account cannot see it (yet)."""
        path = f"{CLIENT}/rooms/{seg(room_id)}/state/{seg(event_type)}/{seg(state_key)}"
        try:
            return await self.call("GET", path, what=f"read {event_type} in {room_id}", missing_ok=True)
        except MatrixError as exc:
            if exc.status == 403:
                return None  # not joined yet: the room is still being created
            raise

    async def membership(self, room_id: str, user_id: str) -> str | None:
        path = f"{CLIENT}/rooms/{seg(room_id)}/state/m.room.member/{seg(user_id)}"
        answer = await self.call("GET", path, what=f"membership of {user_id} in {room_id}", missing_ok=True)
        return (answer or {}).get("membership")

    # --- writing ---------------------------------------------------------------------

    async def create_room(self, body: dict[str, Any]) -> str:
        answer = await self.call("POST", f"{CLIENT}/createRoom", body, what=f"create #{body.get('room_alias_name')}")
        return answer["room_id"]

    async def put_state(self, room_id: str, event_type: str, state_key: str, content: Any) -> None:
        path = f"{CLIENT}/rooms/{seg(room_id)}/state/{seg(event_type)}/{seg(state_key)}"
        await self.call("PUT", path, content, what=f"set {event_type} in {room_id}")

    async def put_alias(self, alias: str, room_id: str) -> None:
        await self.call("PUT", f"{CLIENT}/directory/room/{seg(alias)}", {"room_id": room_id}, what=f"create {alias}")

    async def delete_alias(self, alias: str) -> None:
        await self.call("DELETE", f"{CLIENT}/directory/room/{seg(alias)}", what=f"delete {alias}", missing_ok=True)

    async def set_directory(self, room_id: str, visibility: str) -> None:
        path = f"{CLIENT}/directory/list/room/{seg(room_id)}"
        await self.call("PUT", path, {"visibility": visibility}, what=f"set directory visibility of {room_id}")

    async def invite(self, room_id: str, user_id: str) -> None:
        await self.call(
            "POST", f"{CLIENT}/rooms/{seg(room_id)}/invite", {"user_id": user_id}, what=f"invite {user_id} to {room_id}"
        )

    async def kick(self, room_id: str, user_id: str, reason: str) -> None:
        await self.call(
            "POST",
            f"{CLIENT}/rooms/{seg(room_id)}/kick",
            {"user_id": user_id, "reason": reason},
            what=f"kick {user_id} from {room_id}",
        )

    async def join(self, room_id: str) -> None:
        await self.call("POST", f"{CLIENT}/join/{seg(room_id)}", {}, what=f"join {room_id}")

    async def set_profile(self, user_id: str, display_name: str | None, avatar: str | None) -> None:
        if display_name is not None:
            await self.call(
                "PUT",
                f"{CLIENT}/profile/{seg(user_id)}/displayname",
                {"displayname": display_name},
                what=f"set display name of {user_id}",
            )
        if avatar is not None:
            await self.call(
                "PUT",
                f"{CLIENT}/profile/{seg(user_id)}/avatar_url",
                {"avatar_url": avatar},
                what=f"set avatar of {user_id}",
            )

    # --- bot accounts: Synapse's admin API (the token must be a server admin's) ----------------

    ADMIN_USERS_V2 = "/_synapse/admin/v2/users"

    async def admin_user(self, user_id: str) -> dict[str, Any] | None:
        """A local account as Synapse's admin API shows it; None when it does not exist.

        Raises MatrixError 403 when the token is not a server admin's, and 404 (not M_NOT_FOUND)
        when the server has no such API (not Synapse)."""
        try:
            answer = await self.call("GET", f"{self.ADMIN_USERS_V2}/{seg(user_id)}", what=f"account {user_id}")
        except MatrixError as exc:
            if exc.status == 404 and exc.errcode == "M_NOT_FOUND":
                return None
            raise
        return answer if isinstance(answer, dict) else {}

    async def rate_limit_override(self, user_id: str) -> dict[str, Any]:
        """The account's override_ratelimit: {} when there is none."""
        answer = await self.call(
            "GET", f"{ADMIN}/users/{seg(user_id)}/override_ratelimit", what=f"rate-limit override of {user_id}"
        )
        return answer if isinstance(answer, dict) else {}

    async def admin_create_bot(self, user_id: str, display_name: str | None, avatar: str | None) -> None:
        """Create a local account of user_type bot, without a password (its tokens come from the admin API)."""
        body: dict[str, Any] = {"user_type": "bot"}
        if display_name is not None:
            body["displayname"] = display_name
        if avatar is not None:
            body["avatar_url"] = avatar
        await self.call("PUT", f"{self.ADMIN_USERS_V2}/{seg(user_id)}", body, what=f"create account {user_id}")

    async def admin_update_user(
        self,
        user_id: str,
        *,
        user_type: str | None = None,
        displayname: str | None = None,
        avatar_url: str | None = None,
    ) -> None:
        """Change an existing account's user type and profile; None leaves a field as it is."""
        body = {
            k: v
            for k, v in (("user_type", user_type), ("displayname", displayname), ("avatar_url", avatar_url))
            if v is not None
        }
        if body:
            await self.call("PUT", f"{self.ADMIN_USERS_V2}/{seg(user_id)}", body, what=f"update account {user_id}")

    async def set_rate_limit_exempt(self, user_id: str, exempt: bool) -> None:
        """exempt: no message rate limits (0/0); otherwise the override is removed (the server's defaults)."""
        path = f"{ADMIN}/users/{seg(user_id)}/override_ratelimit"
        if exempt:
            await self.call(
                "POST", path, {"messages_per_second": 0, "burst_count": 0}, what=f"exempt {user_id} from rate limits"
            )
        else:
            await self.call("DELETE", path, what=f"remove the rate-limit override of {user_id}", missing_ok=True)

    async def admin_join(self, room_id: str, user_id: str) -> None:
        """Join a local user to a room the token's account is in (Synapse invites it first where needed)."""
        await self.call(
            "POST", f"{ADMIN}/join/{seg(room_id)}", {"user_id": user_id}, what=f"join {user_id} to {room_id}"
        )

    async def admin_login_as(self, user_id: str) -> str:
        """Mint a new access token for a local user. The caller must never print or log it."""
        answer = await self.call(
            "POST", f"{ADMIN}/users/{seg(user_id)}/login", {}, what=f"mint an access token for {user_id}"
        )
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise HomeserverError(f"the homeserver answered the token request for {user_id} without a token")
        return token

    async def logout(self) -> None:
        """Invalidate this client's own access token."""
        await self.call("POST", f"{CLIENT}/logout", {}, what="log out")

    # --- adopting rooms made by hand: `roomsync adopt` and `roomsync import` ---------------------

    async def is_server_admin(self, user_id: str) -> bool:
        """Whether this token is a Synapse server admin's (user_id: the token's own user): Synapse
        answers the question only to an admin. False for a plain token, or a server without the API."""
        try:
            answer = await self.call("GET", f"{ADMIN}/users/{seg(user_id)}/admin", what="server-admin check")
        except MatrixError as exc:
            if exc.status in (400, 401, 403, 404):
                return False
            raise
        return isinstance(answer, dict) and answer.get("admin") is True

    async def admin_room_state(self, room_id: str) -> list[dict[str, Any]] | None:
        """A room's whole current state through Synapse's admin API, joined or not (a server admin's
        token); None when this homeserver does not know the room."""
        answer = await self.call(
            "GET", f"{ADMIN}/rooms/{seg(room_id)}/state", what=f"read state of {room_id}", missing_ok=True
        )
        if answer is None:
            return None
        events = answer.get("state") if isinstance(answer, dict) else None
        return events if isinstance(events, list) else []

    async def invited_rooms(self) -> set[str]:
        """Rooms this account has a pending invite to: one /sync with nothing but the invites (a filter
        of its own, so that Synapse's cached initial sync is not handed back)."""
        room_filter: dict[str, Any] = {
            "state": {"types": []},
            "timeline": {"limit": 0},
            "ephemeral": {"types": []},
            "account_data": {"types": []},
            "not_rooms": [f"!roomsync-{random.getrandbits(64):x}:invalid"],
        }
        sync_filter = {"room": room_filter, "presence": {"types": []}, "account_data": {"types": []}}
        query = urlencode({"filter": json.dumps(sync_filter, separators=(",", ":"))})
        answer = await self.call("GET", f"{CLIENT}/sync?{query}", what="read the pending invites")
        invites = (answer.get("rooms") or {}).get("invite") if isinstance(answer, dict) else None
        return set(invites) if isinstance(invites, dict) else set()

    async def make_room_admin(self, room_id: str, user_id: str) -> None:
        """Give a local user the power of the room's most powerful local member (100 in a room made the
        usual way), with that member's authority; in a room that is not public it also invites the user."""
        await self.call(
            "POST",
            f"{ADMIN}/rooms/{seg(room_id)}/make_room_admin",
            {"user_id": user_id},
            what=f"make {user_id} an admin of {room_id}",
        )


class ReadOnlyHomeserver(Homeserver):
    """A Homeserver that only ever sends GET requests (`roomsync import`): any other request is
    refused before it is sent, so a read-only command cannot change the homeserver by mistake."""

    async def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        if method != "GET":
            raise RoomsyncError(f"refused to send {method} ({kwargs.get('what', path)}): this command is read-only")
        return await super().call(method, path, body, **kwargs)


async def fetch_public(url: str, timeout: float = 20.0) -> tuple[int | None, str, str | None]:
    """GET a public URL without credentials (the .well-known files): (status, body, error)."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(url, allow_redirects=True) as response,
        ):
            return response.status, (await response.text(errors="replace"))[:65536], None
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return None, "", f"cannot fetch {url}: {_describe(exc)}"


def _joined(answer: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Room id -> state events of the joined rooms in a sliding sync answer (invites have none)."""
    rooms = answer.get("rooms") or {}
    return {
        room_id: list(room["required_state"])
        for room_id, room in rooms.items()
        if isinstance(room, dict) and isinstance(room.get("required_state"), list)
    }


def _decode(text: str) -> Any:
    """The JSON answer; {} for an empty body; None when the body is not JSON at all."""
    try:
        return json.loads(text) if text.strip() else {}
    except ValueError:
        return None


def _retry_after(answer: Any) -> float:
    value = answer.get("retry_after_ms") if isinstance(answer, dict) else None
    return float(value) if isinstance(value, (int, float)) and value >= 0 else 5000.0


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return str(exc) or exc.__class__.__name__


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def _kind(content_type: str) -> str:
    return content_type.split(";")[0].strip() or "no content type"


# Newer aiohttp names these cases; with an older one they fall through to the generic message.
_DNS_ERROR = getattr(aiohttp, "ClientConnectorDNSError", ())
_CONNECT_TIMEOUT = getattr(aiohttp, "ConnectionTimeoutError", ())

BASE_URL_HINT = "the homeserver URL must be the client-server API's base URL, e.g. https://matrix.example.org"


def _not_matrix(base_url: str, status: int, content_type: str, errcode: str = "") -> str:
    """The first request got an answer, but not from a Matrix client-server API at this URL."""
    what = f"{status} {errcode}" if errcode else f"{status}, {_kind(content_type)}"
    path = urlsplit(base_url).path
    hint = f"{BASE_URL_HINT}, without a path ({path})" if path.strip("/") else BASE_URL_HINT
    return f"{base_url} does not look like a Matrix homeserver (whoami answered HTTP {what}); {hint}"


async def _unreachable(base_url: str, exc: BaseException, timeout: aiohttp.ClientTimeout) -> str:
    """Why the first request failed, in words that point at the likely mistake."""
    url = urlsplit(base_url)
    host = url.netloc
    reason = _describe(exc)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"cannot reach {base_url}: its TLS certificate is not trusted ({exc.certificate_error})"
    if isinstance(exc, _DNS_ERROR):
        return f"cannot reach {base_url}: cannot resolve the host name {url.hostname}"
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, ConnectionRefusedError):
        return f"cannot reach {base_url}: connection refused (is the homeserver running, and is {host} right?)"
    if isinstance(exc, _CONNECT_TIMEOUT):
        reason = (
            f"no connection{' or TLS handshake' if url.scheme == 'https' else ''} within "
            f"{_seconds(timeout.connect or 0)}"
        )
    elif isinstance(exc, aiohttp.ClientSSLError):
        reason = "the TLS handshake failed"
    elif isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        reason = f"{host} accepted the connection but sent no answer within {_seconds(timeout.total or 0)}"
    other = "http" if url.scheme == "https" else "https"
    if await _speaks(f"{other}://{host}"):
        return f"cannot reach {base_url} ({reason}), but {host} answers {other}://: is it {other}://{host}?"
    return f"cannot reach {base_url}: {reason}"


async def _speaks(base_url: str) -> bool:
    """Does anything answer HTTP at this base URL? Only used to explain a failed first request."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session,
            session.get(f"{base_url}/_matrix/client/versions", ssl=False) as response,
        ):
            return response.status > 0
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
        return False
