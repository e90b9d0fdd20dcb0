"""Matrix power-level rules, enough to tell in advance whether a change will be allowed."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .live import LiveRoom

UNLIMITED = math.inf  # a creator's power in room versions with privileged creators

# Keys of m.room.power_levels whose values are single levels.
SCALAR_KEYS = ("users_default", "events_default", "state_default", "ban", "kick", "redact", "invite")


def user_level(room: LiveRoom, user: str) -> float:
    if room.privileged_creators and user in room.creators:
        return UNLIMITED
    levels = room.power_levels
    if levels is None:
        return 100 if user in room.creators else 0
    users = levels.get("users") or {}
    return as_level(users.get(user, levels.get("users_default", 0)))


def state_level(room: LiveRoom, event_type: str) -> float:
    """The level needed to send a state event of this type."""
    levels = room.power_levels
    if levels is None:
        return 0
    events = levels.get("events") or {}
    return as_level(events.get(event_type, levels.get("state_default", 50)))


def power_change_problems(room: LiveRoom, user: str, new: Mapping[str, Any]) -> list[str]:
    """Why `user` may not replace the room's power levels with `new` (the spec's auth rules)."""
    old = room.power_levels or {}
    mine = user_level(room, user)
    problems = []

    def check(label: str, before: Any, after: Any) -> None:
        if before == after:
            return
        for value in (before, after):
            if value is not None and as_level(value) > mine:
                problems.append(f"changing {label} from {before} to {after} needs power {as_level(value)}")
                return

    for key in SCALAR_KEYS:
        check(key, old.get(key), new.get(key))
    for group in ("events", "notifications"):
        before, after = old.get(group) or {}, new.get(group) or {}
        for name in sorted(set(before) | set(after)):
            check(f"{group}.{name}", before.get(name), after.get(name))
    before, after = old.get("users") or {}, new.get("users") or {}
    for name in sorted(set(before) | set(after)):
        was, will = before.get(name), after.get(name)
        if was == will:
            continue
        if will is not None and as_level(will) > mine:
            problems.append(f"giving {name} power {will} needs power {will}")
        elif was is not None and name != user and as_level(was) >= mine:
            problems.append(f"changing {name}'s power {was} needs more than {was}")
    return problems


def as_level(value: Any) -> float:
    """A power level from event content, where anything malformed counts as 0."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
