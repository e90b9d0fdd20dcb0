"""Read the live snapshot the planner needs: its cost follows the declared rooms, not what else
the account has joined.

- whoami, then the joined rooms, and the canonical alias and roomsync's marker of each: they
  tell which joined rooms are declared (Synapse only accepts aliases in m.room.canonical_alias
  that point at the room, and rewrites the event when one is deleted), and which rooms
  roomsync made that are no longer declared.
- Declared aliases no joined room claims are resolved one by one (rooms to create, mostly).
- The managed state of each declared room, with the member events of the account and the
  bots only (not every member of a big room).
These two reads are one sliding-sync request each, or one request for both where the account
has joined few rooms besides the declared ones (client/strategy.py chooses per run); where a
server lacks sliding sync, one filtered /sync and then each room's state, 16 in flight (or,
for few other rooms, each joined room's state). Every choice reads the same events.
- Directory visibility: one admin room list when the account is a server admin; otherwise
  /publicRooms, and one GET per room declared public that it does not list (it leaves out
  published rooms that are invite-only or restricted and not world-readable).
- Synapse's admin API (the directory's admin room list, bot accounts, the account's rate-limit
  exemption) is asked once: when its first answer shows it absent (not a server admin's token,
  or not exposed), the other admin reads are not sent.
- Everything that does not need the rooms' state (the directory listing, bots' accounts and
  profiles, the .well-known files) is asked beside the rooms, not after them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from . import avatars, otherstate, policies, wellknown
from .actions import NOT_JOINED, RoomError
from .client import Homeserver, fetch_public
from .client.strategy import RoomStates, joined_rooms
from .errors import MatrixError
from .live import BotAccount, LiveRoom, Snapshot, Unreadable, parse_account, parse_room
from .model import MANAGED_MARKER, MEMBERS_RECORD, SIMPLE_STATE, BotSpec, Config

Progress = Callable[[str], None]

ALIAS_EVENT = "m.room.canonical_alias"
# Every state event type the planner reads (bots' memberships come with the full state).
MANAGED_TYPES = sorted(
    {
        "m.room.create",
        "m.room.power_levels",
        ALIAS_EVENT,
        "m.room.encryption",
        "m.space.child",
        "m.space.parent",
        "m.room.tombstone",
        MANAGED_MARKER,
        MEMBERS_RECORD,
        "m.room.server_acl",
        *policies.EVENT.values(),
    }
    | {event_type for event_type, _ in SIMPLE_STATE.values()}
)
INDEX = [(ALIAS_EVENT, ""), (MANAGED_MARKER, "")]  # enough to tell which joined rooms are which
# State keyed by room id or by rule: every key is wanted.
LINKS = {"m.space.child", "m.space.parent", *policies.EVENT.values()}


def required_state(members: list[str], other: set[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    """What the planner reads of a room: the managed state, the members it asks about, and the
    other state events rooms declare (`state:`)."""
    return (
        [(t, "*" if t in LINKS else "") for t in MANAGED_TYPES]
        + [("m.room.member", user) for user in sorted(set(members))]
        + sorted(other or ())
    )


async def read_snapshot(hs: Homeserver, config: Config, progress: Progress | None = None) -> Snapshot:
    say = progress or (lambda _msg: None)
    # The joined rooms go out beside whoami: how the rooms are read depends on their number. A
    # failed whoami (a wrong URL, a rejected token) says what is wrong; their answer is dropped.
    joined = asyncio.ensure_future(joined_rooms(hs))
    try:
        reader = await hs.whoami()
        me = config.account or reader  # whose power the plan checks; an observer only reads
        # What needs nothing of the rooms' state goes out beside it, so that a slow link waits for one
        # round trip, not one after another (admin requests wait for the admin API's first answer).
        rooms, listing, people, fetched, exempt = await together(
            _read_rooms(hs, config, reader, me, say, joined),
            _directory_listing(hs, config),
            _bots_and_people(hs, config, {me, reader}),
            _fetch_well_known(config),
            hs.admin.rate_limit_exempt(me),
        )
    finally:
        joined.cancel()  # answered by now, unless something failed first
        await asyncio.gather(joined, return_exceptions=True)
    accounts, profiles, existing, media = people
    await _read_directory(hs, config, rooms.by_alias, listing)
    version, offered = await _room_versions(hs, config, rooms.by_alias)
    return Snapshot(
        account=me,
        rooms=rooms.by_alias,
        alias_owner=rooms.alias_owner,
        default_room_version=version,
        room_versions=offered,
        replacements=rooms.replacements,
        profiles=profiles,
        reader=reader,
        well_known=fetched,
        managed_rooms=rooms.managed,
        warnings=tuple(_run_warnings(hs, me, exempt)),
        accounts=accounts,
        existing=existing,
        admin_absent=hs.admin.absent.message if hs.admin.absent else None,
        followed=rooms.followed,
        media=media,
    )


async def together(*steps: Awaitable[Any]) -> list[Any]:
    """Run the steps at once; the first failure is raised as it is, the other steps cancelled."""
    tasks = [asyncio.ensure_future(step) for step in steps]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


@dataclasses.dataclass(frozen=True)
class _Rooms:
    by_alias: dict[str, LiveRoom | Unreadable]
    alias_owner: dict[str, str]
    replacements: dict[str, str]
    managed: tuple[tuple[str, str], ...]
    followed: dict[str, LiveRoom | Unreadable]


async def _read_rooms(
    hs: Homeserver, config: Config, reader: str, me: str, say: Progress, joined: Awaitable[tuple[list[str], float]]
) -> _Rooms:
    """The declared rooms (and followed lists) as they are: which joined room is which, then the
    state of each, in one pass or two (client/strategy.py)."""
    members = [me, reader, *(bot.user for bot in config.bots), *(m.account for m in config.mirrors)]
    members += [user for spec in config.rooms for user in spec.members or ()]
    required = required_state(members, otherstate.wanted(config.rooms))
    states = RoomStates(hs, required, INDEX, declared=len(config.rooms) + len(config.policies.follow))
    joined_ids, indexed = await states.joined(joined)
    index = {room_id: parse_room(room_id, events) for room_id, events in indexed.items()}
    alias_owner = await _alias_owners(hs, config, index)
    owners, conflicts = _owners(config, alias_owner)
    # Every member event where someone may be kicked (members_exclusive) or banned (policy lists).
    enforcing = config.policies.enforcing
    exclusive = {spec.alias for spec in config.rooms if enforcing or spec.get("members_exclusive") is True}

    async def read(room_ids: set[str]) -> dict[str, LiveRoom]:
        found = await states.read(room_ids)
        everyone = {owners.get(alias) for alias in exclusive} & room_ids
        if everyone:  # members_exclusive: every member event of those rooms, in one more request
            extra = await states.read({r for r in everyone if r}, [("m.room.member", "*")])
            found = {room_id: [*events, *extra.get(room_id, [])] for room_id, events in found.items()}
        # In one pass the index was parsed from the very same events: that room is not parsed again.
        return {
            room_id: index[room_id] if indexed.get(room_id) is events else parse_room(room_id, events)
            for room_id, events in found.items()
        }

    wanted = {room_id for room_id in owners.values() if room_id in joined_ids}
    say(f"reading {len(wanted)} declared rooms")
    rooms, followed = await together(read(wanted), _read_followed(hs, config, reader, joined_ids, read))
    await _follow_upgrades(config, owners, rooms, joined_ids, read)
    replacements = {room.room_id: room.replacement for room in rooms.values() if room.replacement}
    replacements.update(await _tombstones_of_alias_owners(hs, config, owners, alias_owner, rooms))

    by_alias: dict[str, LiveRoom | Unreadable] = {}
    for spec in config.rooms:
        room_id = owners[spec.alias]
        if room_id is None:
            continue
        if spec.alias in conflicts:
            by_alias[spec.alias] = Unreadable(room_id, conflicts[spec.alias])
            continue
        by_alias[spec.alias] = rooms.get(room_id) or Unreadable(room_id, _not_joined(reader, me, room_id))
    managed = tuple(
        sorted(
            (str((room.content(MANAGED_MARKER) or {}).get("alias", "?")), room.room_id)
            for room in index.values()
            if room.content(MANAGED_MARKER)
        )
    )
    return _Rooms(by_alias, alias_owner, replacements, managed, followed)


async def _bots_and_people(
    hs: Homeserver, config: Config, skip: set[str]
) -> tuple[dict[str, BotAccount | None] | None, dict[str, dict[str, Any]], dict[str, bool], dict[str, str]]:
    """The bots' accounts, profiles and avatar files, and which local accounts exist."""
    accounts = await read_bot_accounts(hs, config)
    profiles, existing = await _people(hs, config, skip, accounts)
    media = await _bot_avatar_files(hs, config, profiles, accounts)
    return accounts, profiles, existing, media


async def _bot_avatar_files(
    hs: Homeserver, config: Config, profiles: dict[str, dict[str, Any]], accounts: dict[str, BotAccount | None] | None
) -> dict[str, str]:
    """The sha256 of each current avatar of a bot whose avatar is a file: mxc:// URI -> sha256.
    A profile has no room for a record of the file, so the picture itself is compared."""
    current = set()
    for bot in config.bots:
        if not avatars.is_file(bot.avatar):
            continue
        account = (accounts or {}).get(bot.user)
        url = account.avatar_url if account else (profiles.get(bot.user) or {}).get("avatar_url")
        if isinstance(url, str) and url.startswith(avatars.MXC_PREFIX):
            current.add(url)
    urls = sorted(current)
    hashes = await asyncio.gather(*(hs.media_sha256(url) for url in urls))
    return {url: sha for url, sha in zip(urls, hashes, strict=True) if sha}


async def _read_followed(
    hs: Homeserver,
    config: Config,
    reader: str,
    joined: set[str],
    read: Callable[[set[str]], Awaitable[dict[str, LiveRoom]]],
) -> dict[str, LiveRoom | Unreadable]:
    """The rooms of the lists policies.yaml follows: read where the reader has joined them."""
    targets = config.policies.follow
    resolved = await asyncio.gather(*(_resolve_followed(hs, target) for target in targets))
    ids = dict(zip(targets, resolved, strict=True))
    rooms = await read({room_id for room_id in ids.values() if room_id in joined})
    followed: dict[str, LiveRoom | Unreadable] = {}
    for target, room_id in ids.items():
        if room_id is None:
            followed[target] = Unreadable("", "no room has that alias")
        elif isinstance(room_id, MatrixError):
            why = f"{room_id.status} {room_id.errcode}: {room_id.message}"
            followed[target] = Unreadable("", f"its alias cannot be resolved: {why}")
        elif room_id in rooms:
            followed[target] = rooms[room_id]
        else:
            followed[target] = Unreadable(room_id, f"{reader} has not joined it")
    return followed


async def _resolve_followed(hs: Homeserver, target: str) -> str | MatrixError | None:
    """A followed list's room id (a room id is itself); an alias whose server does not answer is
    that server's error, not this run's."""
    if not target.startswith("#"):
        return target
    try:
        return await hs.resolve_alias(target, remote=True)
    except MatrixError as exc:
        return exc


async def _alias_owners(hs: Homeserver, config: Config, index: dict[str, LiveRoom]) -> dict[str, str]:
    """Full alias -> room id of every declared alias (primary, alt, former) that exists: from the
    joined rooms' canonical_alias events where one room alone claims it, else resolved."""
    claims: dict[str, set[str]] = defaultdict(set)
    for room in index.values():
        for alias in room.claimed_aliases():
            claims[alias].add(room.room_id)
    declared = [config.alias(spec.alias) for spec in config.rooms]
    declared += [config.alias(alt) for spec in config.rooms for alt in (spec.alt_aliases or ())]
    declared += [config.alias(former) for spec in config.rooms for former in spec.formerly]
    alias_owner = {alias: next(iter(owners)) for alias, owners in claims.items() if len(owners) == 1}
    unknown = [alias for alias in declared if alias not in alias_owner]
    for alias, room_id in zip(unknown, await asyncio.gather(*(hs.resolve_alias(a) for a in unknown)), strict=True):
        if room_id:
            alias_owner[alias] = room_id
        else:
            alias_owner.pop(alias, None)
    return alias_owner


async def _room_versions(
    hs: Homeserver, config: Config, by_alias: dict[str, LiveRoom | Unreadable]
) -> tuple[str, frozenset[str] | None]:
    """The server's default and offered room versions, asked only when a room will be created or
    its declared version differs from the live one."""
    missing = any(spec.alias not in by_alias and not spec.retired for spec in config.rooms)
    other_version = any(
        spec.manages("room_version")
        and isinstance(current := by_alias.get(spec.alias), LiveRoom)
        and current.room_version != spec.get("room_version")
        for spec in config.rooms
    )
    return (await hs.room_versions()) if missing or other_version else ("12", None)


async def _people(
    hs: Homeserver, config: Config, skip: set[str], accounts: dict[str, BotAccount | None] | None
) -> tuple[dict[str, dict[str, Any]], dict[str, bool]]:
    """The bots' profiles, and whether the local bots and members exist: one profile GET each where
    the admin API did not show the account (it answers 404 for a user that does not exist).
    roomsync never invites an account that does not exist."""
    shown = {user: a for user, a in (accounts or {}).items() if a is not None}
    profiles: dict[str, dict[str, Any]] = {
        user: {"displayname": a.displayname, "avatar_url": a.avatar_url} for user, a in shown.items()
    }
    local = {bot.user for bot in config.bots} | {user for spec in config.rooms for user in spec.members or ()}
    local = {user for user in local - skip if user.endswith(f":{config.server_name}")} - set(accounts or {})
    with_profile = {bot.user for bot in config.bots if bot.display_name is not None or bot.avatar is not None}
    asked = sorted((local | with_profile) - set(shown))
    answers = await asyncio.gather(*(hs.profile(user) for user in asked))
    existing = {user: answer is not None for user, answer in zip(asked, answers, strict=True) if user in local}
    profiles.update({user: answer or {} for user, answer in zip(asked, answers, strict=True) if user in with_profile})
    return profiles, existing


def _run_warnings(hs: Homeserver, me: str, exempt: bool | None) -> list[str]:
    warnings = []
    if exempt is False:
        warnings.append(
            f"{me} is subject to the homeserver's rate limits; large syncs will wait "
            "(see 'Rate limits' in the guide to exempt it)"
        )
    if hs.rate_limited:
        warnings.append(f"the homeserver rate-limited {hs.rate_limited} requests of this plan")
    return warnings


def _owners(config: Config, alias_owner: dict[str, str]) -> tuple[dict[str, str | None], dict[str, str]]:
    """Each declared room's room id: its alias's, or else (a rename) a former alias's; and the
    rooms whose alias and former alias name two different rooms (an error for the planner)."""
    owners: dict[str, str | None] = {}
    conflicts: dict[str, str] = {}
    for spec in config.rooms:
        primary = alias_owner.get(config.alias(spec.alias))
        formers = [
            (config.alias(f), alias_owner[config.alias(f)]) for f in spec.formerly if config.alias(f) in alias_owner
        ]
        for former, room_id in formers:
            if primary is not None and room_id != primary:
                conflicts[spec.alias] = (
                    f"{config.alias(spec.alias)} is {primary}, but its former alias {former} "
                    f"is another room, {room_id}; remove one of the two aliases by hand, or "
                    "'formerly', so that they name one room"
                )
        owners[spec.alias] = primary or (formers[0][1] if formers else None)
    return owners, conflicts


async def _follow_upgrades(
    config: Config,
    owners: dict[str, str | None],
    rooms: dict[str, LiveRoom],
    joined: set[str],
    read: Callable[[set[str]], Awaitable[dict[str, LiveRoom]]],
) -> None:
    """A room found tombstoned by an upgrade (its replacement names it as predecessor) is the
    replacement now: a sync killed right after /upgrade, or aliases Synapse did not move, still
    lead to the new room. A retired room's own tombstone is never followed."""
    for _ in range(3):  # an upgrade of an upgrade, at most
        hops = {
            spec.alias: replacement
            for spec in config.rooms
            if not spec.retired and (owner := owners[spec.alias]) in rooms and (replacement := rooms[owner].replacement)
        }
        unread = {room_id for room_id in hops.values() if room_id in joined and room_id not in rooms}
        rooms.update(await read(unread) if unread else {})
        moved = False
        for alias, replacement in hops.items():
            new = rooms.get(replacement)
            if new is not None and new.predecessor == owners[alias]:
                owners[alias], moved = replacement, True
        if not moved:
            return


async def _tombstones_of_alias_owners(
    hs: Homeserver,
    config: Config,
    owners: dict[str, str | None],
    alias_owner: dict[str, str],
    rooms: dict[str, LiveRoom],
) -> dict[str, str]:
    """Replacements of the other rooms that hold a declared alt alias: an alias may move from a
    retired or upgraded room to the room that replaced it (and only then)."""
    ours = {room_id for room_id in owners.values() if room_id}
    holders = (
        {
            alias_owner[config.alias(alt)]
            for spec in config.rooms
            for alt in (spec.alt_aliases or ())
            if config.alias(alt) in alias_owner
        }
        - ours
        - set(rooms)
    )
    answers = await asyncio.gather(*(hs.state_event(r, "m.room.tombstone") for r in sorted(holders)))
    return {
        room_id: answer["replacement_room"]
        for room_id, answer in zip(sorted(holders), answers, strict=True)
        if isinstance(answer, dict) and isinstance(answer.get("replacement_room"), str)
    }


def _not_joined(reader: str, me: str, room_id: str) -> RoomError:
    """Why a declared room cannot be read, and the way out: `roomsync adopt` for the account."""
    way_out = (
        "run `roomsync adopt` (it joins the account, or says what a room admin must do)"
        if reader == me
        else f"`roomsync sync` joins {reader} where bots.yaml declares it; if {me} is not in the room either, "
        "run `roomsync adopt` first"
    )
    return RoomError(
        f"{reader} is not joined in {room_id}, so roomsync cannot read or change it; {way_out}, then "
        "run again (if another roomsync run is creating this room right now, just run again when it is "
        "done)",
        NOT_JOINED,
    )


async def _fetch_well_known(config: Config) -> dict[str, wellknown.Fetched]:
    if not config.well_known:
        return {}
    base = wellknown.url(config.well_known, config.server_name)
    names = list(wellknown.documents(config.well_known))
    answers = await asyncio.gather(*(fetch_public(f"{base}/.well-known/matrix/{n}") for n in names))
    return {name: wellknown.Fetched(*answer) for name, answer in zip(names, answers, strict=True)}


def _directory_wanted(config: Config) -> bool:
    return any(spec.manages("directory") or spec.retired for spec in config.rooms)


async def _directory_listing(hs: Homeserver, config: Config) -> tuple[set[str], bool] | None:
    """The rooms published in the room directory, and whether that is all of them (the admin room
    list) or only those /publicRooms shows; None when no declared room's listing matters."""
    if not _directory_wanted(config):
        return None
    published = await hs.admin.published_rooms()
    if published is not None:
        return published, True
    return await hs.public_room_ids(), False


async def _read_directory(
    hs: Homeserver, config: Config, by_alias: dict[str, LiveRoom | Unreadable], listing: tuple[set[str], bool] | None
) -> None:
    wanted = [
        spec
        for spec in config.rooms
        if (spec.manages("directory") or spec.retired) and isinstance(by_alias.get(spec.alias), LiveRoom)
    ]
    if not wanted or listing is None:
        return
    published, complete = listing
    if not complete:
        # /publicRooms lists published rooms, but leaves out invite-only and restricted ones that
        # are not world-readable: a room declared public that it does not list is asked alone.
        # A room declared private that it does not list is taken as not published (one that is
        # published and hidden shows up in a server admin's plan only).
        unsure = [
            spec
            for spec in wanted
            if (spec.get("directory") == "public" or spec.retired) and by_alias[spec.alias].room_id not in published
        ]
        answers = await asyncio.gather(*(hs.published(by_alias[spec.alias].room_id) for spec in unsure))
        published = published | {
            by_alias[spec.alias].room_id for spec, public in zip(unsure, answers, strict=True) if public
        }
    for spec in wanted:
        room = by_alias[spec.alias]
        assert isinstance(room, LiveRoom)  # as chosen above
        by_alias[spec.alias] = dataclasses.replace(room, published=room.room_id in published)


# --- bot accounts (Synapse's admin API) ------------------------------------------------------


async def read_bot_accounts(hs: Homeserver, config: Config) -> dict[str, BotAccount | None] | None:
    """Every local bot's account: one admin GET per bot, plus one per bot that declares rate_limit,
    many in flight. None when the admin API is absent for this token (not a server admin's, or not
    exposed): the first admin answer of the run says so, and no bot's account is asked after it."""
    local = [bot for bot in config.bots if bot.user.endswith(f":{config.server_name}")]
    if not local:
        return {}
    try:
        accounts = await asyncio.gather(*(_read_account(hs, bot) for bot in local))
    except MatrixError as exc:
        if exc.status in (403, 404):  # NoAdminAPI: not a server admin, or no admin API exposed
            return None
        raise
    return {bot.user: account for bot, account in zip(local, accounts, strict=True)}


async def _read_account(hs: Homeserver, bot: BotSpec) -> BotAccount | None:
    user = await hs.admin.user(bot.user)
    if user is None:
        return None
    override = await hs.admin.rate_limit_override(bot.user) if bot.rate_limit else None
    return parse_account(user, override)
