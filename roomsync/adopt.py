"""`roomsync adopt`: put rooms made by hand in the provisioning account's hands (joined, power 100).

Which rooms: the ones named (any room on server_name, declared or not: adopt runs before
import), or by default every declared room the plan reports as not manageable: the account is
not joined, lacks power 100, or lacks the power a planned change needs (the plan's errors of kind
NOT_JOINED / LACKS_POWER, from the same snapshot and planner as `roomsync plan`).

With a Synapse server admin's token, for each such room: make_room_admin gives the account power
100 with a local room admin's authority (and invites it where the room is not public; nobody
else's level changes), then the account joins. Without one, adopt changes nothing but accepting
an invite a room admin has sent the account; for every other room it prints what one of the
room's admins must do, and exits 1. A room that is already managed is left alone, so a second run
changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from . import power
from .actions import LACKS_POWER, RoomError
from .client import Homeserver
from .errors import MatrixError, RoomsyncError
from .importread import alias_argument
from .live import LiveRoom, parse_room
from .model import MANAGED_MARKER, Config

ADMIN_LEVEL = 100  # what make_room_admin gives, and what managing power_levels takes

ADOPTED, MANAGED, NOT_ADOPTED, MISSING = "adopted", "already managed", "not adopted", "does not exist yet"


@dataclass
class Outcome:
    alias: str  # the full alias
    room_id: str | None
    status: str  # ADOPTED | MANAGED | NOT_ADOPTED | MISSING
    detail: str = ""
    steps: list[str] = field(default_factory=list)  # what one of the room's admins must do

    def lines(self) -> list[str]:
        name = f"{self.alias} ({self.room_id})" if self.room_id else self.alias
        head = f"{name}: {self.status}" + (f": {self.detail}" if self.detail else "")
        return [head] + [f"    {step}" for step in self.steps]


@dataclass(frozen=True)
class Assessment:
    """Where the account stands in a room; `live` None: the room could not be read."""

    known: bool
    membership: str | None
    level: float
    blocked: tuple[str, ...] = ()  # power the plan needs that make_room_admin cannot give

    @property
    def joined(self) -> bool:
        return self.membership == "join"

    @property
    def managed(self) -> bool:
        return self.joined and self.level >= ADMIN_LEVEL and not self.blocked

    def describe(self, me: str) -> str:
        if not self.known:
            if self.membership == "invite":
                return f"{me} is invited (not joined yet)"
            return f"{me} is not in the room (as far as this token can tell)"
        where = {
            "join": "is joined",
            "invite": "is invited (not joined yet)",
            "ban": "is banned",
            "knock": "has knocked (not joined)",
        }.get(self.membership or "", "is not in the room")
        return f"{me} {where} and has power {_shown(self.level)}"


def assess(live: LiveRoom | None, me: str, errors: tuple[str, ...] = (), invited: bool = False) -> Assessment:
    """The account's membership and power in a room, and the plan's power needs adopt cannot meet.
    `invited`: the account has a pending invite (known from its own /sync when the room is unreadable)."""
    if live is None:
        return Assessment(False, "invite" if invited else None, 0)
    level = power.user_level(live, me)
    blocked: tuple[str, ...] = ()
    if level >= ADMIN_LEVEL:
        blocked = tuple(e for e in errors if isinstance(e, RoomError) and e.kind == LACKS_POWER)
    return Assessment(True, live.membership(me), level, blocked)


def room_admins(live: LiveRoom, exclude: set[str]) -> list[str]:
    """People who can both invite and change power levels here (creators of v12 rooms included)."""
    levels = live.power_levels or {}
    needed = max(power.state_level(live, "m.room.power_levels"), power.as_level(levels.get("invite", 0)))
    users = set(levels.get("users") or {}) | set(live.creators)
    able = [u for u in users if u not in exclude and power.user_level(live, u) >= needed]
    return sorted(able, key=lambda u: (-power.user_level(live, u), u))


def instructions(live: LiveRoom | None, me: str, state: Assessment, exclude: set[str]) -> list[str]:
    """What one of the room's admins must type in the room (Element's commands), then what follows."""
    if state.membership == "ban":
        return [
            f"one of the room's admins must unban {me} first (Element: /unban {me}), then run `roomsync adopt` again"
        ]
    steps = []
    if not state.joined and state.membership != "invite":
        steps.append(f"/invite {me}")
    if state.level < ADMIN_LEVEL:
        steps.append(f"/op {me} {ADMIN_LEVEL}")
    admins = room_admins(live, exclude) if live is not None else []
    who = (
        f"one of the room's admins ({', '.join(admins[:3])}{', ...' if len(admins) > 3 else ''})"
        if admins
        else "one of the room's admins"
    )
    lines = []
    if steps:
        lines = [f"{who} must type in the room (Element's commands):"] + [f"  {step}" for step in steps]
    if not state.joined:
        lines.append(f"then run `roomsync adopt` again with {me}'s token: it accepts the invite")
    return lines


def _shown(level: float) -> str:
    return "unlimited (a creator)" if level == power.UNLIMITED else str(int(level))


# --- running it ------------------------------------------------------------------------------------


async def adopt(hs: Homeserver, config: Config, names: tuple[str, ...]) -> tuple[list[Outcome], bool]:
    """Adopt the named rooms (or, with none, the declared rooms the plan cannot manage): the outcomes,
    one per room, and whether the token was a server admin's."""
    if not names and not config.rooms:
        raise RoomsyncError(
            "nothing to adopt: rooms/ declares no rooms; name the rooms to adopt: roomsync adopt ALIAS ..."
        )
    reader = await hs.whoami()
    me = config.account or reader
    admin = await hs.admin.is_server_admin(reader)
    server = config.server_name
    outcomes: list[Outcome] = []

    planned: Mapping[str, tuple[str, tuple[str, ...], LiveRoom | None]] = {}
    if config.rooms:  # the declared rooms as plan sees them: its errors say what adopt must fix
        planned = await _plan_errors(hs, config)
    by_id = {room_id: (full, errors, live) for full, (room_id, errors, live) in planned.items()}

    plan_order: list[Outcome | tuple[str, str, tuple[str, ...], LiveRoom | None]] = []
    if names:
        for value in names:
            full, why = alias_argument(value, server)
            room_id = await hs.resolve_alias(full) if full else None
            if full is None:
                plan_order.append(Outcome(value, None, NOT_ADOPTED, why or ""))
            elif room_id is None:
                plan_order.append(Outcome(full, None, NOT_ADOPTED, "the alias does not exist"))
            elif all(isinstance(t, Outcome) or t[1] != room_id for t in plan_order):
                full, errors, live = by_id.get(room_id, (full, (), None))
                plan_order.append((full, room_id, errors, live))
    else:
        for spec in config.rooms:
            full = config.alias(spec.alias)
            plan_order.append(
                (full, *planned[full]) if full in planned else Outcome(full, None, MISSING, "roomsync sync creates it")
            )

    joined = set(await hs.joined_rooms())
    invited = await hs.invited_rooms() if not admin and reader == me else set()
    exclude = {me, reader} | {bot.user for bot in config.bots}
    for item in plan_order:
        if isinstance(item, Outcome):
            outcomes.append(item)
            continue
        full, room_id, errors, live = item
        if live is None:
            live = await _read(hs, room_id, room_id in joined, admin)
        outcome = await _adopt_room(hs, full, room_id, live, me, reader, admin, errors, exclude, room_id in invited)
        outcomes.append(await _mark(hs, outcome) if outcome.status in (ADOPTED, MANAGED) else outcome)
    return outcomes, admin


async def _mark(hs: Homeserver, outcome: Outcome) -> Outcome:
    """roomsync's marker in a room it now manages, as in the rooms it creates: dropped from git
    later, the room is then reported as no longer declared."""
    assert outcome.room_id is not None
    try:
        if await hs.state_event(outcome.room_id, MANAGED_MARKER) is None:
            await hs.put_state(outcome.room_id, MANAGED_MARKER, "", {"alias": outcome.alias})
            outcome.detail = ", ".join(d for d in (outcome.detail, f"marker {MANAGED_MARKER} set") if d)
    except MatrixError as exc:
        outcome.detail += f"; its marker could not be set ({exc.errcode}: {exc.message})"
    return outcome


async def _plan_errors(hs: Homeserver, config: Config) -> dict[str, tuple[str, tuple[str, ...], LiveRoom | None]]:
    """Each declared room that exists, by full alias: its room id, its plan's errors, and its live
    state when the token could read it."""
    from .observe import read_snapshot
    from .plan import make_plan

    snapshot = await read_snapshot(hs, config)
    plan = make_plan(config, snapshot)
    errors = {room.alias: room.errors for room in plan.rooms}
    found = {}
    for spec in config.rooms:
        room = snapshot.rooms.get(spec.alias)
        if room is None:
            continue
        full = config.alias(spec.alias)
        found[full] = (room.room_id, tuple(errors.get(full, ())), room if isinstance(room, LiveRoom) else None)
    return found


async def _read(hs: Homeserver, room_id: str, joined: bool, admin: bool) -> LiveRoom | None:
    try:
        if joined:
            return parse_room(room_id, await hs.room_state(room_id))
        if admin:
            events = await hs.admin.room_state(room_id)
            return parse_room(room_id, events) if events is not None else None
    except MatrixError:
        return None
    return None


async def _adopt_room(
    hs: Homeserver,
    full: str,
    room_id: str,
    live: LiveRoom | None,
    me: str,
    reader: str,
    admin: bool,
    errors: tuple[str, ...],
    exclude: set[str],
    invited: bool = False,
) -> Outcome:
    before = assess(live, me, errors, invited)
    if before.managed:
        return Outcome(full, room_id, MANAGED, f"joined, power {_shown(before.level)}")
    if before.blocked:
        return Outcome(
            full,
            room_id,
            NOT_ADOPTED,
            "; ".join(before.blocked) + f" (make_room_admin gives at most "
            f"{ADMIN_LEVEL}: a room admin must lower what the config needs, or raise {me})",
        )
    if before.membership == "ban":
        return Outcome(full, room_id, NOT_ADOPTED, before.describe(me), instructions(live, me, before, exclude))
    if not admin:
        if before.membership == "invite" and reader == me:
            try:
                await hs.join(room_id)
            except MatrixError as exc:
                return Outcome(full, room_id, NOT_ADOPTED, f"accepting the invite failed: {exc}")
            live = await _read(hs, room_id, True, False) or live
            after = assess(live, me, errors)
            if after.managed:
                return Outcome(full, room_id, ADOPTED, f"joined (it was invited), power {_shown(after.level)}")
            return Outcome(
                full,
                room_id,
                NOT_ADOPTED,
                f"joined (it was invited), but {after.describe(me)}; without "
                "a Synapse server admin's token roomsync cannot raise it",
                instructions(live, me, after, exclude),
            )
        why = f"{before.describe(me)}; without a Synapse server admin's token roomsync cannot change that"
        if before.membership == "invite":
            why += f" (accepting the invite takes {me}'s own token)"
        return Outcome(full, room_id, NOT_ADOPTED, why, instructions(live, me, before, exclude))

    done = []
    try:
        if before.level < ADMIN_LEVEL or not before.joined:
            await hs.admin.make_room_admin(room_id, me)
            if before.level < ADMIN_LEVEL:
                done.append(f"power {_shown(before.level)} -> {ADMIN_LEVEL} (make_room_admin)")
        if not before.joined:
            if reader == me:
                await hs.join(room_id)
            else:
                await hs.admin.join(room_id, me)
            done.insert(0, "joined")
    except MatrixError as exc:
        hint = "" if reader == me else f" (run adopt with {me}'s own token to let it join by itself)"
        return Outcome(full, room_id, NOT_ADOPTED, f"{exc.what}: {exc.errcode}: {exc.message}{hint}")
    after = assess(await _read(hs, room_id, reader == me, admin), me)
    if not after.managed:
        return Outcome(full, room_id, NOT_ADOPTED, f"after {', '.join(done) or 'adopting'}, {after.describe(me)}")
    return Outcome(full, room_id, ADOPTED, ", ".join(done))


def summary(outcomes: list[Outcome]) -> str:
    counts = {status: sum(1 for o in outcomes if o.status == status) for status in (ADOPTED, MANAGED, NOT_ADOPTED)}
    text = f"Adopt: {counts[ADOPTED]} adopted, {counts[MANAGED]} already managed, {counts[NOT_ADOPTED]} not adopted."
    missing = sum(1 for o in outcomes if o.status == MISSING)
    return text + (
        f" {missing} declared {'room does' if missing == 1 else 'rooms do'} not exist yet." if missing else ""
    )
