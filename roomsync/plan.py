"""The planner: desired config + live snapshot -> typed actions. Pure: no I/O, no clock.

`plan` and `sync` both print the Changes of these RoomPlans, and sync executes
their actions, so what a reviewer reads is what the homeserver gets.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Mapping

from deepdiff import DeepDiff

from . import power
from .live import PRIVILEGED_CREATOR_VERSIONS, LiveRoom, Snapshot, Unreadable
from .model import MANAGED_MARKER, MEGOLM, SIMPLE_STATE, Config, RoomSpec

# The events map Synapse and the spec start rooms with; merged under a declared `events` at
# creation so that declaring one event type does not drop the protection of the others.
DEFAULT_EVENT_LEVELS = {
    "m.room.name": 50,
    "m.room.power_levels": 100,
    "m.room.history_visibility": 100,
    "m.room.canonical_alias": 50,
    "m.room.avatar": 50,
    "m.room.tombstone": 100,
    "m.room.server_acl": 100,
    "m.room.encryption": 100,
}
ALIAS_EVENT = "m.room.canonical_alias"


# --- what a plan is made of ----------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One line a reviewer reads: a field going from before to after (None: absent)."""

    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class CreateRoom:
    body: Mapping[str, Any]  # the whole createRoom request


@dataclass(frozen=True)
class PutAlias:
    alias: str


@dataclass(frozen=True)
class DeleteAlias:
    alias: str


@dataclass(frozen=True)
class PutState:
    event_type: str
    state_key: str
    content: Mapping[str, Any]


@dataclass(frozen=True)
class SetDirectory:
    visibility: str  # public | private


Action = CreateRoom | PutAlias | DeleteAlias | PutState | SetDirectory


@dataclass(frozen=True)
class RoomPlan:
    alias: str  # full alias, #local:server
    room_id: str | None
    create: bool = False
    changes: tuple[Change, ...] = ()
    actions: tuple[Action, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        if self.errors:
            return "error"
        if self.create:
            return "create"
        return "change" if self.actions else "ok"


@dataclass(frozen=True)
class Plan:
    server_name: str
    account: str
    rooms: tuple[RoomPlan, ...] = ()

    def count(self, status: str) -> int:
        return sum(1 for r in self.rooms if r.status == status)

    @property
    def has_changes(self) -> bool:
        return any(r.actions for r in self.rooms)

    @property
    def has_errors(self) -> bool:
        return any(r.errors for r in self.rooms)


# --- planning ----------------------------------------------------------------------------


def make_plan(config: Config, snapshot: Snapshot) -> Plan:
    rooms = []
    for spec in config.rooms:
        live = snapshot.rooms.get(spec.alias)
        alias = config.alias(spec.alias)
        if live is None:
            rooms.append(_plan_create(config, spec, snapshot))
        elif isinstance(live, Unreadable):
            rooms.append(RoomPlan(alias, live.room_id, errors=(live.reason,)))
        else:
            rooms.append(_plan_update(config, spec, live, snapshot))
    return Plan(config.server_name, snapshot.account, tuple(rooms))


@dataclass
class _Draft:
    """A room plan being built up."""

    changes: list[Change] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def finish(self, alias: str, room_id: str | None, create: bool = False) -> RoomPlan:
        return RoomPlan(alias, room_id, create, tuple(self.changes), tuple(self.actions), tuple(self.errors))


def _plan_create(config: Config, spec: RoomSpec, snapshot: Snapshot) -> RoomPlan:
    draft = _Draft()
    alias = config.alias(spec.alias)
    version = spec.get("room_version") or snapshot.default_room_version
    me = snapshot.account
    draft.changes.append(Change("alias", None, alias))
    _plan_alt_aliases(config, spec, None, (), snapshot, draft)
    follow_ups, draft.actions = draft.actions, []  # they need the room, so they go after createRoom

    initial_state: list[dict[str, Any]] = []
    for name, (event_type, key) in SIMPLE_STATE.items():
        if spec.manages(name):
            initial_state.append({"type": event_type, "state_key": "", "content": {key: spec.get(name)}})
            draft.changes.append(Change(name, None, spec.get(name)))
    if spec.get("encrypted"):
        initial_state.append({"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}})
    if spec.manages("encrypted"):
        draft.changes.append(Change("encrypted", None, spec.get("encrypted")))
    initial_state.append({"type": MANAGED_MARKER, "state_key": "", "content": {"alias": alias}})

    body: dict[str, Any] = {
        "room_alias_name": spec.alias,
        "visibility": spec.get("directory", "private"),
        "initial_state": initial_state,
    }
    if spec.manages("directory"):
        draft.changes.append(Change("directory", None, spec.get("directory")))
    if spec.manages("room_version"):
        body["room_version"] = spec.get("room_version")
        draft.changes.append(Change("room_version", None, spec.get("room_version")))

    if spec.manages("power_levels"):
        override = _creation_power_levels(spec.get("power_levels"), me, version, draft)
        body["power_level_content_override"] = override
        draft.changes += _mapping_changes("power_levels", {}, _shown(spec.get("power_levels"), override))

    draft.actions = [CreateRoom(body), *follow_ups]
    return draft.finish(alias, None, create=True)


def _creation_power_levels(desired: Mapping[str, Any], me: str, version: str, draft: _Draft) -> dict[str, Any]:
    """power_level_content_override for createRoom, keeping the creating account in charge."""
    override = copy.deepcopy(dict(desired))
    if "events" in override:
        override["events"] = {**DEFAULT_EVENT_LEVELS, **override["events"]}
    if "users" in override:
        users = dict(override["users"])
        if version in PRIVILEGED_CREATOR_VERSIONS:
            users.pop(me, None)  # the creator's power is unlimited and may not be listed
        elif users.get(me, 100) < 100:
            draft.errors.append(f"power_levels.users gives the provisioning account {me} {users[me]}; "
                                "roomsync never lowers its own power")
        else:
            users[me] = max(users.get(me, 100), 100)
        override["users"] = users
    return override


def _shown(desired: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """What a created room's power levels show: the declared keys, as they will be sent."""
    return {key: override[key] if key != "events" else desired[key] for key in desired}


def _plan_update(config: Config, spec: RoomSpec, live: LiveRoom, snapshot: Snapshot) -> RoomPlan:
    draft = _Draft()
    alias = config.alias(spec.alias)

    for name, (event_type, key) in SIMPLE_STATE.items():
        if not spec.manages(name):
            continue
        want = spec.get(name)
        have = (live.content(event_type) or {}).get(key)
        if want != have:
            draft.changes.append(Change(name, have, want))
            draft.actions.append(PutState(event_type, "", {key: want}))

    if spec.manages("encrypted"):
        if spec.get("encrypted") and not live.encrypted:
            draft.changes.append(Change("encrypted", False, True))
            draft.actions.append(PutState("m.room.encryption", "", {"algorithm": MEGOLM}))
        elif not spec.get("encrypted") and live.encrypted:
            draft.errors.append("encrypted: false, but the room is encrypted and Matrix cannot turn "
                                "encryption off; declare encrypted: true or leave the field out")

    if spec.manages("room_version") and spec.get("room_version") != live.room_version:
        draft.errors.append(f"room_version {spec.get('room_version')} is only used at creation; "
                            f"this room is version {live.room_version} (upgrading is not supported yet)")

    _plan_alt_aliases(config, spec, live, live.alt_aliases, snapshot, draft)

    if spec.manages("power_levels"):
        _plan_power_levels(spec.get("power_levels"), live, snapshot.account, draft)

    if spec.manages("directory"):
        want = spec.get("directory")
        have = "public" if live.published else "private"
        if want != have:
            draft.changes.append(Change("directory", have, want))
            draft.actions.append(SetDirectory(want))

    _check_permissions(live, snapshot.account, draft)
    return draft.finish(alias, live.room_id)


def _plan_alt_aliases(
    config: Config, spec: RoomSpec, live: LiveRoom | None, live_alts: tuple[str, ...], snapshot: Snapshot,
    draft: _Draft,
) -> None:
    """Directory entries first, then the canonical_alias event that lists them, then removals."""
    primary = config.alias(spec.alias)
    room_id = live.room_id if live else None
    if spec.alt_aliases is None:
        want_alts = [a for a in live_alts if a != primary]
    else:
        want_alts = [config.alias(a) for a in spec.alt_aliases]
        for alt in want_alts:
            owner = snapshot.alias_owner.get(alt)
            if owner is None:
                draft.actions.append(PutAlias(alt))
            elif owner != room_id:
                draft.errors.append(f"alias {alt} already points at another room ({owner}); "
                                    "remove it there first")
        for alt in want_alts:
            if alt not in live_alts:
                draft.changes.append(Change("alt_aliases", None, alt))
        for alt in live_alts:
            if alt not in want_alts:
                draft.changes.append(Change("alt_aliases", alt, None))

    have_primary = live.canonical_alias if live else primary  # createRoom sets the primary itself
    if live and have_primary != primary:
        draft.changes.append(Change("alias", have_primary, primary))
    if have_primary != primary or list(live_alts) != want_alts:
        content: dict[str, Any] = {"alias": primary}
        if want_alts:
            content["alt_aliases"] = want_alts
        draft.actions.append(PutState(ALIAS_EVENT, "", content))

    for alt in live_alts:
        if alt not in want_alts and room_id and snapshot.alias_owner.get(alt) == room_id:
            if alt.endswith(f":{config.server_name}"):
                draft.actions.append(DeleteAlias(alt))


def _plan_power_levels(desired: Mapping[str, Any], live: LiveRoom, me: str, draft: _Draft) -> None:
    current = dict(live.power_levels or {})
    new = copy.deepcopy(current)
    for key, value in desired.items():
        if key == "users":
            new["users"] = _desired_users(value, live, me, draft)
        elif key in ("events", "notifications"):
            new[key] = {**(current.get(key) or {}), **value}
        else:
            new[key] = value
    changes = _mapping_changes("power_levels", {k: current.get(k) for k in desired}, {k: new[k] for k in desired})
    if changes:
        draft.changes += changes
        draft.actions.append(PutState("m.room.power_levels", "", new))


def _desired_users(declared: Mapping[str, int], live: LiveRoom, me: str, draft: _Draft) -> dict[str, int]:
    """The authoritative users map, minus creators that may not be listed, keeping our own entry."""
    current = (live.power_levels or {}).get("users") or {}
    users = {
        user: level
        for user, level in declared.items()
        if not (live.privileged_creators and user in live.creators)
    }
    mine = power.user_level(live, me)
    if me in users and users[me] < mine:
        draft.errors.append(f"power_levels.users gives the provisioning account {me} {users[me]}, below its "
                            f"current {current.get(me, mine)}; roomsync never lowers its own power")
        users[me] = current.get(me, users[me])
    elif me not in users and me in current:
        users[me] = current[me]
    return users


def _check_permissions(live: LiveRoom, me: str, draft: _Draft) -> None:
    """A pre-flight check: would the homeserver let the account do each action?"""
    mine = power.user_level(live, me)
    shown = "unlimited" if mine == power.UNLIMITED else int(mine)
    needs: dict[str, float] = {}
    for action in draft.actions:
        if isinstance(action, PutState):
            needs[action.event_type] = power.state_level(live, action.event_type)
            if action.event_type == "m.room.power_levels":
                draft.errors += power.power_change_problems(live, me, action.content)
        elif isinstance(action, (SetDirectory, DeleteAlias)):
            needs[ALIAS_EVENT] = power.state_level(live, ALIAS_EVENT)
    for event_type, level in sorted(needs.items()):
        if level > mine:
            draft.errors.append(f"{me} has power {shown} here, but {event_type} needs {int(level)}")


def _mapping_changes(prefix: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    """One Change per leaf that differs: power_levels.users.@bob:example.org 0 -> 50."""
    diff = DeepDiff(_drop_none(before), _drop_none(after), ignore_order=False, view="tree")
    changes = []
    for kind in ("values_changed", "type_changes", "dictionary_item_added", "dictionary_item_removed"):
        for level in diff.get(kind, []):
            path = ".".join([prefix] + [str(p) for p in level.path(output_format="list")])
            old = None if kind == "dictionary_item_added" else level.t1
            new = None if kind == "dictionary_item_removed" else level.t2
            changes += _leaf_changes(path, old, new)
    return sorted(changes, key=lambda c: c.field)


def _leaf_changes(field_name: str, old: Any, new: Any) -> list[Change]:
    if isinstance(old, Mapping) or isinstance(new, Mapping):
        old, new = old if isinstance(old, Mapping) else {}, new if isinstance(new, Mapping) else {}
        return [c for k in sorted(set(old) | set(new)) for c in _leaf_changes(f"{field_name}.{k}", old.get(k), new.get(k))
                if c.before != c.after]
    return [Change(field_name, old, new)]


def _drop_none(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}
