"""Read each mirror homeserver as its own account sees it (roomsync.yaml's `mirrors:`).

A mirror is read with its own token, beside the home server and independently of it: a mirror
that does not answer is that mirror's error, and with the home server down the mirrors are
still read (the plan then holds what they can do alone). Per mirror: whoami, the joined rooms
and their canonical alias (which declared room each one is, from the mirror's own copy), the
mirror's aliases of every declared name, and the directory listing of the declared rooms it is in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from .client import Homeserver
from .errors import HomeserverError, MatrixError, RoomsyncError
from .live import LiveRoom, MirrorView, Snapshot, parse_room
from .model import Config, MirrorSpec
from .observe import together
from .plan.mirrors import names_read

INDEX = [("m.room.canonical_alias", "")]


async def read_mirrors(clients: Mapping[str, Homeserver | str], config: Config) -> dict[str, MirrorView]:
    """Every mirror's view; `clients`: server name -> its client, or why there is none (no token)."""
    specs = [m for m in config.mirrors if m.server_name in clients]
    views = await asyncio.gather(*(_read_one(clients[m.server_name], config, m) for m in specs))
    return {m.server_name: view for m, view in zip(specs, views, strict=True)}


async def _read_one(client: Homeserver | str, config: Config, mirror: MirrorSpec) -> MirrorView:
    if isinstance(client, str):
        return MirrorView(mirror.server_name, error=client)
    try:
        return await read_mirror(client, config, mirror)
    except (HomeserverError, RoomsyncError) as exc:
        return MirrorView(mirror.server_name, error=str(exc))


async def read_mirror(hs: Homeserver, config: Config, mirror: MirrorSpec) -> MirrorView:
    """In two rounds, since a mirror is often far away: whoami, the joined rooms and every
    declared name at once; then the joined rooms' canonical aliases beside the directory listing
    of the rooms the names point at (the same rooms, unless the names drifted)."""
    names = sorted({alias for spec in config.rooms for alias in names_read(spec, mirror)})
    who, joined_list, owners = await together(
        hs.whoami(), hs.joined_rooms(), asyncio.gather(*(hs.resolve_alias(alias) for alias in names))
    )
    if who != mirror.account:
        raise RoomsyncError(
            f"the token in {mirror.token_env} belongs to {who}, not to the mirror's account {mirror.account}"
        )
    named = sorted({o for o in owners if o} & set(joined_list))
    found, listed = await together(hs.joined_state(INDEX, joined_list), _listing(hs, named))
    joined = frozenset(joined_list) | frozenset(found)
    declared = {config.alias(spec.alias): spec.alias for spec in config.rooms}
    room_ids = {}
    for room_id, events in found.items():
        alias = parse_room(room_id, events).canonical_alias
        if alias in declared and room_id in joined:
            room_ids[declared[alias]] = room_id
    listed |= await _listing(hs, sorted(set(room_ids.values()) - set(listed) - set(named)))
    return MirrorView(
        mirror.server_name,
        joined=joined,
        room_ids=room_ids,
        alias_owner=dict(zip(names, owners, strict=True)),
        published=listed,
    )


async def read_public_mirrors(
    clients: Mapping[str, Homeserver], config: Config, snapshot: Snapshot
) -> dict[str, MirrorView]:
    """The mirrors whose token is not set, read as anyone may (`plan` only): their aliases of the
    declared names and the directory listing of the declared rooms, whose ids the home server's
    snapshot gives. Whether the mirror's account is in a room, the home server's copy says."""
    specs = [m for m in config.mirrors if m.server_name in clients]
    views = await asyncio.gather(*(_read_public(clients[m.server_name], config, m, snapshot) for m in specs))
    return {m.server_name: view for m, view in zip(specs, views, strict=True)}


async def _read_public(hs: Homeserver, config: Config, mirror: MirrorSpec, snapshot: Snapshot) -> MirrorView:
    unset = f"{mirror.token_env} is not set"
    if snapshot.home_error is not None:
        return MirrorView(mirror.server_name, error=f"{unset}: with the home server down, the mirror is read with it")
    names = sorted({alias for spec in config.rooms for alias in names_read(spec, mirror)})
    rooms = sorted({room.room_id for room in snapshot.rooms.values() if isinstance(room, LiveRoom)})
    try:
        owners, listed = await together(
            asyncio.gather(*(hs.resolve_alias(alias) for alias in names)), _listing(hs, rooms)
        )
    except (HomeserverError, RoomsyncError) as exc:
        return MirrorView(mirror.server_name, error=str(exc))
    return MirrorView(
        mirror.server_name,
        alias_owner=dict(zip(names, owners, strict=True)),
        published=listed,
        note=f"{unset}: its aliases and directory were read without a token; sync needs it",
    )


async def _listing(hs: Homeserver, room_ids: list[str]) -> dict[str, bool]:
    """Room id -> whether the mirror's directory lists it; a room it will not say is left out."""
    listed = await asyncio.gather(*(_published(hs, room_id) for room_id in room_ids))
    return {room_id: value for room_id, value in zip(room_ids, listed, strict=True) if value is not None}


async def _published(hs: Homeserver, room_id: str) -> bool | None:
    try:
        return await hs.published(room_id)
    except MatrixError as exc:
        if exc.status in (403, 404):
            return None
        raise
