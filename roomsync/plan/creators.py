"""Who owns a room: its creators (room version 12 and later, MSC4289).

Creators hold unlimited power that nobody can lower, and they are fixed when a room is made
(createRoom's additional_creators, or an upgrade's). So the declared creators go into the
createRoom and upgrade requests, and an existing room whose creators differ is an error that
names the only way there: an upgrade.
"""

from __future__ import annotations

from ..live import PRIVILEGED_CREATOR_VERSIONS, LiveRoom
from ..model import RoomSpec
from .scope import Draft, Scope


def for_new_room(scope: Scope, spec: RoomSpec, version: str, draft: Draft) -> tuple[str, ...]:
    """additional_creators of a room about to be made by the account."""
    if spec.creators is None:
        return ()
    if version not in PRIVILEGED_CREATOR_VERSIONS:
        draft.errors.append(_too_old(version))
        return ()
    draft.change("creators", None, sorted(spec.creators | {scope.me}))
    return tuple(sorted(spec.creators - {scope.me}))


def for_upgrade(scope: Scope, spec: RoomSpec, live: LiveRoom, version: str) -> tuple[str, ...]:
    """additional_creators of the room an upgrade makes: the declared ones, and the old room's
    creators too unless the room's own entry leaves them out (an inherited default is not
    enough to drop a person). Without them an upgrade would leave only the account in charge."""
    if version not in PRIVILEGED_CREATOR_VERSIONS:
        return ()
    declared = spec.creators or frozenset()
    keep = frozenset() if "creators" in spec.own else live.creators
    return tuple(sorted((declared | keep) - {scope.me}))


def check(spec: RoomSpec, live: LiveRoom, upgrading: bool, draft: Draft) -> None:
    """An existing room's creators against the declared ones (the room's maker is implied). With
    creators from the defaults, a room may have more: as for upgrades, a default is not enough
    to call a person's ownership a mistake."""
    if spec.creators is None or upgrading:
        return  # an upgrade passes the declared creators to the new room
    if not live.privileged_creators:
        draft.errors.append(_too_old(live.room_version) + "; raise room_version to 12 to upgrade it")
        return
    want = spec.creators - {live.room_creator}
    have = live.additional_creators
    if want != have and ("creators" in spec.own or not want <= have):
        made_by = f" besides {live.room_creator}, who made the room" if live.room_creator else ""
        draft.errors.append(
            f"creators differ: the room has {_names(have)}{made_by}; declared: {_names(want)}. "
            "Creators are fixed when a room is made: raise room_version to upgrade it into a new room "
            "with the declared creators"
        )


def _too_old(version: str) -> str:
    return f"creators needs room version 12 or later, and this room is version {version}"


def _names(users: frozenset[str]) -> str:
    return ", ".join(sorted(users)) if users else "no other creators"
