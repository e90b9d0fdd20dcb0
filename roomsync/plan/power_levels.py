"""The one m.room.power_levels event of a room: its declared keys and the bots' levels merged."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from deepdiff import DeepDiff

from .. import power
from ..actions import BOTS, ROOMS, Change, PutState
from ..live import LiveRoom
from ..model import RoomSpec
from . import mirrors, preflight
from .scope import Draft, Scope


def creator_listed(user: str, version: str, account: bool = False) -> str:
    who = f"the provisioning account {user} is this room's creator" if account else f"{user} is a creator"
    return (
        f"{who} in a version-{version} room, where creators have unlimited power and may not be listed "
        f"in power_levels.users; remove {user} from users"
    )


def plan_power_levels(scope: Scope, spec: RoomSpec, live: LiveRoom, draft: Draft) -> None:
    """One m.room.power_levels event carrying the room's declared keys and the bots' levels."""
    me = scope.me
    current = dict(live.power_levels or {})
    new = dict(current)  # its values are replaced, never changed in place; copied deeply into an action
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
                # Named by id in the room's own users, it is a mistake to say; reached through a
                # group or the defaults, the creator simply needs no entry.
                if user in spec.named_users:
                    draft.errors.append(creator_listed(user, live.room_version, account=user == me))
                continue
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
    if scope.rooms:
        users.update(mirrors.levels(scope, live))
    if users or "users" in current:
        new["users"] = users
    mine = power.user_level(live, me)
    if mine != power.UNLIMITED:
        after = power.as_level(users.get(me, new.get("users_default", 0)))
        if after < mine:
            draft.errors.append(
                f"this would lower the provisioning account {me} from power {int(mine)} to "
                f"{int(after)}; roomsync never lowers its own power"
            )
            if me in (current.get("users") or {}):
                users[me] = current["users"][me]  # and the plan does not show it as a change either
    if "users" in declared:
        preflight.check_admin_floor(scope, users, live.creators if live.privileged_creators else frozenset(), draft)

    keys = set(declared) | {"users"}
    changes = mapping_changes("power_levels", {k: current.get(k) for k in keys}, {k: new.get(k) for k in keys})
    for change in changes:
        user = change.field.removeprefix("power_levels.users.")
        draft.change(change.field, change.before, change.after, section=BOTS if user in bot_users else ROOMS)
    if changes:
        draft.actions.append(PutState("m.room.power_levels", "", copy.deepcopy(new)))


def mapping_changes(prefix: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    """One Change per leaf that differs: power_levels.users.@bob:example.org 0 -> 50."""
    old_values, new_values = _drop_none(before), _drop_none(after)
    if json_equal(old_values, new_values):
        return []  # the common case, in sync, without a diff's cost
    diff = DeepDiff(old_values, new_values, ignore_order=False, view="tree")
    changes = []
    for kind in ("values_changed", "type_changes", "dictionary_item_added", "dictionary_item_removed"):
        for level in diff.get(kind, []):
            path = ".".join([prefix] + [str(p) for p in level.path(output_format="list")])
            old = None if kind == "dictionary_item_added" else level.t1
            new = None if kind == "dictionary_item_removed" else level.t2
            changes += _leaf_changes(path, old, new)
    return sorted(changes, key=lambda c: c.field)


def json_equal(a: Any, b: Any) -> bool:
    """Equal as JSON documents: `true` is not `1`, `1` is not `1.0` (Python's == says they are).
    A third of the time of comparing two json.dumps, for every room of every plan."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_equal(value, b[key]) for key, value in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(map(json_equal, a, b))
    return bool(a == b)


def _leaf_changes(field_name: str, old: Any, new: Any) -> list[Change]:
    if isinstance(old, Mapping) or isinstance(new, Mapping):
        old, new = old if isinstance(old, Mapping) else {}, new if isinstance(new, Mapping) else {}
        return [
            c
            for k in sorted(set(old) | set(new))
            for c in _leaf_changes(f"{field_name}.{k}", old.get(k), new.get(k))
            if c.before != c.after
        ]
    return [Change(field_name, old, new)]


def _drop_none(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}
