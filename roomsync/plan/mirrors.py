"""A room's part on each mirror homeserver (roomsync.yaml's `mirrors:`).

The home server invites the mirror's account where the room is not public and gives it its
power (power_levels.py merges it into the room's users); the mirror, with its own token, joins
the room, publishes its own aliases for it and lists it in its directory as the home server
does. The mirror's changes are shown as `[server] field` and run after the home server's part,
so that a mirror that does not answer stops nothing on the home server.
"""

from __future__ import annotations

from ..actions import (
    DeleteAlias,
    Invite,
    MirrorJoin,
    OnMirror,
    PutAlias,
    RoomPlan,
    SetDirectory,
)
from ..live import LiveRoom, MirrorView
from ..model import MirrorSpec, RoomSpec
from .scope import Draft, Scope


def levels(scope: Scope, live: LiveRoom | None) -> dict[str, int]:
    """The mirrors' accounts and their power; a creator of a version-12 room needs no entry."""
    creators = live.creators if live and live.privileged_creators else frozenset()
    return {m.account: m.power_level for m in scope.config.mirrors if m.account not in creators}


def plan_mirrors(scope: Scope, spec: RoomSpec, live: LiveRoom | None, draft: Draft) -> None:
    """Each readable mirror's part of a room that exists or is being created (live None)."""
    for mirror in scope.config.mirrors:
        view = scope.snapshot.mirrors.get(mirror.server_name)
        if view is None or view.error is not None:
            _invite(scope, spec, mirror, live, draft)  # the home server's part still goes through
            continue
        room_id = live.room_id if live else None
        _membership(scope, spec, mirror, view, live, draft)
        _aliases(scope, spec, mirror, view, room_id, draft)
        _directory(spec, mirror, view, room_id, draft)


def _wants_invite(spec: RoomSpec) -> bool:
    return bool(spec.get("join_rule", "invite") != "public")


def _invite(scope: Scope, spec: RoomSpec, mirror: MirrorSpec, live: LiveRoom | None, draft: Draft) -> None:
    """The home server's invite of a mirror whose own part is not planned this run."""
    membership = live.membership(mirror.account) if live else None
    if _wants_invite(spec) and membership not in ("join", "invite", "ban"):
        draft.change(f"member.{mirror.account}", membership, "invite", Invite(mirror.account))


def _membership(
    scope: Scope, spec: RoomSpec, mirror: MirrorSpec, view: MirrorView, live: LiveRoom | None, draft: Draft
) -> None:
    have = live.membership(mirror.account) if live else None
    if have == "join":
        return
    if have == "ban":
        draft.errors.append(f"the mirror's account {mirror.account} is banned here; unban it by hand first")
        return
    invite = (Invite(mirror.account),) if _wants_invite(spec) and have != "invite" else ()
    via = tuple(server for server in scope.config.servers if server != mirror.server_name)
    join = OnMirror(mirror.server_name, MirrorJoin(via))
    draft.change(f"member.{mirror.account}", have, "join", *invite, join, server=mirror.server_name)


def wanted_aliases(spec: RoomSpec, mirror: MirrorSpec) -> list[str]:
    if not mirror.aliases:
        return []
    return [mirror.alias(a) for a in (spec.alias, *(spec.alt_aliases or ()))]


def _aliases(
    scope: Scope, spec: RoomSpec, mirror: MirrorSpec, view: MirrorView, room_id: str | None, draft: Draft
) -> None:
    """The mirror's aliases of the declared aliases. One that names the room from before an upgrade
    moves; one for a name this room no longer uses (a former or dropped alt alias, or every one
    with aliases: false) is deleted; one that names another room is an error."""
    server = mirror.server_name
    want = wanted_aliases(spec, mirror)
    for alias in want:
        owner = view.alias_owner.get(alias)
        if owner is not None and owner == room_id:
            continue
        if owner is None:
            draft.change("alias", None, alias, OnMirror(server, PutAlias(alias)), server=server)
        elif owner in scope.predecessors and room_id is not None:
            moves = (OnMirror(server, DeleteAlias(alias)), OnMirror(server, PutAlias(alias)))
            draft.change("alias", f"{alias} (before the upgrade, {owner})", alias, *moves, server=server)
        else:
            draft.errors.append(f"[{server}] alias {alias} points at another room ({owner}); remove it there first")
    names = {spec.alias, *(spec.alt_aliases or ()), *spec.formerly}
    for alias in sorted(mirror.alias(name) for name in names):
        if alias not in want and room_id is not None and view.alias_owner.get(alias) == room_id:
            draft.change("alias", alias, None, OnMirror(server, DeleteAlias(alias)), server=server)


def names_read(spec: RoomSpec, mirror: MirrorSpec) -> list[str]:
    """The mirror's aliases a plan must resolve for a room: every name it has or had."""
    return [mirror.alias(name) for name in (spec.alias, *(spec.alt_aliases or ()), *spec.formerly)]


def _directory(spec: RoomSpec, mirror: MirrorSpec, view: MirrorView, room_id: str | None, draft: Draft) -> None:
    listed = mirror.directory and not spec.retired and spec.get("directory") == "public"
    want = "public" if listed else "private"
    have = ("public" if view.published.get(room_id) else "private") if room_id else None
    if have == want or (have is None and want == "private"):
        return
    action = OnMirror(mirror.server_name, SetDirectory(want))
    draft.change("directory", have, want, action, server=mirror.server_name)


def mirrors_only(scope: Scope) -> list[RoomPlan]:
    """With the home server down: each room's part that the mirrors can do alone. A mirror knows a
    room by its own copy of the room's canonical alias (it cannot join a room it is not in)."""
    planned = []
    for spec in scope.config.rooms:
        if not scope.is_selected(spec.alias):
            continue
        draft = Draft()
        room_id = None
        for mirror in scope.config.mirrors:
            view = scope.snapshot.mirrors.get(mirror.server_name)
            if view is None or view.error is not None:
                continue
            mirror_room = view.room_ids.get(spec.alias)
            room_id = room_id or mirror_room
            if mirror_room is None:
                draft.notes.append(
                    f"{mirror.server_name} is not in this room: it can join it only while the home server is up"
                )
                continue
            _aliases(scope, spec, mirror, view, mirror_room, draft)
            _directory(spec, mirror, view, mirror_room, draft)
        planned.append(draft.finish(scope.config.alias(spec.alias), room_id, retired=spec.retired))
    return planned
