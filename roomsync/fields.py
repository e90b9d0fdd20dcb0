"""The room fields roomsync manages, and how each is read from a live room.

One table for both directions: the planner compares a declared value with `read(live)`, and
`roomsync import` writes `read(live)` into a rooms file (when `valid` says the rooms schema
accepts it). Sharing the readers is what keeps import the planner's inverse: a value import
writes is the value the planner finds, so the next plan has nothing to change.

Where Matrix gives an absent state event a meaning, the reader returns that meaning
(no m.room.guest_access event means `forbidden`, no m.room.history_visibility `shared`, no
m.room.join_rules `invite`), so a
declared `guest_access: forbidden` matches a room that has no such event. The fields that
name other rooms or users (alias, alt_aliases, creators, power_levels, members, spaces) need more than one room
to read, and `state` (any other event) is read whole: the planner and the importer handle those themselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .live import LiveRoom
from .model import SIMPLE_STATE

ROOM_VERSION = re.compile(r"^[a-z0-9.-]{1,32}$")  # rooms.schema.json's room_version
MXC = re.compile(r"^mxc://[^/]+/[^/]+$")  # an avatar import may write (the live value is a URI)
SPACE_ROOM_TYPE = "m.space"


@dataclass(frozen=True)
class RoomField:
    """A room field whose live value comes from the room alone."""

    name: str
    read: Callable[[LiveRoom], Any]  # the live value as the planner compares it; None: the room has none
    valid: Callable[[Any], bool]  # may a rooms file declare this value (does the schema accept it)?


def _state_reader(event_type: str, key: str, absent: Any = None) -> Callable[[LiveRoom], Any]:
    def read(live: LiveRoom) -> Any:
        value = (live.content(event_type) or {}).get(key)
        return absent if value is None else value

    return read


def _one_of(*choices: str) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and value in choices


def _text(value: Any) -> bool:
    return isinstance(value, str)


# The spec's meaning of a missing event, where it gives one (a room without join rules is invite-only).
ABSENT = {"guest_access": "forbidden", "history_visibility": "shared", "join_rule": "invite"}

_VALID = {
    "name": _text,
    "topic": _text,
    "avatar": lambda value: isinstance(value, str) and bool(MXC.match(value)),
    "join_rule": _one_of("public", "invite", "knock", "restricted"),
    "history_visibility": _one_of("world_readable", "shared", "invited", "joined"),
    "guest_access": _one_of("can_join", "forbidden"),
}


def read_server_acl(live: LiveRoom) -> dict[str, Any] | None:
    """m.room.server_acl as its content means it (a missing allow denies every server, a missing
    allow_ip_literals allows them); None when the room has no server ACL."""
    content = live.content("m.room.server_acl")
    if content is None:
        return None
    lists: dict[str, Any] = {
        key: content.get(key) if isinstance(content.get(key), list) else [] for key in ("allow", "deny")
    }
    return {**lists, "allow_ip_literals": content.get("allow_ip_literals", True)}


def _valid_acl(value: Any) -> bool:
    if not isinstance(value, dict) or not isinstance(value.get("allow_ip_literals"), bool):
        return False
    lists = [value.get("allow"), value.get("deny")]
    return all(
        isinstance(v, list) and all(isinstance(g, str) and g for g in v) and len(set(v)) == len(v) for v in lists
    )


def read_type(live: LiveRoom) -> str | None:
    """`space` for a room of type m.space; None for a plain room (or any other room type)."""
    return "space" if live.room_type == SPACE_ROOM_TYPE else None


def read_directory(live: LiveRoom) -> str | None:
    """public | private, as the room directory lists it; None when it was not read."""
    if live.published is None:
        return None
    return "public" if live.published else "private"


FIELDS: dict[str, RoomField] = {
    "type": RoomField("type", read_type, lambda value: value == "space"),
    **{
        name: RoomField(name, _state_reader(event_type, key, ABSENT.get(name)), _VALID[name])
        for name, (event_type, key) in SIMPLE_STATE.items()
        if name in ("name", "topic", "avatar")
    },
    "directory": RoomField("directory", read_directory, _one_of("public", "private")),
    **{
        name: RoomField(name, _state_reader(event_type, key, ABSENT.get(name)), _VALID[name])
        for name, (event_type, key) in SIMPLE_STATE.items()
        if name not in ("name", "topic", "avatar")
    },
    "encrypted": RoomField("encrypted", lambda live: live.encrypted, lambda value: isinstance(value, bool)),
    "server_acl": RoomField("server_acl", read_server_acl, _valid_acl),
    "room_version": RoomField(
        "room_version",
        lambda live: live.room_version,
        lambda value: isinstance(value, str) and bool(ROOM_VERSION.match(value)),
    ),
}

# Every field of a room entry, in the order import writes them (the guide's order).
ENTRY_ORDER = (
    "alias",
    "type",
    "name",
    "topic",
    "avatar",
    "alt_aliases",
    "directory",
    "join_rule",
    "history_visibility",
    "guest_access",
    "encrypted",
    "server_acl",
    "room_version",
    "creators",
    "power_levels",
    "members",
    "spaces",
    "state",
)


def read(name: str, live: LiveRoom) -> Any:
    """The live value of a field of the table."""
    return FIELDS[name].read(live)
