"""A room's own fields: creating it in one createRoom call, or diffing an existing one."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from .. import acl, avatars, fields, mirrors
from ..actions import BOTS, CreateRoom, DeleteAlias, PutAlias, PutState, RoomPlan, SetDirectory, Upgrade, Upload
from ..live import PRIVILEGED_CREATOR_VERSIONS, LiveRoom
from ..model import MANAGED_MARKER, MEGOLM, SIMPLE_STATE, RoomSpec
from . import avatars as avatar_plan
from . import bots, creators, lifecycle, links, members, policies, power_levels, preflight, state
from . import mirrors as mirror_plan
from .scope import ALIAS_EVENT, Draft, Scope

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
FIELDS_OUTSIDE_SIMPLE_STATE = {"join_rule"}  # needs the space ids of `spaces` when restricted


# --- creating a room -----------------------------------------------------------------------


def plan_create(scope: Scope, spec: RoomSpec) -> RoomPlan:
    config, me = scope.config, scope.me
    draft = Draft()
    alias = config.alias(spec.alias)
    version = spec.get("room_version") or scope.snapshot.default_room_version
    draft.change("alias", None, alias)
    plan_alt_aliases(scope, spec, None, draft)
    follow_ups, draft.actions = draft.actions, []  # they need the room, so they go after createRoom

    initial_state: list[dict[str, Any]] = []
    for name, (event_type, key) in SIMPLE_STATE.items():
        if spec.manages(name) and name not in FIELDS_OUTSIDE_SIMPLE_STATE and not _avatar_file(spec, name):
            initial_state.append({"type": event_type, "state_key": "", "content": {key: spec.get(name)}})
            draft.change(name, None, spec.get(name))
    marker: dict[str, Any] = {"alias": alias}
    if avatar := avatar_plan.for_new_room(scope, spec, draft):
        initial_state.append(avatar[0])
        marker[avatars.RECORD] = avatar[1]
    if spec.manages("join_rule"):
        initial_state.append(links.initial_join_rules(scope, spec, draft, follow_ups))
    if spec.get("encrypted"):
        initial_state.append({"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}})
    if spec.manages("encrypted"):
        draft.change("encrypted", None, spec.get("encrypted"))
    if (want_acl := server_acl(scope, spec, None, draft)) is not None:
        initial_state.append({"type": acl.EVENT, "state_key": "", "content": want_acl})
        draft.change("server_acl", None, want_acl)
    initial_state += policies.plan_rules(scope, spec, None, draft)
    initial_state += state.for_new_room(spec, draft)
    initial_state.append({"type": MANAGED_MARKER, "state_key": "", "content": marker})

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
        offered = scope.snapshot.room_versions
        if offered is not None and version not in offered:
            draft.errors.append(lifecycle.not_offered(version, offered))
    if spec.is_space:
        body["creation_content"] = {"type": "m.space"}
        draft.change("type", None, "space")
    if additional := creators.for_new_room(scope, spec, version, draft):
        body.setdefault("creation_content", {})["additional_creators"] = list(additional)

    serving = scope.serving(spec)
    declared = dict(spec.get("power_levels") or {})
    bot_levels = {bot.user: bot.power_level for bot in serving if bot.power_level != declared.get("users_default", 0)}
    mirror_levels = mirror_plan.levels(scope, None)
    if declared or bot_levels or mirror_levels:
        if bot_levels or mirror_levels:
            declared["users"] = {**declared.get("users", {}), **bot_levels, **mirror_levels}
        override = _creation_power_levels(declared, me, version, spec.named_users, draft)
        body["power_level_content_override"] = override
        if "users" in (spec.get("power_levels") or {}):
            preflight.check_admin_floor(scope, override["users"], frozenset({me, *additional}), draft)
        shown = {k: override[k] if k != "events" else declared[k] for k in declared}
        for change in power_levels.mapping_changes("power_levels", {}, shown):
            user = change.field.removeprefix("power_levels.users.")
            draft.change(change.field, None, change.after, section=BOTS if user in bot_levels else "rooms")

    links.plan_space_links(scope, spec, None, draft)
    members.plan_members(scope, spec, None, draft)
    follow_ups += draft.actions
    uploads = [action for action in follow_ups if isinstance(action, Upload)]  # createRoom needs their URIs
    draft.actions = [*uploads, CreateRoom(body), *(action for action in follow_ups if action not in uploads)]
    for bot in serving:
        bots.plan_new_member(scope, bot, draft)
    mirror_plan.plan_mirrors(scope, spec, None, draft)
    return draft.finish(alias, None, create=True)


def _creation_power_levels(
    desired: Mapping[str, Any], me: str, version: str, named: frozenset[str], draft: Draft
) -> dict[str, Any]:
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
            draft.errors.append(
                f"changing power levels would need {needed}, above the 100 the provisioning "
                f"account {me} holds as creator; roomsync would lock itself out"
            )
    if "users" in override:
        users = dict(override["users"])
        if version in PRIVILEGED_CREATOR_VERSIONS:
            if me in users:
                if me in named:  # named by id; through a group or the defaults it needs no entry
                    draft.errors.append(power_levels.creator_listed(me, version, account=True))
                users.pop(me)
        elif users.get(me, 100) < 100:
            draft.errors.append(
                f"power_levels.users gives the provisioning account {me} {users[me]}; "
                "roomsync never lowers its own power"
            )
        else:
            users[me] = max(users.get(me, 100), 100)
        override["users"] = users
    return override


def server_acl(scope: Scope, spec: RoomSpec, live: LiveRoom | None, draft: Draft) -> dict[str, Any] | None:
    """The server ACL the room should have (its own, with the servers policy lists deny), None
    when it is not managed, or None with an error when it would shut out one of ours: the
    homeserver, the account and the token's reader, the bots, the room's creators and members
    (validate said what it could tell; plan always checks, live creators included)."""
    if not policies.manages_acl(scope, spec):
        return None  # most rooms: not worth finding who is ours
    people = mirrors.people(scope.config.mirrors)
    people += [(bot.user, f"the bot {bot.name}") for bot in scope.config.bots]
    people += [(scope.snapshot.reader, "the account reading for this plan")] if scope.snapshot.reader else []
    people += [
        (user, "the creator")
        for user in sorted((spec.creators or frozenset()) | (live.creators if live else frozenset()))
    ]
    people += [(user, "the member") for user in sorted(spec.members or ())]
    ours = acl.our_servers(scope.config.server_name, scope.me, people)
    want = policies.acl_with_policies(scope, spec, live, ours, draft)
    if want is None:
        return None
    if problems := acl.shut_out(want, ours):
        draft.errors += [
            f"server_acl refused: {why}; roomsync never locks its own server or people out" for why in problems
        ]
        return None
    return want


def _avatar_file(spec: RoomSpec, name: str) -> bool:
    """Is this the avatar field naming a file (planned by avatars.py, not as a plain value)?"""
    return name == "avatar" and avatars.is_file(spec.get(name))


# --- changing an existing room ---------------------------------------------------------------


def plan_update(scope: Scope, spec: RoomSpec, live: LiveRoom) -> RoomPlan:
    draft = Draft()
    upgrading = scope.rooms and lifecycle.plan_version(scope, spec, live, draft)
    if scope.rooms:
        for name, (event_type, key) in SIMPLE_STATE.items():
            if not spec.manages(name) or name in FIELDS_OUTSIDE_SIMPLE_STATE or _avatar_file(spec, name):
                continue
            want, have = spec.get(name), fields.read(name, live)
            if want != have:
                draft.change(name, have, want, PutState(event_type, "", {key: want}))
        avatar_plan.plan_room_avatar(scope, spec, live, draft)
        links.plan_join_rule(scope, spec, live, draft)
        if spec.manages("encrypted"):
            if spec.get("encrypted") and not fields.read("encrypted", live):
                draft.change("encrypted", False, True, PutState("m.room.encryption", "", {"algorithm": MEGOLM}))
            elif not spec.get("encrypted") and fields.read("encrypted", live):
                draft.errors.append(
                    "encrypted: false, but the room is encrypted and Matrix cannot turn "
                    "encryption off; declare encrypted: true or leave the field out"
                )
        if spec.is_space != (fields.read("type", live) == "space"):
            draft.errors.append(
                f"the room's type is {live.room_type or 'a plain room'} and cannot change; "
                f"declared: {'space' if spec.is_space else 'a plain room'}"
            )
        if (want_acl := server_acl(scope, spec, live, draft)) is not None:
            have_acl = fields.read("server_acl", live)
            if have_acl != want_acl:
                draft.change("server_acl", have_acl, want_acl, PutState(acl.EVENT, "", want_acl))
        policies.plan_rules(scope, spec, live, draft)
        state.plan_state(spec, live, draft)
        plan_alt_aliases(scope, spec, live, draft)
        lifecycle.plan_marker(scope, spec, live, draft)
        creators.check(spec, live, bool(upgrading), draft)

    power_levels.plan_power_levels(scope, spec, live, draft)

    if scope.rooms:
        if spec.retired:
            lifecycle.plan_retirement(scope, spec, live, draft)
        elif spec.manages("directory"):
            want, have = spec.get("directory"), fields.read("directory", live) or "private"
            if want != have:
                draft.change("directory", have, want, SetDirectory(want))
        links.plan_space_links(scope, spec, live, draft)
        members.plan_members(scope, spec, live, draft)
        policies.plan_bans(scope, spec, live, draft)
    if scope.bots:
        bots.plan_memberships(scope, spec, live, draft)
    if scope.rooms:
        mirror_plan.plan_mirrors(scope, spec, live, draft)
    if upgrading:
        # The rest is shown as it compares with the room today; sync upgrades, then reads the new
        # room and plans it again, since the upgrade copies some state and not the rest.
        draft.actions = [action for action in draft.actions if isinstance(action, Upgrade)]
        draft.notes.append(lifecycle.AFTER_UPGRADE)
    preflight.check_room(scope, live, draft)
    return draft.finish(scope.config.alias(spec.alias), live.room_id, retired=spec.retired)


def plan_alt_aliases(scope: Scope, spec: RoomSpec, live: LiveRoom | None, draft: Draft) -> None:
    """New directory entries, removals, then the canonical_alias event that lists what remains."""
    config, snapshot = scope.config, scope.snapshot
    primary = config.alias(spec.alias)
    room_id = live.room_id if live else None
    live_alts = live.alt_aliases if live else ()
    if live and snapshot.alias_owner.get(primary) is None:
        draft.actions.append(PutAlias(primary))  # a rename: the room was found by a former alias
    if spec.alt_aliases is None:
        want_alts = [a for a in live_alts if a != primary]
    else:
        want_alts = [config.alias(a) for a in spec.alt_aliases]
        for alt in want_alts:
            owner = snapshot.alias_owner.get(alt)
            if owner is None:
                draft.actions.append(PutAlias(alt))
            elif owner != room_id and lifecycle.may_take_alias(scope, spec, owner, room_id):
                draft.actions += [DeleteAlias(alt), PutAlias(alt)]  # an explicit move from the room it replaced
                draft.notes.append(f"{alt} moves here from {scope.label(owner)}")
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
    declared = scope.declared_aliases
    for alt in live_alts:
        if alt in want_alts or alt in declared or not room_id or snapshot.alias_owner.get(alt) != room_id:
            continue  # never delete an alias the config still uses, or one that is not this room's
        if alt.endswith(f":{config.server_name}"):
            draft.actions.append(DeleteAlias(alt))
    for former in (config.alias(f) for f in spec.formerly):  # a rename done: the old name goes
        if (
            room_id
            and snapshot.alias_owner.get(former) == room_id
            and former not in want_alts
            and DeleteAlias(former) not in draft.actions
        ):
            # A removal like any other: links to the old name stop working.
            draft.change("formerly", former, None, DeleteAlias(former))
            draft.notes.append(
                f"{former} is deleted: the room is renamed to {primary}; "
                "list it in alt_aliases to keep old links working"
            )

    have_primary = live.canonical_alias if live else primary  # createRoom sets the primary itself
    if live and have_primary != primary:
        draft.change("alias", have_primary, primary)
    # Order alone is not worth an event: compare as sets, write in the declared order.
    if have_primary != primary or set(live_alts) != set(want_alts):
        content: dict[str, Any] = {"alias": primary}
        if want_alts:
            content["alt_aliases"] = want_alts
        draft.actions.append(PutState(ALIAS_EVENT, "", content))
