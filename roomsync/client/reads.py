"""What the client reads, and how: Synapse's sliding sync where the server has it (many rooms' chosen
state in one request), else one filtered /sync and each room's state on its own; the room
directory, aliases, memberships and profiles."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from ..errors import HomeserverError, MatrixError
from .transport import Transport, seg

CLIENT = "/_matrix/client/v3"
MEDIA = "/_matrix/media/v3"  # uploads (downloads go through the authenticated /_matrix/client/v1/media)
SLIDING_SYNC = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"
# Rooms per sliding-sync request; more go in several requests at once. Synapse spends the same
# time per room either way (measured: one request of 1,000 rooms, or 2 to 8 in parallel).
LIST_PAGE = 2000
SUBSCRIPTION_PAGE = 1000

Events = list[Mapping[str, Any]]  # state events as the server sent them


class Reads(Transport):
    sliding: bool | None = None  # does the server answer sliding sync? None: not asked yet
    one_pass: bool | None = None  # read every joined room's state at once (strategy.py)? None: chosen per run
    read_passes: int | None = None  # how this run read the rooms' state, 1 or 2 (for the benchmark and tests)

    async def whoami(self) -> str:
        """The token's user. The first request of a run: it also checks the URL points at Matrix."""
        answer = await self.call("GET", f"{CLIENT}/account/whoami", what="whoami", first=True)
        if not isinstance(answer, dict) or not isinstance(answer.get("user_id"), str):
            raise HomeserverError(
                f"{self.base_url} answered whoami without a user id; is it a Matrix homeserver's base URL?"
            )
        return str(answer["user_id"])

    async def room_versions(self) -> tuple[str, frozenset[str]]:
        """The default room version and every version the server offers."""
        answer = await self.call("GET", f"{CLIENT}/capabilities", what="capabilities")
        versions = answer.get("capabilities", {}).get("m.room_versions", {})
        available = versions.get("available") if isinstance(versions.get("available"), dict) else {}
        return str(versions.get("default", "1")), frozenset(str(v) for v in available)

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
        return answer if isinstance(answer, dict) else {}

    async def joined_state(
        self, required: list[tuple[str, str]], joined: list[str], *, by_room: bool = False
    ) -> dict[str, Events]:
        """The given (event type, state key) state of every joined room: room id -> events. One
        sliding-sync list, LIST_PAGE rooms a request, the requests in parallel. Without sliding
        sync: each room of `joined` on its own (`by_room`), or one filtered /sync of those types."""
        found: dict[str, Events] = {}
        covered, count = 0, max(len(joined), 1)
        while covered < count:  # rooms joined meanwhile make the list longer than `joined`
            starts = range(covered, count, LIST_PAGE)
            answers = await asyncio.gather(*(self._joined_page(required, start) for start in starts))
            if any(answer is None for answer in answers):
                if by_room:
                    return await self._rooms_state_one_by_one(joined, required)
                return await self._joined_state_by_sync(sorted({t for t, _ in required}))
            for answer in answers:
                found.update(_joined(answer or {}))
                count = max(count, int(((answer or {}).get("lists") or {}).get("joined", {}).get("count") or 0))
            covered = starts[-1] + LIST_PAGE
        return found

    async def _joined_page(self, required: list[tuple[str, str]], start: int) -> dict[str, Any] | None:
        body = {
            "lists": {
                "joined": {
                    "ranges": [[start, start + LIST_PAGE - 1]],
                    "required_state": [list(r) for r in required],
                    "timeline_limit": 0,
                }
            }
        }
        return await self._sliding_sync(body, what="read the joined rooms")

    async def rooms_state(self, room_ids: list[str], required: list[tuple[str, str]]) -> dict[str, Events]:
        """The given state of each room: room id -> events; a room the account is not joined in is
        left out. Sliding sync, SUBSCRIPTION_PAGE rooms a request, in parallel; without it, each
        room's whole state, of which the same events are kept."""
        chunks = [room_ids[i : i + SUBSCRIPTION_PAGE] for i in range(0, len(room_ids), SUBSCRIPTION_PAGE)]
        subscription = {"required_state": [list(r) for r in required], "timeline_limit": 0}
        answers = await asyncio.gather(
            *(
                self._sliding_sync(
                    {"room_subscriptions": {r: subscription for r in chunk}},
                    what=f"read the state of {len(chunk)} rooms",
                )
                for chunk in chunks
            )
        )
        if any(answer is None for answer in answers):
            return await self._rooms_state_one_by_one(room_ids, required)
        found: dict[str, Events] = {}
        for answer in answers:
            found.update(_joined(answer or {}))
        # Sliding sync leaves out a room it has no record of yet (one whose creation a crash cut
        # short, say): such a room is read on its own.
        missing = [room_id for room_id in room_ids if room_id not in found]
        found.update(await self._rooms_state_one_by_one(missing, required) if missing else {})
        return found

    async def _joined_state_by_sync(self, types: list[str]) -> dict[str, Events]:
        """One filtered /sync of the joined rooms' state."""
        state = {"types": types, "lazy_load_members": True}
        answer = await self.call("GET", _sync_path(state), what="read the joined rooms")
        joined = (answer.get("rooms") or {}).get("join") or {}
        return {
            room_id: list((room.get("state") or {}).get("events") or [])
            for room_id, room in joined.items()
            if isinstance(room, dict)
        }

    async def _rooms_state_one_by_one(self, room_ids: list[str], required: list[tuple[str, str]]) -> dict[str, Events]:
        """Each room's whole state (as many in flight as the transport allows), of which only the
        required events are kept: the same events sliding sync would have sent."""

        async def one(room_id: str) -> Events | None:
            try:
                return pick(await self.room_state(room_id), required)
            except MatrixError as exc:
                if exc.status in (403, 404):
                    return None  # left or kicked meanwhile
                raise

        answers = await asyncio.gather(*(one(r) for r in room_ids))
        return {room_id: events for room_id, events in zip(room_ids, answers, strict=True) if events is not None}

    async def invited_rooms(self) -> set[str]:
        """Rooms this account has a pending invite to: one /sync with nothing but the invites."""
        answer = await self.call("GET", _sync_path({"types": []}), what="read the pending invites")
        invites = (answer.get("rooms") or {}).get("invite") if isinstance(answer, dict) else None
        return set(invites) if isinstance(invites, dict) else set()

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

    async def room_state(self, room_id: str) -> Events:
        answer = await self.call("GET", f"{CLIENT}/rooms/{seg(room_id)}/state", what=f"read state of {room_id}")
        return answer if isinstance(answer, list) else []

    async def media_sha256(self, mxc: str) -> str | None:
        """The sha256 of a file in the media repository (authenticated media); None when it is gone
        or the URI is not one."""
        server, _, media_id = mxc.removeprefix("mxc://").partition("/")
        if not mxc.startswith("mxc://") or not server or not media_id or "/" in media_id:
            return None
        path = f"/_matrix/client/v1/media/download/{seg(server)}/{seg(media_id)}"
        data = await self.call("GET", path, what=f"download {mxc}", missing_ok=True, binary=True, remote=True)
        return None if data is None else hashlib.sha256(data).hexdigest()

    async def resolve_alias(self, alias: str, *, remote: bool = False) -> str | None:
        """The room an alias names, None if none; `remote`: an alias of another homeserver."""
        answer = await self.call(
            "GET", f"{CLIENT}/directory/room/{seg(alias)}", what=f"resolve {alias}", missing_ok=True, remote=remote
        )
        return None if answer is None else answer.get("room_id")

    async def published(self, room_id: str) -> bool:
        answer = await self.call(
            "GET", f"{CLIENT}/directory/list/room/{seg(room_id)}", what=f"directory visibility of {room_id}"
        )
        return bool(answer.get("visibility") == "public")

    async def profile(self, user_id: str) -> dict[str, Any] | None:
        """A user's profile; None when the user does not exist (404). A profile closed to this token
        reads as empty."""
        try:
            answer = await self.call("GET", f"{CLIENT}/profile/{seg(user_id)}", what=f"profile of {user_id}")
        except MatrixError as exc:
            if exc.status == 404:
                return None
            if exc.status in (401, 403):
                return {}
            raise
        return answer if isinstance(answer, dict) else {}

    async def state_event(self, room_id: str, event_type: str, state_key: str = "") -> dict[str, Any] | None:
        """One state event's content; None if it is absent or the account cannot see it (yet)."""
        path = f"{CLIENT}/rooms/{seg(room_id)}/state/{seg(event_type)}/{seg(state_key)}"
        try:
            answer = await self.call("GET", path, what=f"read {event_type} in {room_id}", missing_ok=True)
        except MatrixError as exc:
            if exc.status == 403:
                return None  # not joined yet: the room is still being created
            raise
        return answer if isinstance(answer, dict) or answer is None else {}

    async def membership(self, room_id: str, user_id: str) -> str | None:
        path = f"{CLIENT}/rooms/{seg(room_id)}/state/m.room.member/{seg(user_id)}"
        answer = await self.call("GET", path, what=f"membership of {user_id} in {room_id}", missing_ok=True)
        membership = (answer or {}).get("membership")
        return membership if isinstance(membership, str) else None


def _sync_path(state: dict[str, Any]) -> str:
    """A /sync of the rooms' state only. Synapse keeps an initial /sync's answer for minutes and hands
    it to the same filter again, older than a write made meanwhile: a filter of its own (a room id
    that cannot exist in not_rooms) makes every answer fresh."""
    room_filter: dict[str, Any] = {
        "state": state,
        "timeline": {"limit": 0},
        "ephemeral": {"types": []},
        "account_data": {"types": []},
        "not_rooms": [f"!roomsync-{random.getrandbits(64):x}:invalid"],
    }
    sync_filter = {"room": room_filter, "presence": {"types": []}, "account_data": {"types": []}}
    return f"{CLIENT}/sync?{urlencode({'filter': json.dumps(sync_filter, separators=(',', ':'))})}"


def pick(events: Events, required: list[tuple[str, str]]) -> Events:
    """The events of a room's state that `required` names ("*" as a state key: every key)."""
    exact = set(required)
    any_key = {event_type for event_type, key in required if key == "*"}
    return [
        event
        for event in events
        if isinstance(event, Mapping)
        and (event.get("type") in any_key or (event.get("type"), event.get("state_key")) in exact)
    ]


def _joined(answer: dict[str, Any]) -> dict[str, Events]:
    """Room id -> state events of the joined rooms in a sliding sync answer (invites have none)."""
    rooms = answer.get("rooms") or {}
    return {
        room_id: list(room["required_state"])
        for room_id, room in rooms.items()
        if isinstance(room, dict) and isinstance(room.get("required_state"), list)
    }
