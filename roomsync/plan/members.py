"""Members of a room decided in review (`members`, `members_exclusive`): invites, and with
members_exclusive the kicks of everyone else.

A person who left, or declined the invite, is not invited again at every sync: the room keeps
the members list roomsync last acted on in a state event of its own (MEMBERS_RECORD), and a
person on that list who is no longer in the room is a note until the list changes.
"""

from __future__ import annotations

from ..actions import Invite, Kick, PutState
from ..live import LiveRoom
from ..model import MEMBERS_RECORD, RoomSpec
from .scope import Draft, Scope

EXCLUSIVE_KICK_REASON = "not in this room's members (roomsync)"
STAYING = ("join", "invite")


def recorded(live: LiveRoom | None) -> frozenset[str]:
    declared = (live.content(MEMBERS_RECORD) or {}).get("declared") if live else None
    return frozenset(u for u in declared if isinstance(u, str)) if isinstance(declared, list) else frozenset()


def plan_members(scope: Scope, spec: RoomSpec, live: LiveRoom | None, draft: Draft) -> None:
    declared = spec.members
    if declared is None or spec.retired:
        return
    record = recorded(live)
    invited = False
    for user in sorted(declared - {scope.me} - scope.bot_users):  # bots.yaml decides where bots are
        membership = live.membership(user) if live else None
        if membership in STAYING:
            continue
        if scope.snapshot.existing.get(user) is False:
            draft.errors.append(f"the account {user} does not exist on this homeserver: it cannot be invited")
            continue
        if membership == "ban":
            draft.notes.append(f"{user} is banned in this room and is not invited; unban them by hand first")
        elif membership is not None and user in record:
            draft.notes.append(
                f"{user} left this room (or declined the invite) and is not invited again until its members change"
            )
        else:
            draft.change(f"member.{user}", membership, "invite", Invite(user))
            invited = True
    if live is not None and spec.get("members_exclusive") is True:
        _kick_others(scope, spec, live, declared, draft)
    if invited or record - declared:
        before = sorted(record) if live and live.content(MEMBERS_RECORD) else None
        after = sorted(declared)
        draft.change("members", before, after, PutState(MEMBERS_RECORD, "", {"declared": after}))


def _kick_others(scope: Scope, spec: RoomSpec, live: LiveRoom, declared: frozenset[str], draft: Draft) -> None:
    """Everyone joined or invited who is not declared, the account (or its observer), a creator, or a
    bot of bots.yaml (the bots' part of the plan decides where bots stay)."""
    keep = declared | {scope.me, scope.snapshot.reader} | live.creators | scope.bot_users
    for user, membership in sorted(live.members(*STAYING).items()):
        if user not in keep:
            draft.change(f"member.{user}", membership, "kicked", Kick(user, EXCLUSIVE_KICK_REASON))
