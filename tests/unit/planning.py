"""Builders for planner tests: Config, RoomSpec, realistic LiveRooms, Snapshots, and a tiny
homeserver simulator that applies a plan's actions to a LiveRoom so a test can replan."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from roomsync.errors import Mark
from roomsync.live import PRIVILEGED_CREATOR_VERSIONS, LiveRoom, Snapshot, Unreadable, parse_room
from roomsync.model import Config, RoomSpec
from roomsync.plan import (
    CreateRoom,
    DeleteAlias,
    Plan,
    PutAlias,
    PutState,
    RoomPlan,
    SetDirectory,
    make_plan,
)

SERVER = "opendev.org"
ME = "@roomsync:opendev.org"  # the provisioning account
BOB = "@bob:opendev.org"
CAROL = "@carol:opendev.org"
ADMIN = "@admin:opendev.org"
ROOM_ID = "!dev:opendev.org"
MARK = Mark("rooms/x.yaml", 1, 1)

# What Synapse puts in m.room.power_levels before power_level_content_override is merged over it.
SYNAPSE_EVENTS = {
    "m.room.name": 50,
    "m.room.power_levels": 100,
    "m.room.history_visibility": 100,
    "m.room.canonical_alias": 50,
    "m.room.avatar": 50,
    "m.room.tombstone": 100,
    "m.room.server_acl": 100,
    "m.room.encryption": 100,
}


def alias(localpart: str) -> str:
    return f"#{localpart}:{SERVER}"


def spec(localpart: str = "dev", **fields: Any) -> RoomSpec:
    """A room entry that sets these fields itself (none from defaults), user ids named by id."""
    users = (fields.get("power_levels") or {}).get("users") or {}
    return RoomSpec(localpart, fields, mark=MARK, own=frozenset(fields), named_users=frozenset(users))


def config(*specs: RoomSpec) -> Config:
    return Config(root=Path("."), server_name=SERVER, homeserver=None, rooms=tuple(specs))


def event(event_type: str, content: Mapping[str, Any], state_key: str = "", sender: str = ME) -> dict[str, Any]:
    return {"type": event_type, "state_key": state_key, "sender": sender, "content": dict(content)}


def base_power_levels(version: str, creator: str = ME) -> dict[str, Any]:
    """m.room.power_levels as Synapse makes it for a new room, before any override."""
    return {
        "users": {} if version in PRIVILEGED_CREATOR_VERSIONS else {creator: 100},
        "users_default": 0,
        "events": dict(SYNAPSE_EVENTS),
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": 0,
        "historical": 100,
        "notifications": {"room": 50},
    }


def room(
    version: str = "12",
    creator: str = ME,
    *,
    room_id: str = ROOM_ID,
    canonical: str | None = "#dev:opendev.org",
    alt_aliases: Iterable[str] | None = None,
    power_levels: Mapping[str, Any] | None = None,
    state: Mapping[str, Mapping[str, Any]] | None = None,
    encrypted: bool = False,
    published: bool | None = None,
    additional_creators: Iterable[str] | None = None,
) -> LiveRoom:
    """A LiveRoom parsed from a realistic event list.

    canonical: the canonical alias (None: no canonical_alias event unless alt_aliases is given).
    power_levels None: Synapse's defaults for this version and creator; pass {} for a room
    without an m.room.power_levels event. state: extra events by type (state key "").
    """
    create: dict[str, Any] = {"room_version": version}
    if version not in PRIVILEGED_CREATOR_VERSIONS and version in {str(v) for v in range(1, 11)}:
        create["creator"] = creator
    if additional_creators is not None:
        create["additional_creators"] = list(additional_creators)
    events = [
        event("m.room.create", create, sender=creator),
        event("m.room.member", {"membership": "join"}, state_key=creator, sender=creator),
    ]
    if power_levels is None:
        power_levels = base_power_levels(version, creator)
    if power_levels:
        events.append(event("m.room.power_levels", power_levels, sender=creator))
    if canonical is not None or alt_aliases is not None:
        content: dict[str, Any] = {}
        if canonical is not None:
            content["alias"] = canonical
        if alt_aliases is not None:
            content["alt_aliases"] = list(alt_aliases)
        events.append(event("m.room.canonical_alias", content, sender=creator))
    for event_type, content in (state or {}).items():
        events.append(event(event_type, content, sender=creator))
    if encrypted:
        events.append(event("m.room.encryption", {"algorithm": "m.megolm.v1.aes-sha2"}, sender=creator))
    return parse_room(room_id, events, published=published)


def owners_of(rooms: Mapping[str, LiveRoom | Unreadable]) -> dict[str, str]:
    """alias -> room id, as read_snapshot derives it from the rooms' canonical_alias events."""
    owners: dict[str, str] = {}
    for live in rooms.values():
        if isinstance(live, LiveRoom):
            for claimed in live.claimed_aliases():
                owners[claimed] = live.room_id
    return owners


def snapshot(
    rooms: Mapping[str, LiveRoom | Unreadable] | None = None,
    alias_owner: Mapping[str, str] | None = None,
    *,
    account: str = ME,
    default_room_version: str = "12",
) -> Snapshot:
    """alias_owner None: derived from the rooms, plus each room's declared alias (by local part)."""
    rooms = dict(rooms or {})
    if alias_owner is None:
        alias_owner = owners_of(rooms)
        for localpart, live in rooms.items():
            alias_owner.setdefault(alias(localpart), live.room_id)
    return Snapshot(
        account=account, rooms=rooms, alias_owner=dict(alias_owner), default_room_version=default_room_version
    )


def plan_room(room_spec: RoomSpec, live: LiveRoom | Unreadable | None = None, **snapshot_args: Any) -> RoomPlan:
    """The RoomPlan for one declared room, against one live room (or none: a create)."""
    rooms = {} if live is None else {room_spec.alias: live}
    plan = make_plan(config(room_spec), snapshot(rooms, **snapshot_args))
    assert len(plan.rooms) == 1
    return plan.rooms[0]


def of_type(room_plan: RoomPlan, kind: type) -> list[Any]:
    return [a for a in room_plan.actions if isinstance(a, kind)]


def puts(room_plan: RoomPlan) -> dict[str, Mapping[str, Any]]:
    """PutState contents by event type."""
    return {a.event_type: a.content for a in of_type(room_plan, PutState)}


def changes(room_plan: RoomPlan) -> dict[str, tuple[Any, Any]]:
    """field -> (before, after); only for fields that appear once."""
    fields = [c.field for c in room_plan.changes]
    return {c.field: (c.before, c.after) for c in room_plan.changes if fields.count(c.field) == 1}


# --- a tiny homeserver ---------------------------------------------------------------------


@dataclasses.dataclass
class World:
    """One room and the server's alias directory, changed the way the homeserver would."""

    live: LiveRoom
    alias_owner: dict[str, str]

    def apply(self, actions: Iterable[Any]) -> None:
        state = dict(self.live.state)
        published = self.live.published
        room_id = self.live.room_id
        for action in actions:
            if isinstance(action, PutState):
                if action.content:
                    state[(action.event_type, action.state_key)] = copy.deepcopy(dict(action.content))
                else:
                    state.pop((action.event_type, action.state_key), None)
            elif isinstance(action, PutAlias):
                owner = self.alias_owner.get(action.alias)
                assert owner in (None, room_id), f"{action.alias} already belongs to {owner}"
                self.alias_owner[action.alias] = room_id
            elif isinstance(action, DeleteAlias):
                assert self.alias_owner.get(action.alias) == room_id
                del self.alias_owner[action.alias]
                # Synapse drops a deleted alias from the room's canonical_alias event.
                content = dict(state.get(("m.room.canonical_alias", "")) or {})
                if content.get("alias") == action.alias:
                    del content["alias"]
                if isinstance(content.get("alt_aliases"), list):
                    content["alt_aliases"] = [a for a in content["alt_aliases"] if a != action.alias]
                state[("m.room.canonical_alias", "")] = content
            elif isinstance(action, SetDirectory):
                published = action.visibility == "public"
            else:
                raise AssertionError(f"cannot apply {action!r} to an existing room")
        self.live = dataclasses.replace(self.live, state=state, published=published)

    def replan(self, room_spec: RoomSpec, **snapshot_args: Any) -> RoomPlan:
        """Plan again, finding the room the way read_snapshot does: through its primary alias."""
        found = self.alias_owner.get(alias(room_spec.alias)) == self.live.room_id
        rooms = {room_spec.alias: self.live} if found else {}
        plan = make_plan(config(room_spec), snapshot(rooms, dict(self.alias_owner), **snapshot_args))
        return plan.rooms[0]


def create_room(
    room_plan: RoomPlan, *, default_room_version: str = "12", room_id: str = ROOM_ID, creator: str = ME
) -> World:
    """What createRoom with the plan's body leaves behind (Synapse's private_chat preset), with the
    follow-up actions not yet applied."""
    create = room_plan.actions[0]
    assert isinstance(create, CreateRoom)
    body = create.body
    version = body.get("room_version", default_room_version)
    power_levels = base_power_levels(version, creator)
    power_levels.update(copy.deepcopy(dict(body.get("power_level_content_override", {}))))
    primary = alias(body["room_alias_name"])
    create_content: dict[str, Any] = {"room_version": version}
    if version not in PRIVILEGED_CREATOR_VERSIONS:
        create_content["creator"] = creator
    events = [
        event("m.room.create", create_content, sender=creator),
        event("m.room.member", {"membership": "join"}, state_key=creator, sender=creator),
        event("m.room.power_levels", power_levels, sender=creator),
        event("m.room.canonical_alias", {"alias": primary}, sender=creator),
        event("m.room.join_rules", {"join_rule": "invite"}, sender=creator),
        event("m.room.history_visibility", {"history_visibility": "shared"}, sender=creator),
        event("m.room.guest_access", {"guest_access": "can_join"}, sender=creator),
    ]
    for initial in body.get("initial_state", []):
        events.append(event(initial["type"], initial["content"], initial.get("state_key", ""), sender=creator))
    live = parse_room(room_id, events, published=body.get("visibility") == "public")
    return World(live, {primary: room_id})


def roundtrip(room_spec: RoomSpec, *, default_room_version: str = "12") -> tuple[World, RoomPlan]:
    """Create the room as planned, apply the follow-ups, and plan again."""
    first = plan_room(room_spec, default_room_version=default_room_version)
    assert first.status == "create", first
    world = create_room(first, default_room_version=default_room_version)
    world.apply(first.actions[1:])
    return world, world.replan(room_spec, default_room_version=default_room_version)


def whole_plan(*pairs: tuple[RoomSpec, LiveRoom | Unreadable | None], **snapshot_args: Any) -> Plan:
    rooms = {s.alias: live for s, live in pairs if live is not None}
    return make_plan(config(*(s for s, _ in pairs)), snapshot(rooms, **snapshot_args))
