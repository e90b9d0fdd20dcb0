"""Run a throw-away Synapse homeserver for tests.

The process itself (config, free port, start, stop, kill) is roomsync's own
LocalSynapse (roomsync/localsynapse.py), the one `roomsync local` and the demo run,
so the suite exercises that code path on every start. The HTTP side here is
independent of the code under test on purpose: requests and registration use only
the standard library, never roomsync's client.

    with SynapseServer(tmp_path) as hs:
        token = hs.register("alice")
        status, body = hs.request("GET", "/_matrix/client/v3/joined_rooms", token)

Paths given to :meth:`SynapseServer.request` are sent as they are: percent-encode
room ids and aliases with :func:`q` (``#`` in an alias would otherwise start a
URL fragment).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import pathlib
import secrets
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from roomsync.localsynapse import LocalServerError, LocalSynapse

__all__ = ["SynapseServer", "q"]

_HTTP_TIMEOUT = 30.0


def q(value: str) -> str:
    """Percent-encode one path segment (room id, alias, user id, event type)."""
    return urllib.parse.quote(value, safe="")


class SynapseServer(LocalSynapse):
    """One Synapse process with a sqlite database under ``workdir``.

    ``rate_limited=True`` keeps Synapse's default rate limits (only registration and
    login are lifted); otherwise every limiter is lifted. ``limits`` sets rc_* settings on
    top, e.g. ``{"rc_room_creation": {"per_second": 0.5, "burst_count": 2}}``. ``port``:
    a fixed port (a free one otherwise).
    """

    def __init__(
        self,
        workdir: pathlib.Path,
        server_name: str = "opendev.org",
        rate_limited: bool = False,
        limits: dict[str, Any] | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(pathlib.Path(workdir), server_name, port=port, rate_limited=rate_limited, limits=limits)

    def start(self, timeout: float = 90) -> None:
        """Start Synapse and wait until the client API answers; RuntimeError with its logs if not."""
        try:
            super().start(timeout)
        except LocalServerError as exc:
            raise RuntimeError(f"{exc}\n{exc.details}") from None

    def __enter__(self) -> SynapseServer:
        self.start()
        return self

    # -- HTTP ------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: dict | None = None,
        query: dict | None = None,
        timeout: float = _HTTP_TIMEOUT,
    ) -> tuple[int, Any]:
        """One plain HTTP request; returns (status, parsed JSON body).

        The body is ``{}`` when the answer is empty or not JSON, and a list for
        the endpoints that answer with one (``GET /rooms/{id}/state``). HTTP
        error statuses are returned, not raised; connection errors do raise.
        ``path`` is sent verbatim (percent-encode ids with :func:`q`); ``query``
        values are encoded here.
        """
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode("utf8")
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(url, data=data, headers=headers, method=method.upper())
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
            err.close()
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {}
        return status, parsed

    def register(self, localpart: str, admin: bool = False) -> str:
        """Create a user with the shared-secret admin API; return its access token."""
        status, body = self.request("GET", "/_synapse/admin/v1/register")
        if status != 200:
            raise RuntimeError(f"register nonce: {status} {body}")
        nonce = body["nonce"]
        password = secrets.token_urlsafe(18)
        mac = hmac.new(self.shared_secret.encode("utf8"), digestmod=hashlib.sha1)
        mac.update(nonce.encode("utf8"))
        mac.update(b"\x00")
        mac.update(localpart.encode("utf8"))
        mac.update(b"\x00")
        mac.update(password.encode("utf8"))
        mac.update(b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        status, body = self.request(
            "POST",
            "/_synapse/admin/v1/register",
            body={
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
        )
        if status != 200:
            raise RuntimeError(f"register {localpart}: {status} {body}")
        return body["access_token"]

    def user_id(self, localpart: str) -> str:
        return f"@{localpart}:{self.server_name}"
