"""One request to the homeserver, with bounded retries.

matrix-nio provides the HTTP session (aiohttp, TLS and proxy settings). Requests are sent raw
through AsyncClient.send because nio's high-level helpers retry forever, corrupt alt_aliases and
report some HTTP errors as success. Here every request has bounded retries, a bounded number in
flight, a queue per rate limiter, and errors become MatrixError / HomeserverError whose messages
never contain the access token.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import quote

import aiohttp
from nio import AsyncClient, AsyncClientConfig

from ..errors import HomeserverError, MatrixError
from .diagnose import body_kind, describe, not_matrix, seconds, unreachable
from .ratelimit import Limiter, check_send_by, limit_kind

log = logging.getLogger(__name__)


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


class NotMatrixAnswer(MatrixError):
    """An error answer that is not Matrix's JSON (an HTML page, a proxy's text): whatever answered
    does not serve this path as a Matrix API."""


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


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    data: str | bytes | None  # the JSON body, or a file's bytes (an upload)
    what: str  # what the request is for, in the words of an error message
    timeout: aiohttp.ClientTimeout
    kind: str | None  # the rate limiter it meets
    content_type: str = "application/json"


class Transport:
    """A connection to one homeserver, authenticated unless the token is None (then only what a
    server answers anyone: a mirror's aliases and directory). Use as an async context manager."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        policy: RetryPolicy | None = None,
        token_source: str = "ROOMSYNC_ACCESS_TOKEN / ROOMSYNC_ACCESS_TOKEN_FILE",
    ):
        self.base_url = base_url.rstrip("/")
        self._token = None if token is None else check_token(token)
        self._token_source = token_source  # named in a rejected-token message
        self._headers = {"Content-Type": "application/json"}
        if self._token is not None:
            self._headers["Authorization"] = f"Bearer {self._token}"
        self.policy = policy or RetryPolicy()
        self._slots = asyncio.Semaphore(self.policy.in_flight)
        self._limiters: dict[str, Limiter] = defaultdict(Limiter)
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
        # Called with a one-line message before a wait a person would notice (rate limit, backoff).
        self.on_wait: Callable[[str], None] | None = None

    @property
    def public(self) -> bool:
        """Without a token: reads of what the server answers anyone, nothing else."""
        return self._token is None

    async def __aenter__(self) -> Self:
        # max_limit_exceeded/max_timeouts of 0: nio must never retry on its own (it would forever).
        config = AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0, request_timeout=self.policy.timeout)
        self._nio = AsyncClient(self.base_url, config=config)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._nio is not None:
            await self._nio.close()

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        what: str,
        missing_ok: bool = False,
        first: bool = False,
        remote: bool = False,
        upload: tuple[bytes, str] | None = None,
        binary: bool = False,
    ) -> Any:
        """Send a request; return the decoded JSON answer, or None for a 404 when missing_ok.

        `first` marks the first request of a run: it gets a short timeout and no retries when
        the server cannot be reached, and its failure says what is likely wrong with the URL.
        `remote`: the answer comes from another homeserver over federation (a followed list's
        alias, joining its room), so a server error is that server's: final, not retried, and
        this homeserver stays available for the rest of the run. `upload`: (bytes, content type)
        sent as the body instead of JSON; `binary`: a successful answer is returned as its bytes.
        """
        if self.unavailable:
            raise HomeserverError(f"not attempted ({what}): {self.unavailable}")
        policy = self.policy
        if first:
            connect = min(policy.connect_timeout, policy.first_timeout / 2)
            timeout = aiohttp.ClientTimeout(total=policy.first_timeout, connect=connect)
        else:
            timeout = aiohttp.ClientTimeout(total=policy.timeout, connect=policy.connect_timeout)
        data: str | bytes | None = None if body is None else json.dumps(body)
        request = _Request(method, path, data, what, timeout, limit_kind(method, path))
        if upload is not None:
            request = _Request(method, path, upload[0], what, timeout, request.kind, upload[1])
        limited = transient = 0
        while True:
            try:
                status, content_type, raw = await self._send(request)
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                if first:
                    raise HomeserverError(await unreachable(self.base_url, exc, timeout)) from None
                transient += 1
                if transient > policy.transient_tries:
                    self.unavailable = f"{self.base_url} stopped answering ({describe(exc)})"
                    raise HomeserverError(f"cannot reach {self.base_url} ({what}): {describe(exc)}") from None
                await self._backoff(transient, f"{what}: {describe(exc)}")
                continue
            if binary and 200 <= status < 300:
                return raw
            text = raw.decode("utf-8", errors="replace")
            if self._token is not None:
                text = text.replace(self._token, "[redacted]")  # a server or proxy may echo the request
            answer = _decode(text)
            if answer is None and first and status < 500:
                # Not Matrix's JSON (an HTML error page, a proxy's text): never show the body.
                raise HomeserverError(not_matrix(self.base_url, status, content_type))
            errcode = answer.get("errcode", "") if isinstance(answer, dict) else ""
            if status == 429 or errcode == "M_LIMIT_EXCEEDED":
                limited += 1
                await self._rate_limited(request, limited, answer, status)
                continue
            if request.kind is not None:
                self._limiters[request.kind].passed()
            if status >= 500 and remote:
                raise _error(status, answer, content_type, what, "server error")
            if status >= 500:
                transient += 1
                if transient > policy.transient_tries:
                    self.unavailable = f"{self.base_url} kept failing (HTTP {status})"
                    raise _error(status, answer, content_type, what, "server error")
                await self._backoff(transient, f"{what}: HTTP {status}")
                continue
            return self._result(status, answer, content_type, what, missing_ok=missing_ok, first=first)

    async def _send(self, request: _Request) -> tuple[int, str, bytes]:
        """One attempt: wait for the request's turn at its limiter and a free slot, then send it."""
        assert self._nio is not None, "use the client as an async context manager"
        limiter = self._limiters[request.kind] if request.kind else None
        async with contextlib.AsyncExitStack() as turn:
            if limiter is not None:
                rule = f"the homeserver's rate limit on {request.kind} ({request.what})"

                def announce(delay: float) -> None:
                    self._announce(f"waiting {seconds(delay)}: {rule}", delay, at_least=5)

                await turn.enter_async_context(limiter.turn(announce))
            check_send_by()
            async with self._slots:
                self.requests += 1
                self._in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
                log.debug("%s %s", request.method, request.path)
                try:
                    headers = {**self._headers, "Content-Type": request.content_type}
                    response = await self._nio.send(
                        request.method, request.path, request.data, headers, timeout=request.timeout
                    )
                    status = response.status
                    content_type = response.headers.get("Content-Type", "")
                    raw = await response.read()
                    response.release()
                finally:
                    self._in_flight -= 1
        return status, content_type, raw

    async def _rate_limited(self, request: _Request, limited: int, answer: Any, status: int) -> None:
        """M_LIMIT_EXCEEDED: wait as long as the server asks (in the limiter's queue), a bounded number of times."""
        self.rate_limited += 1
        if limited > self.policy.rate_limited_tries:
            raise MatrixError(status, "M_LIMIT_EXCEEDED", f"still rate limited after {limited} tries", request.what)
        wait = min(_retry_after(answer) / 1000.0, self.policy.max_wait)
        log.info("rate limited (%s); waiting %.1fs", request.what, wait)
        if request.kind is not None:
            self._limiters[request.kind].refused(wait)  # the wait happens in the limiter's queue
        else:
            self._announce(f"waiting {seconds(wait)}: the homeserver's rate limit ({request.what})", wait)
            await asyncio.sleep(wait)

    def _result(self, status: int, answer: Any, content_type: str, what: str, *, missing_ok: bool, first: bool) -> Any:
        """A final answer (no retry): its JSON, None for a missing thing, or the error it says."""
        errcode = answer.get("errcode", "") if isinstance(answer, dict) else ""
        if status == 401:
            message = _message(answer) if answer is not None else _not_json(status, content_type)
            if self._token is None:
                raise AuthError(
                    f"{self.base_url} answers {what} only with a token ({message}); set {self._token_source}"
                )
            raise AuthError(
                f"{self.base_url} rejected the access token ({errcode or status}: {message}); "
                f"check {self._token_source}"
            )
        if first and status == 404 and errcode in ("M_UNRECOGNIZED", ""):
            raise HomeserverError(not_matrix(self.base_url, status, content_type, errcode))
        if 200 <= status < 300:
            return {} if answer is None else answer
        if status == 404 and missing_ok:
            return None
        raise _error(status, answer, content_type, what, f"HTTP {status}")

    def _announce(self, message: str, seconds: float, at_least: float = 1.0) -> None:
        """Tell the person (or CI log) watching about a wait long enough to notice."""
        if self.on_wait is not None and seconds >= at_least:
            self.on_wait(message)

    async def _backoff(self, attempt: int, why: str) -> None:
        delay = self.policy.backoff * (2 ** (attempt - 1)) * (0.75 + random.random() / 2)
        log.info("retrying in %.1fs after %s", delay, why)
        self._announce(f"waiting {seconds(delay)} before retrying: {why}", delay)
        await asyncio.sleep(delay)


async def fetch_public(url: str, timeout: float = 20.0) -> tuple[int | None, str, str | None]:
    """GET a public URL without credentials (the .well-known files): (status, body, error)."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(url, allow_redirects=True) as response,
        ):
            return response.status, (await response.text(errors="replace"))[:65536], None
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return None, "", f"cannot fetch {url}: {describe(exc)}"


LARGE_ANSWER = 1 << 20  # characters: decoded with the garbage collector paused


def _decode(text: str) -> Any:
    """The JSON answer; {} for an empty body; None when the body is not JSON at all.

    A large answer (a sliding-sync answer of 1,000 rooms: some 5 MB, half a million objects)
    is decoded with the garbage collector paused: decoding JSON makes no reference cycles, and
    the collections its allocations trigger would walk every object the run holds (the config,
    the rooms read so far), which made the decoding up to twice as slow."""
    if not text or text.isspace():
        return {}
    paused = len(text) >= LARGE_ANSWER and gc.isenabled()
    if paused:
        gc.disable()
    try:
        return json.loads(text)
    except ValueError:
        return None
    finally:
        if paused:
            gc.enable()


def _message(answer: Any) -> str:
    """The error text of a Matrix answer, on one line whatever the server sent."""
    message = str(answer.get("error", "")) if isinstance(answer, dict) else ""
    return " ".join(message.split())


def _not_json(status: int, content_type: str) -> str:
    return f"HTTP {status}, not a Matrix JSON answer ({body_kind(content_type)})"  # never the body: it may be anything


def _error(status: int, answer: Any, content_type: str, what: str, default: str) -> MatrixError:
    if answer is None:
        return NotMatrixAnswer(status, "M_UNKNOWN", _not_json(status, content_type), what)
    errcode = answer.get("errcode", "") if isinstance(answer, dict) else ""
    return MatrixError(status, errcode or "M_UNKNOWN", _message(answer) or default, what)


def _retry_after(answer: Any) -> float:
    value = answer.get("retry_after_ms") if isinstance(answer, dict) else None
    return float(value) if isinstance(value, (int, float)) and value >= 0 else 5000.0
