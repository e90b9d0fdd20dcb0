"""The planner: desired config + live snapshot -> typed actions. Pure: no I/O, no clock.

make_plan is the one entry point; each module plans one concern:
  rooms.py         creating a room, and an existing room's own fields and aliases
  links.py         state naming other rooms: space links, restricted join rules
  power_levels.py  the one m.room.power_levels event (the room's keys and the bots' levels)
  policies.py      policy list rooms' rules, and the bans and server denies they enforce
  bots.py          the bots' memberships and profiles
  preflight.py     would the homeserver allow it; does the room keep its admins
"""

from __future__ import annotations

from collections.abc import Iterable

from .. import wellknown
from ..actions import (
    BOTS,
    ROOMS,
    Action,
    AdminJoin,
    BotPlan,
    Change,
    CreateAccount,
    CreateRoom,
    DeleteAlias,
    Invite,
    JoinAs,
    Kick,
    Plan,
    PutAlias,
    PutState,
    RoomPlan,
    RoomRef,
    SetAccount,
    SetDirectory,
    SetProfile,
    SetRateLimit,
)
from ..live import LiveRoom, Snapshot, Unreadable
from ..model import Config, RoomSpec
from . import bots, links, mirrors, policies, preflight, rooms
from .rooms import DEFAULT_EVENT_LEVELS
from .scope import Draft, Scope

__all__ = [
    "DEFAULT_EVENT_LEVELS",
    "Action",
    "AdminJoin",
    "BotPlan",
    "Change",
    "CreateAccount",
    "CreateRoom",
    "DeleteAlias",
    "Invite",
    "JoinAs",
    "Kick",
    "Plan",
    "PutAlias",
    "PutState",
    "RoomPlan",
    "RoomRef",
    "SetAccount",
    "SetDirectory",
    "SetProfile",
    "SetRateLimit",
    "make_plan",
]


def make_plan(
    config: Config,
    snapshot: Snapshot,
    only: str | None = None,
    *,
    rooms_selected: Iterable[str] | None = None,
    tokens: Iterable[str] | None = None,
) -> Plan:
    """Plan the whole config, or only its rooms or bots part (`only`), or only some rooms
    (`rooms_selected`: alias local parts, plus the links they need). `tokens`: the names of
    environment variables that are set, to warn about a bot's missing token_env."""
    scope = Scope(
        config,
        snapshot,
        rooms=only in (None, ROOMS),
        bots=only in (None, BOTS),
        selected=None if rooms_selected is None else frozenset(rooms_selected),
        tokens=None if tokens is None else frozenset(tokens),
    )
    if snapshot.home_error is not None:
        return _mirrors_only(scope)
    planned = []
    for spec in config.rooms:
        live = snapshot.rooms.get(spec.alias)
        alias = config.alias(spec.alias)
        if not scope.is_selected(spec.alias):
            if isinstance(live, LiveRoom) and scope.rooms and (linked := _links_only(scope, spec, live)):
                planned.append(linked)
        elif isinstance(live, Unreadable):
            planned.append(RoomPlan(alias, live.room_id, errors=(live.reason,), retired=spec.retired))
        elif live is None and spec.retired:
            planned.append(
                RoomPlan(
                    alias,
                    None,
                    notes=("retired, and it does not exist: nothing to do (a retired room is never created)",),
                    retired=True,
                )
            )
        elif live is None and scope.rooms:
            planned.append(rooms.plan_create(scope, spec))
        elif live is None:
            planned.append(RoomPlan(alias, None, notes=("the room does not exist yet; sync the rooms first",)))
        else:
            planned.append(rooms.plan_update(scope, spec, live))
    whole = scope.selected is None
    if whole and scope.rooms:
        planned += policies.plan_follows(scope)
    profiles, bot_notes = bots.plan_bots(scope, whole) if scope.bots else ((), ())
    delegation = wellknown.drift(config.well_known, snapshot.well_known) if only is None and whole else ()
    # Rooms left behind by an upgrade are not "no longer declared": their replacement is.
    declared_ids = set(scope.room_ids.values()) | set(scope.predecessors)
    warnings = [
        f"{alias} ({room_id}) was created or adopted by roomsync but is no longer declared; it is left "
        "alone (roomsync never deletes a room)"
        for alias, room_id in snapshot.managed_rooms
        if room_id not in declared_ids
    ]
    warnings += snapshot.warnings
    if scope.rooms:
        warnings += scope.enforcement.skipped
    return Plan(
        config.server_name,
        snapshot.account,
        tuple(planned),
        tuple(profiles),
        delegation,
        snapshot.reader,
        config.max_removals,
        tuple(warnings),
        notes=(*bot_notes, *(scope.enforcement.unread if scope.rooms else ()), *_mirror_notes(snapshot)),
        server_errors=_mirror_errors(snapshot),
    )


def _mirror_notes(snapshot: Snapshot) -> list[str]:
    return [f"[{name}] {view.note}" for name, view in snapshot.mirrors.items() if view.note]


def _mirror_errors(snapshot: Snapshot) -> dict[str, str]:
    return {name: view.error for name, view in snapshot.mirrors.items() if view.error is not None}


def _mirrors_only(scope: Scope) -> Plan:
    """The home server could not be read: what the mirrors can do alone, and that error."""
    config, snapshot = scope.config, scope.snapshot
    rooms = mirrors.mirrors_only(scope) if scope.rooms else []
    errors = {config.server_name: f"{snapshot.home_error}: its part was not planned", **_mirror_errors(snapshot)}
    return Plan(
        config.server_name,
        snapshot.account,
        tuple(rooms),
        reader=snapshot.reader,
        max_removals=config.max_removals,
        server_errors=errors,
    )


def _links_only(scope: Scope, spec: RoomSpec, live: LiveRoom) -> RoomPlan | None:
    """A room outside a --room selection: only its links with selected rooms, if they differ."""
    draft = Draft()
    links.plan_space_links(scope, spec, live, draft)
    if not draft.changes:
        return None
    preflight.check_room(scope, live, draft)
    return draft.finish(scope.config.alias(spec.alias), live.room_id)
