"""`state:` on a room or in defaults: any other state event, each listed (type, state_key) managed
exactly, anything not listed left alone, `content: null` removing one. Pure: the checks the config
makes, the events the planner and the reader need, and what import writes with --all-state.

The types roomsync manages through a field of its own are refused here, with the field to use:
one event written two ways would be changed back and forth.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .live import LiveRoom

MAX_EVENT_BYTES = 60_000  # inside Matrix's 64 KiB limit on a whole event

# Event type -> the field (or file) that manages it.
OWN_FIELDS = {
    "m.room.name": "name",
    "m.room.topic": "topic",
    "m.room.avatar": "avatar",
    "m.room.power_levels": "power_levels",
    "m.room.join_rules": "join_rule",
    "m.room.history_visibility": "history_visibility",
    "m.room.guest_access": "guest_access",
    "m.room.encryption": "encrypted",
    "m.room.canonical_alias": "alias and alt_aliases",
    "m.space.child": "spaces (on the rooms in the space)",
    "m.space.parent": "spaces",
    "m.room.server_acl": "server_acl",
    "m.room.tombstone": "retired and successor (or room_version, for an upgrade)",
    "m.room.create": "type, room_version and creators (set once, when the room is created)",
    "m.room.member": "members (people) or bots.yaml (bots)",
    "dev.roomsync.managed": "no field: it is roomsync's own marker",
    "dev.roomsync.members": "members",
    "m.policy.rule.user": "policies.yaml",
    "m.policy.rule.server": "policies.yaml",
    "m.policy.rule.room": "policies.yaml",
}


@dataclass(frozen=True)
class Declared:
    """One entry of `state:`: content None removes the event."""

    event_type: str
    state_key: str
    content: Mapping[str, Any] | None

    @property
    def key(self) -> tuple[str, str]:
        return self.event_type, self.state_key

    @property
    def field(self) -> str:
        """How a plan line names it: state.TYPE, or state.TYPE[KEY] when the key is not empty."""
        return f"state.{self.event_type}" + (f"[{self.state_key}]" if self.state_key else "")


def declared(value: Any) -> tuple[Declared, ...]:
    """The entries of a `state:` value (already checked)."""
    return tuple(Declared(e["type"], e.get("state_key", ""), e["content"]) for e in value or ())


def problems(value: list[Any]) -> list[tuple[tuple[Any, ...], str]]:
    """What is wrong with a `state:` list that the schema accepted: (path below it, message)."""
    found: list[tuple[tuple[Any, ...], str]] = []
    seen: dict[tuple[str, str], int] = {}
    for index, entry in enumerate(value):
        event_type, state_key = entry["type"], entry.get("state_key", "")
        if event_type in OWN_FIELDS:
            found.append(
                ((index, "type"), f"state: {event_type} is managed through {OWN_FIELDS[event_type]}; use that")
            )
            continue
        if (event_type, state_key) in seen:
            what = f"{event_type} with state_key '{state_key}'" if state_key else event_type
            found.append(
                ((index, "type"), f"state: {what} is already listed (entry {seen[event_type, state_key] + 1})")
            )
            continue
        seen[event_type, state_key] = index
        if entry["content"] is not None:
            try:
                size = len(json.dumps(entry["content"], ensure_ascii=False, allow_nan=False).encode())
            except (TypeError, ValueError):
                found.append(((index, "content"), "state: content must be plain JSON (quote dates and times)"))
                continue
            if size > MAX_EVENT_BYTES:
                found.append(((index, "content"), f"state: content is {size:,} bytes; at most {MAX_EVENT_BYTES:,}"))
    return found


def wanted(rooms: Iterable[Any]) -> set[tuple[str, str]]:
    """Every (type, state_key) some room declares: what the reader asks for besides its own types."""
    return {entry.key for spec in rooms for entry in declared(spec.get("state"))}


def unmanaged(live: LiveRoom) -> list[dict[str, Any]]:
    """The state of a room that no field covers, as `state:` entries (import --all-state)."""
    return [
        {"type": event_type, **({"state_key": key} if key else {}), "content": dict(content)}
        for (event_type, key), content in sorted(live.state.items())
        if event_type not in OWN_FIELDS
    ]
