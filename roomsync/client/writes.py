"""What the client changes through the client-server API: rooms, their state and aliases, the
directory, memberships and profiles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import HomeserverError
from .reads import CLIENT, MEDIA
from .transport import Transport, seg


class Writes(Transport):
    async def create_room(self, body: dict[str, Any]) -> str:
        answer = await self.call("POST", f"{CLIENT}/createRoom", body, what=f"create #{body.get('room_alias_name')}")
        return _field(answer, "room_id", "createRoom")

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
        return _field(answer, "replacement_room", f"the upgrade of {room_id}")

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

    async def upload(self, data: bytes, content_type: str, filename: str) -> str:
        """Upload a file to the media repository; its mxc:// URI."""
        path = f"{MEDIA}/upload?filename={seg(filename)}"
        answer = await self.call("POST", path, upload=(data, content_type), what=f"upload {filename}")
        return _field(answer, "content_uri", f"upload {filename}")

    async def kick(self, room_id: str, user_id: str, reason: str) -> None:
        await self._take_out("kick", room_id, user_id, reason)

    async def ban(self, room_id: str, user_id: str, reason: str) -> None:
        await self._take_out("ban", room_id, user_id, reason)

    async def _take_out(self, how: str, room_id: str, user_id: str, reason: str) -> None:
        body = {"user_id": user_id, "reason": reason}
        await self.call("POST", f"{CLIENT}/rooms/{seg(room_id)}/{how}", body, what=f"{how} {user_id} from {room_id}")

    async def join(self, room_id: str, *, remote: bool = False, via: Sequence[str] = ()) -> None:
        """Join a room by id or alias; `remote`: a room of another homeserver, joined over federation
        through the servers in `via` (needed to join by room id a room this server is not in)."""
        query = "&".join(f"server_name={seg(server)}" for server in via)
        path = f"{CLIENT}/join/{seg(room_id)}" + (f"?{query}" if query else "")
        await self.call("POST", path, {}, what=f"join {room_id}", remote=remote or bool(via))

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

    async def logout(self) -> None:
        """Invalidate this client's own access token."""
        await self.call("POST", f"{CLIENT}/logout", {}, what="log out")


def _field(answer: Any, name: str, what: str) -> str:
    value = answer.get(name) if isinstance(answer, dict) else None
    if not isinstance(value, str):
        raise HomeserverError(f"the homeserver answered {what} without {name}")
    return value
