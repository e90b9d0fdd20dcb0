"""A room's life after creation: upgrades to a newer room version, and retirement.

Renames (`formerly`) are planned with the aliases (rooms.plan_alt_aliases); links that still
name a room from before its upgrade, with the links (links.py).
"""

from __future__ import annotations

from typing import Any

from ..actions import PutState, RoomRef, SetDirectory, Upgrade
from ..live import LiveRoom
from ..model import MANAGED_MARKER, RoomSpec
from . import creators
from .scope import Draft, Scope

TOMBSTONE = "m.room.tombstone"
AFTER_UPGRADE = (
    "after the upgrade, sync reads the new room and brings it to the declared state: "
    "roomsync's marker, its space links, and its bots (invites are not carried over)"
)


def _version_order(declared: str, live: str) -> int | None:
    """Positive when `declared` is a newer room version than `live`; None when they cannot be compared."""
    if declared.isdigit() and live.isdigit():
        return int(declared) - int(live)
    return None


def plan_version(scope: Scope, spec: RoomSpec, live: LiveRoom, draft: Draft) -> bool:
    """room_version on an existing room is the version it should be at: True when an upgrade is planned."""
    if not spec.manages("room_version"):
        return False
    want, have = str(spec.get("room_version")), live.room_version
    if want == have:
        return False
    order = _version_order(want, have)
    offered = scope.snapshot.room_versions
    if order is None:
        draft.errors.append(
            f"room_version {want}: roomsync cannot tell whether it is newer than this room's "
            f"version {have}; upgrade it by hand, or declare {have}"
        )
    elif order < 0:
        draft.errors.append(
            f"room_version {want} is older than this room's version {have}: Matrix rooms are "
            f"never downgraded; declare {have} (or leave room_version out)"
        )
    elif offered is not None and want not in offered:
        draft.errors.append(not_offered(want, offered))
    else:
        marker = live.content(MANAGED_MARKER)
        upgrade = Upgrade(want, creators.for_upgrade(scope, spec, live, want), dict(marker) if marker else None)
        draft.change("room_version", have, want, upgrade)
        return True
    return False


def not_offered(version: str, offered: frozenset[str]) -> str:
    versions = ", ".join(sorted(offered, key=_sort_key))
    return f"room_version {version} is not offered by this homeserver (it offers {versions})"


def _sort_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (10**6, version)


def plan_marker(scope: Scope, spec: RoomSpec, live: LiveRoom, draft: Draft) -> None:
    """A room made by an upgrade carries roomsync's marker as the room it replaced did (an upgrade
    does not copy it)."""
    if live.predecessor and live.content(MANAGED_MARKER) is None:
        alias = scope.config.alias(spec.alias)
        draft.change("marker", None, alias, PutState(MANAGED_MARKER, "", {"alias": alias}))


def plan_retirement(scope: Scope, spec: RoomSpec, live: LiveRoom, draft: Draft) -> None:
    """Out of the directory, a tombstone to the successor (when there is one). Its spaces and its
    bots are left by the links and bots parts, which see no spaces and no bots for it."""
    if live.published:
        draft.change("directory", "public", "private", SetDirectory("private"))
    if spec.successor is None:
        return
    successor = scope.config.alias(spec.successor)
    have = live.replacement
    if have is not None and have == scope.room_ids.get(successor):
        return
    content: dict[str, Any] = {
        "body": f"This room has been replaced by {successor}",
        "replacement_room": RoomRef(successor),
    }
    draft.change(
        "tombstone", scope.alias_of(have) or have if have else None, successor, PutState(TOMBSTONE, "", content)
    )


def may_take_alias(scope: Scope, spec: RoomSpec, holder: str, room_id: str | None) -> bool:
    """May this room take an alias that another room holds? Only an explicit move: from a room that
    was replaced by this one (its tombstone says so), or from a declared retired room that names
    this one as its successor."""
    if room_id is not None and scope.snapshot.replacements.get(holder) == room_id:
        return True
    return any(
        other.retired
        and other.successor == spec.alias
        and scope.room_ids.get(scope.config.alias(other.alias)) == holder
        for other in scope.config.rooms
    )
