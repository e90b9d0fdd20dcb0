"""Synapse's admin API (/_synapse/admin), usable with a server admin's token only.

It is probed once per run: the first admin request that shows the API is absent for this token
(404 M_UNRECOGNIZED or not Matrix's JSON: not exposed, e.g. a reverse proxy forwards only
/_matrix; 403 "not a server admin") decides it, and no admin request is sent afterwards: each
one raises NoAdminAPI at once. Admin requests wait for the first answer before going out.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from ..errors import HomeserverError, MatrixError
from .reads import Events
from .transport import NotMatrixAnswer, Transport, seg

ADMIN = "/_synapse/admin/v1"
USERS_V2 = "/_synapse/admin/v2/users"


class NoAdminAPI(MatrixError):
    """Synapse's admin API cannot be used here: not exposed, or the token is not a server admin's."""


def _absence(exc: MatrixError) -> str | None:
    """Why an admin answer shows the API is absent for this token, or None if it does not."""
    if exc.status == 404 and (exc.errcode == "M_UNRECOGNIZED" or isinstance(exc, NotMatrixAnswer)):
        return "the homeserver does not expose Synapse's admin API"
    if exc.status == 403 and (isinstance(exc, NotMatrixAnswer) or "not a server admin" in exc.message):
        return "the token is not a Synapse server admin's"
    return None


class SynapseAdmin:
    """The admin API through a client's transport (so a read-only client stays read-only)."""

    def __init__(self, transport: Transport):
        self._hs = transport
        self.absent: NoAdminAPI | None = None  # the answer that showed the API absent, once one did
        self._confirmed = False  # an admin request was answered by the admin API itself
        self._probe = asyncio.Lock()

    async def call(self, method: str, path: str, body: Any = None, *, what: str, missing_ok: bool = False) -> Any:
        """Transport.call for an admin request, or NoAdminAPI without sending once the API is known absent."""
        if not self._confirmed:
            async with self._probe:  # until one answer decides, admin requests go one at a time
                if not self._confirmed:
                    return await self._send(method, path, body, what, missing_ok)
        return await self._send(method, path, body, what, missing_ok)  # then all at once

    async def _send(self, method: str, path: str, body: Any, what: str, missing_ok: bool) -> Any:
        if self.absent is not None:
            raise NoAdminAPI(self.absent.status, self.absent.errcode, f"not sent: {self.absent.message}", what)
        try:
            answer = await self._hs.call(method, path, body, what=what)
        except MatrixError as exc:
            why = _absence(exc)
            if why is not None:
                self.absent = NoAdminAPI(exc.status, exc.errcode, why, what)
                raise NoAdminAPI(exc.status, exc.errcode, why, what) from None
            self._confirmed = True
            if exc.status == 404 and missing_ok:
                return None
            raise
        self._confirmed = True
        return answer

    # --- accounts -----------------------------------------------------------------------------

    async def user(self, user_id: str) -> dict[str, Any] | None:
        """A local account as the admin API shows it; None when it does not exist."""
        try:
            answer = await self.call("GET", f"{USERS_V2}/{seg(user_id)}", what=f"account {user_id}")
        except MatrixError as exc:
            if exc.status == 404 and exc.errcode == "M_NOT_FOUND":
                return None
            raise
        return answer if isinstance(answer, dict) else {}

    async def is_server_admin(self, user_id: str) -> bool:
        """Whether this token is a server admin's (user_id: the token's own user): Synapse answers
        the question only to an admin. False for a plain token, or a server without the API."""
        try:
            answer = await self.call("GET", f"{ADMIN}/users/{seg(user_id)}/admin", what="server-admin check")
        except MatrixError as exc:
            if exc.status in (400, 401, 403, 404):
                return False
            raise
        return isinstance(answer, dict) and answer.get("admin") is True

    async def create_bot(self, user_id: str, display_name: str | None, avatar: str | None) -> None:
        """Create a local account of user_type bot, without a password (its tokens come from login_as)."""
        body: dict[str, Any] = {"user_type": "bot"}
        if display_name is not None:
            body["displayname"] = display_name
        if avatar is not None:
            body["avatar_url"] = avatar
        await self.call("PUT", f"{USERS_V2}/{seg(user_id)}", body, what=f"create account {user_id}")

    async def update_user(
        self,
        user_id: str,
        *,
        user_type: str | None = None,
        displayname: str | None = None,
        avatar_url: str | None = None,
    ) -> None:
        """Change an existing account's user type and profile; None leaves a field as it is."""
        fields = (("user_type", user_type), ("displayname", displayname), ("avatar_url", avatar_url))
        body = {k: v for k, v in fields if v is not None}
        if body:
            await self.call("PUT", f"{USERS_V2}/{seg(user_id)}", body, what=f"update account {user_id}")

    async def login_as(self, user_id: str) -> str:
        """Mint a new access token for a local user. The caller must never print or log it."""
        answer = await self.call(
            "POST", f"{ADMIN}/users/{seg(user_id)}/login", {}, what=f"mint an access token for {user_id}"
        )
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise HomeserverError(f"the homeserver answered the token request for {user_id} without a token")
        return token

    # --- rate limits --------------------------------------------------------------------------

    async def rate_limit_override(self, user_id: str) -> dict[str, Any]:
        """The account's override_ratelimit: {} when there is none."""
        path = f"{ADMIN}/users/{seg(user_id)}/override_ratelimit"
        answer = await self.call("GET", path, what=f"rate-limit override of {user_id}")
        return answer if isinstance(answer, dict) else {}

    async def rate_limit_exempt(self, user_id: str) -> bool | None:
        """Whether user_id is exempt from rate limits; None if this token may not ask."""
        path = f"{ADMIN}/users/{seg(user_id)}/override_ratelimit"
        try:
            answer = await self.call("GET", path, what="rate-limit override", missing_ok=True)
        except NoAdminAPI:
            return None
        except MatrixError as exc:
            if exc.status in (400, 403):
                return None
            raise
        if not isinstance(answer, dict):
            return None
        return answer.get("messages_per_second") == 0 and answer.get("burst_count") == 0

    async def set_rate_limit_exempt(self, user_id: str, exempt: bool) -> None:
        """exempt: no message rate limits (0/0); otherwise the override is removed (the server's defaults)."""
        path = f"{ADMIN}/users/{seg(user_id)}/override_ratelimit"
        if exempt:
            body = {"messages_per_second": 0, "burst_count": 0}
            await self.call("POST", path, body, what=f"exempt {user_id} from rate limits")
        else:
            await self.call("DELETE", path, what=f"remove the rate-limit override of {user_id}", missing_ok=True)

    # --- rooms --------------------------------------------------------------------------------

    async def join(self, room_id: str, user_id: str) -> None:
        """Join a local user to a room the token's account is in (Synapse invites it first where needed)."""
        await self.call(
            "POST", f"{ADMIN}/join/{seg(room_id)}", {"user_id": user_id}, what=f"join {user_id} to {room_id}"
        )

    async def make_room_admin(self, room_id: str, user_id: str) -> None:
        """Give a local user the power of the room's most powerful local member (100 in a room made the
        usual way), with that member's authority; in a room that is not public it also invites the user."""
        path = f"{ADMIN}/rooms/{seg(room_id)}/make_room_admin"
        await self.call("POST", path, {"user_id": user_id}, what=f"make {user_id} an admin of {room_id}")

    async def room_state(self, room_id: str) -> Events | None:
        """A room's whole current state, joined or not; None when this homeserver does not know the room."""
        path = f"{ADMIN}/rooms/{seg(room_id)}/state"
        answer = await self.call("GET", path, what=f"read state of {room_id}", missing_ok=True)
        if answer is None:
            return None
        events = answer.get("state") if isinstance(answer, dict) else None
        return events if isinstance(events, list) else []

    async def published_rooms(self) -> set[str] | None:
        """Room ids published in the directory, from the admin room list; None without the admin API.
        Only the published rooms are asked for (`public_rooms`, which a Synapse older than the filter
        ignores: then every room of the server is listed, page by page, and the published ones kept)."""
        published: set[str] = set()
        start = 0
        while True:
            query = urlencode({"from": start, "limit": 1000, "public_rooms": "true"})
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
