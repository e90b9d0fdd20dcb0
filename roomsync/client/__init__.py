"""The only package that talks to the homeserver.

- transport.py  one request with bounded retries, the rate-limit queues (ratelimit.py) and the
                first request's diagnosis of a wrong URL (diagnose.py)
- reads.py      what is read, with sliding sync and its fallbacks
- writes.py     what is changed through the client-server API
- admin.py      Synapse's admin API, probed once per run

A Homeserver is one connection doing all of it; its admin API is `hs.admin`.
"""

from __future__ import annotations

from typing import Any

from ..errors import RoomsyncError
from .admin import ADMIN, NoAdminAPI, SynapseAdmin
from .ratelimit import SEND_BY, NotSent
from .reads import CLIENT, Reads
from .transport import AuthError, RetryPolicy, check_token, fetch_public, seg
from .writes import Writes

__all__ = [
    "ADMIN",
    "CLIENT",
    "SEND_BY",
    "AuthError",
    "Homeserver",
    "NoAdminAPI",
    "NotSent",
    "ReadOnlyHomeserver",
    "RetryPolicy",
    "check_token",
    "fetch_public",
    "seg",
]


class Homeserver(Reads, Writes):
    """An authenticated connection to one homeserver. Use as an async context manager."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        policy: RetryPolicy | None = None,
        token_source: str = "ROOMSYNC_ACCESS_TOKEN / ROOMSYNC_ACCESS_TOKEN_FILE",
    ):
        super().__init__(base_url, token, policy, token_source)
        self.admin = SynapseAdmin(self)


class ReadOnlyHomeserver(Homeserver):
    """A Homeserver that only ever sends GET requests (`roomsync import`): any other request is
    refused before it is sent, so a read-only command cannot change the homeserver by mistake."""

    async def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        if method != "GET":
            raise RoomsyncError(f"refused to send {method} ({kwargs.get('what', path)}): this command is read-only")
        return await super().call(method, path, body, **kwargs)
