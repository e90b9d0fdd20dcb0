"""The planner: desired config + live snapshot -> typed actions. Pure: no I/O, no clock.

For each declared room: create it or diff it field by field, its space links,
its power levels (the room's declared keys and the bots' levels merged into one
event), and the memberships of the bots that serve it; then each bot's profile.
`only` limits a plan to the room part or the bot part.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Mapping

from deepdiff import DeepDiff

from . import power, wellknown
from .actions import (
    BOTS, ROOMS, Action, BotPlan, Change, CreateRoom, DeleteAlias, Invite, JoinAs, Kick, Plan, PutAlias,
    PutState, RoomPlan, RoomRef, SetDirectory, SetProfile,
)
from .live import PRIVILEGED_CREATOR_VERSIONS, LiveRoom, Snapshot, Unreadable
from .model import MANAGED_MARKER, MEGOLM, SIMPLE_STATE, BotSpec, Config, RoomSpec

__all__ = ["make_plan", "Plan", "RoomPlan", "BotPlan", "Change", "CreateRoom", "PutAlias", "DeleteAlias",
           "PutState", "SetDirectory", "Invite", "JoinAs", "Kick", "SetProfile", "RoomRef", "Action"]

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
SPACE_CHILD, SPACE_PARENT = "m.space.child", "m.space.parent"
FIELDS_OUTSIDE_SIMPLE_STATE = {"join_rule"}  # needs the space ids of `spaces` when restricted


@dataclass
class _Draft:
    changes: list[Change] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def change(self, name: str, before: Any, after: Any, action: Action | None = None, section: str = ROOMS) -> None:
        self.changes.append(Change(name, before, after, section))
        if action is not None:
            self.actions.append(action)

    def finish(self, alias: str, room_id: str | None, create: bool = False) -> RoomPlan:
        return RoomPlan(alias, room_id, create, tuple(self.changes), tuple(self.actions), tuple(self.errors),
                        tuple(self.notes))


@dataclass(frozen=True)
class _Scope:
    config: Config
    snapshot: Snapshot
    rooms: bool
    bots: bool

    @property
    def me(self) -> str:
        return self.snapshot.account

    def live(self, localpart: str) -> LiveRoom | None:
        room = self.snapshot.rooms.get(localpart)
        return room if isinstance(room, LiveRoom) else None

    def alias_of(self, room_id: str) -> str | None:
        for spec in self.config.rooms:
            live = self.live(spec.alias)
            if live and live.room_id == room_id:
                return self.config.alias(spec.alias)
        return None

    def serving(self, spec: RoomSpec) -> list[BotSpec]:
        return [bot for bot in self.config.bots if bot.serves(spec.alias)] if self.bots else []

    @property
    def bot_users(self) -> set[str]:
        return {bot.user for bot in self.config.bots}


def make_plan(config: Config, snapshot: Snapshot, only: str | None = None) -> Plan:
    scope = _Scope(config, snapshot, rooms=only in (None, ROOMS), bots=only in (None, BOTS))
    rooms = []
    for spec in config.rooms:
        live = snapshot.rooms.get(spec.alias)
        alias = config.alias(spec.alias)
        if isinstance(live, Unreadable):
            rooms.append(RoomPlan(alias, live.room_id, errors=(live.reason,)))
        elif live is None and scope.rooms:
            rooms.append(_plan_create(scope, spec))
        elif live is None:
            rooms.append(RoomPlan(alias, None, notes=("the room does not exist yet; sync the rooms first",)))
        else:
            rooms.append(_plan_update(scope, spec, live))
    bots = [_plan_profile(bot, snapshot) for bot in config.bots] if scope.bots else []
    delegation = wellknown.drift(config.well_known, snapshot.well_known) if only is None else ()
    declared_ids = {room.room_id for room in rooms if room.room_id}
    warnings = [
        f"{alias} ({room_id}) was created by roomsync but is no longer declared; it is left alone "
        "(roomsync never deletes a room)"
        for alias, room_id in snapshot.managed_rooms if room_id not in declared_ids
    ]
    warnings += snapshot.warnings
    return Plan(config.server_name, snapshot.account, tuple(rooms), tuple(bots), delegation, snapshot.reader,
                config.max_removals, tuple(warnings))


# --- creating a room -----------------------------------------------------------------------


def _plan_create(scope: _Scope, spec: RoomSpec) -> RoomPlan:
    config, me = scope.config, scope.me
    draft = _Draft()
    alias = config.alias(spec.alias)
    version = spec.get("room_version") or scope.snapshot.default_room_version
    draft.change("alias", None, alias)
    _plan_alt_aliases(scope, spec, None, draft)
    follow_ups, draft.actions = draft.actions, []  # they need the room, so they go after createRoom

    initial_state: list[dict[str, Any]] = []
    for name, (event_type, key) in SIMPLE_STATE.items():
        if spec.manages(name) and name not in FIELDS_OUTSIDE_SIMPLE_STATE:
            initial_state.append({"type": event_type, "state_key": "", "content": {key: spec.get(name)}})
            draft.change(name, None, spec.get(name))
    if spec.manages("join_rule"):
        rule = spec.get("join_rule")
        # A restricted room names its spaces by id, known only once they exist: it starts
        # invite-only (never briefly public) and becomes restricted in the second phase.
        initial_state.append({"type": "m.room.join_rules", "state_key": "",
                              "content": {"join_rule": "invite" if rule == "restricted" else rule}})
        draft.change("join_rule", None, rule)
        if rule == "restricted":
            allow = _allow_list(scope, spec)
            draft.change("join_rule.allow", None, [ref.alias for ref in allow])
            follow_ups.append(PutState("m.room.join_rules", "", _join_rules_content("restricted", allow)))
    if spec.get("encrypted"):
        initial_state.append({"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}})
    if spec.manages("encrypted"):
        draft.change("encrypted", None, spec.get("encrypted"))
    initial_state.append({"type": MANAGED_MARKER, "state_key": "", "content": {"alias": alias}})

    body: dict[str, Any] = {
        "room_alias_name": spec.alias,
        "visibility": spec.get("directory", "private"),
        "initial_state": initial_state,
    }
    if spec.manages("directory"):
        draft.change("directory", None, spec.get("directory"))
    if spec.manages("room_version"):
        body["room_version"] = spec.get("room_version")
        draft.change("room_version", None, spec.get("room_version"))
    if spec.is_space:
        body["creation_content"] = {"type": "m.space"}
        draft.change("type", None, "space")

    bots = scope.serving(spec)
    declared = dict(spec.get("power_levels") or {})
    bot_levels = {bot.user: bot.power_level for bot in bots if bot.power_level != declared.get("users_default", 0)}
    if declared or bot_levels:
        if bot_levels:
            declared["users"] = {**declared.get("users", {}), **bot_levels}
        override = _creation_power_levels(declared, me, version, draft)
        body["power_level_content_override"] = override
        if "users" in (spec.get("power_levels") or {}):
            _check_admin_floor(scope, override["users"], frozenset({me}), draft)
        shown = {k: override[k] if k != "events" else declared[k] for k in declared}
        for change in _mapping_changes("power_levels", {}, shown):
            user = change.field.removeprefix("power_levels.users.")
            draft.changes.append(Change(change.field, None, change.after, BOTS if user in bot_levels else ROOMS))

    _plan_space_links(scope, spec, None, draft)
    follow_ups += draft.actions
    draft.actions = [CreateRoom(body), *follow_ups]
    for bot in bots:
        draft.change(f"member.{bot.user}", None, "invite", Invite(bot.user), BOTS)
        if bot.token_env:
            draft.change(f"member.{bot.user}", "invite", "join", JoinAs(bot.user, bot.token_env), BOTS)
        else:
            draft.notes.append(f"{bot.user} ({bot.name}) will be invited and joins by itself")
    return draft.finish(alias, None, create=True)


def _creation_power_levels(desired: Mapping[str, Any], me: str, version: str, draft: _Draft) -> dict[str, Any]:
    """power_level_content_override for createRoom, keeping the creating account in charge."""
    override = copy.deepcopy(dict(desired))
    if "events" in override:
        defaults = dict(DEFAULT_EVENT_LEVELS)
        if version in PRIVILEGED_CREATOR_VERSIONS:
            defaults["m.room.tombstone"] = 150  # upgrades stay with the creators, as Synapse sets it
        override["events"] = {**defaults, **override["events"]}
    if version not in PRIVILEGED_CREATOR_VERSIONS:
        # The creator holds 100 in older room versions: it must be able to change them again.
        needed = max(override.get("state_default", 50), (override.get("events") or {}).get("m.room.power_levels", 100))
        if needed > 100:
            draft.errors.append(f"changing power levels would need {needed}, above the 100 the provisioning "
                                f"account {me} holds as creator; roomsync would lock itself out")
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


# --- changing an existing room ---------------------------------------------------------------


def _plan_update(scope: _Scope, spec: RoomSpec, live: LiveRoom) -> RoomPlan:
    draft = _Draft()
    if scope.rooms:
        for name, (event_type, key) in SIMPLE_STATE.items():
            if not spec.manages(name) or name in FIELDS_OUTSIDE_SIMPLE_STATE:
                continue
            want, have = spec.get(name), (live.content(event_type) or {}).get(key)
            if want != have:
                draft.change(name, have, want, PutState(event_type, "", {key: want}))
        _plan_join_rule(scope, spec, live, draft)
        if spec.manages("encrypted"):
            if spec.get("encrypted") and not live.encrypted:
                draft.change("encrypted", False, True, PutState("m.room.encryption", "", {"algorithm": MEGOLM}))
            elif not spec.get("encrypted") and live.encrypted:
                draft.errors.append("encrypted: false, but the room is encrypted and Matrix cannot turn "
                                    "encryption off; declare encrypted: true or leave the field out")
        if spec.manages("room_version") and spec.get("room_version") != live.room_version:
            draft.errors.append(f"room_version {spec.get('room_version')} is only used at creation; "
                                f"this room is version {live.room_version} (upgrading is not supported yet)")
        if spec.is_space != (live.room_type == "m.space"):
            draft.errors.append(f"the room's type is {live.room_type or 'a plain room'} and cannot change; "
                                f"declared: {'space' if spec.is_space else 'a plain room'}")
        _plan_alt_aliases(scope, spec, live, draft)

    _plan_power_levels(scope, spec, live, draft)

    if scope.rooms:
        if spec.manages("directory"):
            want, have = spec.get("directory"), "public" if live.published else "private"
            if want != have:
                draft.change("directory", have, want, SetDirectory(want))
        _plan_space_links(scope, spec, live, draft)
    if scope.bots:
        _plan_memberships(scope, spec, live, draft)
    observed = scope.snapshot.reader not in ("", scope.me)  # an observer read it: is the account in?
    if observed and live.membership(scope.me) != "join":
        draft.errors.append(f"the provisioning account {scope.me} is not joined in this room; "
                            "invite it and have it join")
    else:
        _check_permissions(live, scope.me, draft)
    return draft.finish(scope.config.alias(spec.alias), live.room_id)


def _allow_list(scope: _Scope, spec: RoomSpec) -> list[RoomRef]:
    return [RoomRef(scope.config.alias(link.space)) for link in spec.spaces]


def _join_rules_content(rule: str, allow: list[RoomRef]) -> dict[str, Any]:
    if rule != "restricted":
        return {"join_rule": rule}
    return {"join_rule": rule, "allow": [{"type": "m.room_membership", "room_id": ref} for ref in allow]}


def _plan_join_rule(scope: _Scope, spec: RoomSpec, live: LiveRoom, draft: _Draft) -> None:
    if not spec.manages("join_rule"):
        return
    want = spec.get("join_rule")
    content = live.content("m.room.join_rules") or {}
    have = content.get("join_rule")
    allow = _allow_list(scope, spec) if want == "restricted" else []
    have_allow = sorted(
        scope.alias_of(entry["room_id"]) or entry["room_id"]
        for entry in content.get("allow") or []
        if isinstance(entry, Mapping) and isinstance(entry.get("room_id"), str)
    ) if have == "restricted" else []
    want_allow = sorted(ref.alias for ref in allow)
    new = PutState("m.room.join_rules", "", _join_rules_content(want, allow))
    if want != have:
        draft.change("join_rule", have, want, new)
        if want_allow != have_allow:
            draft.change("join_rule.allow", have_allow or None, want_allow or None)
    elif want_allow != have_allow:
        draft.change("join_rule.allow", have_allow or None, want_allow or None, new)


def _plan_alt_aliases(scope: _Scope, spec: RoomSpec, live: LiveRoom | None, draft: _Draft) -> None:
    """New directory entries, removals, then the canonical_alias event that lists what remains."""
    config, snapshot = scope.config, scope.snapshot
    primary = config.alias(spec.alias)
    room_id = live.room_id if live else None
    live_alts = live.alt_aliases if live else ()
    if spec.alt_aliases is None:
        want_alts = [a for a in live_alts if a != primary]
    else:
        want_alts = [config.alias(a) for a in spec.alt_aliases]
        for alt in want_alts:
            owner = snapshot.alias_owner.get(alt)
            if owner is None:
                draft.actions.append(PutAlias(alt))
            elif owner != room_id:
                draft.errors.append(f"alias {alt} already points at another room ({owner}); remove it there first")
        for alt in want_alts:
            if alt not in live_alts:
                draft.change("alt_aliases", None, alt)
        for alt in live_alts:
            if alt not in want_alts:
                draft.change("alt_aliases", alt, None)

    # Removed aliases are deleted BEFORE canonical_alias is rewritten (Synapse drops a deleted
    # alias from that event itself): a run killed in between still finds them listed there.
    declared = {config.alias(s.alias) for s in config.rooms} | {
        config.alias(a) for s in config.rooms for a in (s.alt_aliases or ())
    }
    for alt in live_alts:
        if alt in want_alts or alt in declared or not room_id or snapshot.alias_owner.get(alt) != room_id:
            continue  # never delete an alias the config still uses, or one that is not this room's
        if alt.endswith(f":{config.server_name}"):
            draft.actions.append(DeleteAlias(alt))

    have_primary = live.canonical_alias if live else primary  # createRoom sets the primary itself
    if live and have_primary != primary:
        draft.change("alias", have_primary, primary)
    # Order alone is not worth an event: compare as sets, write in the declared order.
    if have_primary != primary or set(live_alts) != set(want_alts):
        content: dict[str, Any] = {"alias": primary}
        if want_alts:
            content["alt_aliases"] = want_alts
        draft.actions.append(PutState(ALIAS_EVENT, "", content))


def _plan_space_links(scope: _Scope, spec: RoomSpec, live: LiveRoom | None, draft: _Draft) -> None:
    """m.space.child in a space for each declared child; m.space.parent in each child.

    Links to rooms that are not declared are never touched; links between declared rooms
    follow the config, so a room taken out of a space in git loses both links.
    """
    config = scope.config
    via = [config.server_name]
    declared_ids = {scope.live(s.alias).room_id: config.alias(s.alias) for s in config.rooms if scope.live(s.alias)}

    if spec.is_space:
        want = {
            config.alias(child.alias): _child_content(via, link.order, link.suggested)
            for child in config.rooms for link in child.spaces if link.space == spec.alias
        }
        have = {declared_ids[k]: v for k, v in (live.children() if live else {}).items() if k in declared_ids}
        _diff_links(draft, "space.child", SPACE_CHILD, want, have, declared_ids)

    want_parents = {
        config.alias(link.space): _parent_content(via, index == 0) for index, link in enumerate(spec.spaces)
    }
    have_parents = {declared_ids[k]: v for k, v in (live.parents() if live else {}).items() if k in declared_ids}
    _diff_links(draft, "space.parent", SPACE_PARENT, want_parents, have_parents, declared_ids)


def _child_content(via: list[str], order: str | None, suggested: bool) -> dict[str, Any]:
    content: dict[str, Any] = {"via": via}
    if order is not None:
        content["order"] = order
    if suggested:
        content["suggested"] = True
    return content


def _parent_content(via: list[str], canonical: bool) -> dict[str, Any]:
    return {"via": via, "canonical": True} if canonical else {"via": via}


def _diff_links(draft: _Draft, label: str, event_type: str, want: dict[str, dict], have: dict[str, Mapping],
                declared_ids: dict[str, str]) -> None:
    by_alias = {alias: room_id for room_id, alias in declared_ids.items()}
    for alias, content in want.items():
        if alias not in have:
            draft.change(label, None, alias, PutState(event_type, RoomRef(alias), content))
        elif _normal(have[alias]) != _normal(content):
            before = {k: v for k, v in have[alias].items() if k != "via"}
            after = {k: v for k, v in content.items() if k != "via"}
            draft.change(f"{label}.{alias}", before or None, after or None, PutState(event_type, RoomRef(alias), content))
    for alias in have:
        if alias not in want:
            draft.change(label, alias, None, PutState(event_type, by_alias[alias], {}))


def _normal(content: Mapping[str, Any]) -> tuple:
    return (list(content.get("via") or []), content.get("order"), bool(content.get("suggested")),
            bool(content.get("canonical")))


# --- power levels and bots -------------------------------------------------------------------


def _plan_power_levels(scope: _Scope, spec: RoomSpec, live: LiveRoom, draft: _Draft) -> None:
    """One m.room.power_levels event carrying the room's declared keys and the bots' levels."""
    me = scope.me
    current = dict(live.power_levels or {})
    new = copy.deepcopy(current)
    declared = (spec.get("power_levels") or {}) if scope.rooms else {}
    for key, value in declared.items():
        if key == "users":
            continue
        new[key] = {**(current.get(key) or {}), **value} if key in ("events", "notifications") else value

    users = dict(current.get("users") or {})
    bot_users = scope.bot_users
    if "users" in declared:
        keep = {me} | (bot_users if not scope.bots else set())  # bots' entries belong to the bot part
        users = {u: lvl for u, lvl in users.items() if u in keep}
        for user, level in declared["users"].items():
            if live.privileged_creators and user in live.creators:
                continue  # a creator's power is unlimited and may not be listed
            users[user] = level
    if scope.bots:
        default = new.get("users_default", 0)
        serving = {bot.user: bot.power_level for bot in scope.serving(spec)}
        for user in bot_users - {me}:  # the account is never managed as a bot
            if user in serving and not (live.privileged_creators and user in live.creators):
                if serving[user] != default or user in users:
                    users[user] = serving[user]
            else:
                users.pop(user, None)
    if users or "users" in current:
        new["users"] = users
    mine = power.user_level(live, me)
    if mine != power.UNLIMITED:
        after = power.as_level(users.get(me, new.get("users_default", 0)))
        if after < mine:
            draft.errors.append(f"this would lower the provisioning account {me} from power {int(mine)} to "
                                f"{int(after)}; roomsync never lowers its own power")
            if me in (current.get("users") or {}):
                users[me] = current["users"][me]  # and the plan does not show it as a change either
    if "users" in declared:
        _check_admin_floor(scope, users, live.creators if live.privileged_creators else frozenset(), draft)

    keys = set(declared) | {"users"}
    changes = _mapping_changes("power_levels", {k: current.get(k) for k in keys}, {k: new.get(k) for k in keys})
    for change in changes:
        user = change.field.removeprefix("power_levels.users.")
        draft.changes.append(Change(change.field, change.before, change.after, BOTS if user in bot_users else ROOMS))
    if changes:
        draft.actions.append(PutState("m.room.power_levels", "", new))


def _check_admin_floor(scope: _Scope, users: Mapping[str, Any], creators: frozenset[str], draft: _Draft) -> None:
    """min_admins: people (not roomsync, not bots) who could still run the room by hand."""
    floor = scope.config.min_admins
    if not floor:
        return
    robots = scope.bot_users | {scope.me}
    admins = {u for u, level in users.items() if isinstance(level, int) and level >= 100} | set(creators)
    admins -= robots
    if len(admins) < floor:
        draft.errors.append(f"min_admins is {floor}, but this would leave {len(admins)} "
                            f"{'person' if len(admins) == 1 else 'people'} at power 100 "
                            f"({', '.join(sorted(admins)) or 'nobody'}) besides roomsync and its bots")


def _plan_memberships(scope: _Scope, spec: RoomSpec, live: LiveRoom, draft: _Draft) -> None:
    serving = {bot.user: bot for bot in scope.serving(spec)}
    for bot in scope.config.bots:
        membership = live.membership(bot.user)
        field_name = f"member.{bot.user}"
        if bot.user in serving:
            if membership == "join":
                continue
            if membership == "ban":
                draft.errors.append(f"{bot.user} ({bot.name}) is banned here; unban it by hand first")
                continue
            if membership != "invite":
                draft.change(field_name, membership, "invite", Invite(bot.user), BOTS)
            if bot.token_env:
                draft.change(field_name, "invite", "join", JoinAs(bot.user, bot.token_env), BOTS)
            elif membership == "invite":
                draft.notes.append(f"{bot.user} ({bot.name}) is invited and has no token_env: "
                                   "pending until it accepts by itself")
        elif membership in ("join", "invite"):
            if bot.user != scope.me:  # never kick the provisioning account, whatever bots.yaml says
                draft.change(field_name, membership, "kicked", Kick(bot.user), BOTS)


def _plan_profile(bot: BotSpec, snapshot: Snapshot) -> BotPlan:
    profile = snapshot.profiles.get(bot.user) or {}
    changes, notes = [], []
    for name, key, want in (("display_name", "displayname", bot.display_name), ("avatar", "avatar_url", bot.avatar)):
        if want is not None and profile.get(key) != want:
            changes.append(Change(name, profile.get(key), want, BOTS))
    if changes and not bot.token_env:
        notes.append("its profile differs, but without token_env roomsync cannot set it")
        return BotPlan(bot.name, bot.user, notes=tuple(notes))
    actions = (SetProfile(bot.user, bot.token_env, bot.display_name, bot.avatar),) if changes else ()
    return BotPlan(bot.name, bot.user, tuple(changes), actions)


def _check_permissions(live: LiveRoom, me: str, draft: _Draft) -> None:
    """A pre-flight check: would the homeserver let the account do each action?"""
    mine = power.user_level(live, me)
    shown = "unlimited" if mine == power.UNLIMITED else int(mine)
    levels = live.power_levels or {}
    needs: dict[str, float] = {}
    for action in draft.actions:
        if isinstance(action, PutState):
            needs[action.event_type] = power.state_level(live, action.event_type)
            if action.event_type == "m.room.power_levels":
                draft.errors += power.power_change_problems(live, me, action.content)
        elif isinstance(action, (SetDirectory, DeleteAlias)):
            needs[ALIAS_EVENT] = power.state_level(live, ALIAS_EVENT)
        elif isinstance(action, Invite):
            needs["an invite"] = power.as_level(levels.get("invite", 0)) if levels else 0
        elif isinstance(action, Kick):
            needs["a kick"] = max(power.as_level(levels.get("kick", 50)) if levels else 0,
                                  power.user_level(live, action.user) + 1)
    for what, level in sorted(needs.items()):
        if level > mine:
            draft.errors.append(f"{me} has power {shown} here, but {what} needs {int(level)}")


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
