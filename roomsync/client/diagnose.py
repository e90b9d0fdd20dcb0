"""Words for what went wrong on the wire: a failed request in one line, and for the first request of
a run, the likely mistake in the homeserver URL (wrong scheme, a path, not a Matrix server)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import aiohttp

# Newer aiohttp names these cases; with an older one they fall through to the generic message.
_DNS_ERROR = getattr(aiohttp, "ClientConnectorDNSError", ())
_CONNECT_TIMEOUT = getattr(aiohttp, "ConnectionTimeoutError", ())

BASE_URL_HINT = "the homeserver URL must be the client-server API's base URL, e.g. https://matrix.example.org"


def describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return str(exc) or exc.__class__.__name__


def seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def body_kind(content_type: str) -> str:
    return content_type.split(";")[0].strip() or "no content type"


def not_matrix(base_url: str, status: int, content_type: str, errcode: str = "") -> str:
    """The first request got an answer, but not from a Matrix client-server API at this URL."""
    what = f"{status} {errcode}" if errcode else f"{status}, {body_kind(content_type)}"
    path = urlsplit(base_url).path
    hint = f"{BASE_URL_HINT}, without a path ({path})" if path.strip("/") else BASE_URL_HINT
    return f"{base_url} does not look like a Matrix homeserver (whoami answered HTTP {what}); {hint}"


async def unreachable(base_url: str, exc: BaseException, timeout: aiohttp.ClientTimeout) -> str:
    """Why the first request failed, in words that point at the likely mistake."""
    url = urlsplit(base_url)
    host = url.netloc
    reason = describe(exc)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"cannot reach {base_url}: its TLS certificate is not trusted ({exc.certificate_error})"
    if isinstance(exc, _DNS_ERROR):
        return f"cannot reach {base_url}: cannot resolve the host name {url.hostname}"
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, ConnectionRefusedError):
        return f"cannot reach {base_url}: connection refused (is the homeserver running, and is {host} right?)"
    if isinstance(exc, _CONNECT_TIMEOUT):
        reason = (
            f"no connection{' or TLS handshake' if url.scheme == 'https' else ''} within "
            f"{seconds(timeout.connect or 0)}"
        )
    elif isinstance(exc, aiohttp.ClientSSLError):
        reason = "the TLS handshake failed"
    elif isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        reason = f"{host} accepted the connection but sent no answer within {seconds(timeout.total or 0)}"
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
