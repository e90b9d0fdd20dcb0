"""Pre-flight checks: would the homeserver let the account do what a room's plan needs, and
does the plan keep the room runnable by people (min_admins)?"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import power
from ..actions import (
    LACKS_POWER,
    NOT_JOINED,
    Ban,
    DeleteAlias,
    Invite,
    Kick,
    PutState,
    RoomError,
    SetDirectory,
    Upgrade,
)
from ..live import LiveRoom
from .scope import ALIAS_EVENT, Draft, Scope


def check_room(scope: Scope, live: LiveRoom, draft: Draft) -> None:
    me = scope.me
    observed = scope.snapshot.reader not in ("", me)  # an observer read it: is the account in?
    if observed and live.membership(me) != "join":
        draft.errors.append(
            RoomError(
                f"the provisioning account {me} is not joined in this room; run `roomsync adopt` "
                "(it joins the account, or says what a room admin must do)",
                NOT_JOINED,
            )
        )
    else:
        check_permissions(live, me, draft)


ADOPT_HINT = "; `roomsync adopt` gives the account power 100"


def check_permissions(live: LiveRoom, me: str, draft: Draft) -> None:
    """Would the homeserver let the account do each action?"""
    mine = power.user_level(live, me)
    shown = "unlimited" if mine == power.UNLIMITED else int(mine)
    levels = live.power_levels or {}
    needs: dict[str, float] = {}
    for action in draft.actions:
        if isinstance(action, PutState):
            needs[action.event_type] = power.state_level(live, action.event_type)
            if action.event_type == "m.room.power_levels":
                draft.errors += [
                    RoomError(problem + (ADOPT_HINT if mine < 100 else ""), LACKS_POWER)
                    for problem in power.power_change_problems(live, me, action.content)
                ]
        elif isinstance(action, Upgrade):  # the server tombstones the old room in the account's name
            needs["an upgrade (m.room.tombstone)"] = power.state_level(live, "m.room.tombstone")
        elif isinstance(action, (SetDirectory, DeleteAlias)):
            needs[ALIAS_EVENT] = power.state_level(live, ALIAS_EVENT)
        elif isinstance(action, Invite):
            needs["an invite"] = power.as_level(levels.get("invite", 0)) if levels else 0
        elif isinstance(action, (Kick, Ban)):
            what = "kick" if isinstance(action, Kick) else "ban"
            needs[f"a {what}"] = max(
                needs.get(f"a {what}", 0),
                power.as_level(levels.get(what, 50)) if levels else 0,
                power.user_level(live, action.user) + 1,
            )
    for what, level in sorted(needs.items()):
        if level > mine:
            hint = ADOPT_HINT if mine < 100 else ""
            draft.errors.append(
                RoomError(f"{me} has power {shown} here, but {what} needs {int(level)}{hint}", LACKS_POWER)
            )


def check_admin_floor(scope: Scope, users: Mapping[str, Any], creators: frozenset[str], draft: Draft) -> None:
    """min_admins: people (not roomsync, its bots or its mirrors' accounts) who could still run the room by hand."""
    floor = scope.config.min_admins
    if not floor:
        return
    robots = scope.bot_users | {scope.me} | {m.account for m in scope.config.mirrors}
    admins = {u for u, level in users.items() if isinstance(level, int) and level >= 100} | set(creators)
    admins -= robots
    if len(admins) < floor:
        draft.errors.append(
            f"min_admins is {floor}, but this would leave {len(admins)} "
            f"{'person' if len(admins) == 1 else 'people'} at power 100 "
            f"({', '.join(sorted(admins)) or 'nobody'}) besides roomsync and its bots"
        )
