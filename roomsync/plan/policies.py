"""Policy lists in the plan: a list room's rules as policies.yaml says, bans of the members that
enforced and followed user rules match, the servers they deny merged into each room's ACL, and
the join that lets the account read a followed list."""

from __future__ import annotations

from typing import Any

from .. import acl, fields, policies
from ..actions import Ban, Follow, PutState, RoomPlan
from ..live import LiveRoom, Unreadable
from ..model import RoomSpec
from .scope import Draft, Scope

BANNABLE = ("join", "invite", "knock")
ACL_KEYS = ("allow", "deny", "allow_ip_literals")


def rule_field(rule: policies.Rule) -> str:
    return f"rule.{rule.kind}.{rule.entity}"


def _shown(rule: policies.Rule) -> str:
    """A rule as a plan line shows it: its reason, and its recommendation when it is not a ban."""
    return rule.reason if rule.recommendation == policies.BAN else f"({rule.recommendation}) {rule.reason}"


def plan_rules(scope: Scope, spec: RoomSpec, live: LiveRoom | None, draft: Draft) -> list[dict[str, Any]]:
    """A policy list room's rules. For a room being created, the rules' events for its initial
    state (returned); for an existing room, PutStates: new and changed rules, and rules no longer
    in policies.yaml emptied (the spec's way to remove a rule)."""
    declared = scope.config.policies.list_for(spec.alias)
    if declared is None or spec.retired:
        return []
    if live is None:
        for rule in declared.rules:
            draft.change(rule_field(rule), None, _shown(rule))
        return [{"type": r.event_type, "state_key": r.state_key, "content": r.content} for r in declared.rules]
    copies: dict[tuple[str, str], list[policies.LiveRule]] = {}
    for one in policies.rules_in(live):
        copies.setdefault((one.rule.kind, one.rule.entity), []).append(one)
    have = {}
    for key, found in copies.items():  # one rule per entity: at roomsync's own state key if there is one there
        have[key] = next((f for f in found if f.state_key == f.rule.state_key), found[0])
        for extra in (f for f in found if f is not have[key]):
            draft.change(rule_field(extra.rule), _shown(extra.rule), None, _emptied(extra))
    for rule in declared.rules:
        current = have.pop((rule.kind, rule.entity), None)
        if current is None:
            draft.change(rule_field(rule), None, _shown(rule), PutState(rule.event_type, rule.state_key, rule.content))
        elif current.rule.reason != rule.reason or current.rule.recommendation != rule.recommendation:
            action = PutState(rule.event_type, current.state_key, rule.content)
            draft.change(rule_field(rule), _shown(current.rule), _shown(rule), action)
    for gone in have.values():
        draft.change(rule_field(gone.rule), _shown(gone.rule), None, _emptied(gone))
    return []


def _emptied(found: policies.LiveRule) -> PutState:
    return PutState(found.rule.event_type, found.state_key, {})


# --- enforcement ---------------------------------------------------------------------------


def protected(scope: Scope, spec: RoomSpec, live: LiveRoom | None) -> dict[str, str]:
    """The people of this room no rule may touch: the config's own, the account and the reader,
    the room's creators."""
    found = dict(scope.config.ours)
    found.setdefault(scope.me, "the provisioning account")
    if scope.snapshot.reader:
        found.setdefault(scope.snapshot.reader, "the account reading for this plan")
    for user in sorted((spec.creators or frozenset()) | (live.creators if live else frozenset())):
        found.setdefault(user, "the creator")
    return found


def plan_bans(scope: Scope, spec: RoomSpec, live: LiveRoom, draft: Draft) -> None:
    """Ban the members (joined, invited or knocking) an enforced or followed user rule matches."""
    enforced = scope.enforcement
    if not enforced.users or spec.retired:
        return
    keep = protected(scope, spec, live)
    for user, membership in sorted(live.members(*BANNABLE).items()):
        rule = enforced.ban_rule(user)
        if rule is None:
            continue
        if user in keep:
            draft.notes.append(f"{user} matches {rule} but is {keep[user]}: never banned")
            continue
        draft.change(f"ban.{user}", membership, "banned", Ban(user, rule.reason))


def manages_acl(scope: Scope, spec: RoomSpec) -> bool:
    """Whether roomsync writes this room's server ACL: the room declares one, or follows policies."""
    return any(_acl_sources(scope, spec))


def _acl_sources(scope: Scope, spec: RoomSpec) -> tuple[bool, bool]:
    """(the room declares its own ACL, the room follows the enforced policy lists)"""
    declared = spec.get("server_acl")
    own = isinstance(declared, dict) and any(key in declared for key in ACL_KEYS)
    follows = scope.config.policies.enforcing and not (
        isinstance(declared, dict) and declared.get("follow_policies") is False
    )
    return own, follows


def acl_with_policies(
    scope: Scope, spec: RoomSpec, live: LiveRoom | None, ours: dict[str, str], draft: Draft
) -> dict[str, Any] | None:
    """The room's server ACL: its own `server_acl` (allow, deny, allow_ip_literals), with the
    servers enforced and followed rules deny added to its deny list unless the room opts out
    (follow_policies: false). None: the room's ACL is not managed."""
    declared = spec.get("server_acl")
    own, follows = _acl_sources(scope, spec)
    if not own and not follows:
        return None
    want = acl.content(declared if own and isinstance(declared, dict) else {})
    if not follows:
        return want
    have = fields.read("server_acl", live) if live else None
    enforced = scope.enforcement
    denied = [rule.entity for rule in enforced.servers]
    if not enforced.complete and have:
        denied += have["deny"]  # a followed list not read this run: lift nothing it may have denied
    for glob in dict.fromkeys(denied):
        if glob in want["deny"]:
            continue
        hit = [who for server, who in ours.items() if policies.matches(policies.Rule("server", glob), server)]
        if hit:
            draft.notes.append(f"the server rule {glob} is not applied here: it would deny {hit[0]}")
        else:
            want["deny"].append(glob)
    if not own and not want["deny"] and have is None:
        return None  # no ACL, and none needed
    return want


def plan_follows(scope: Scope) -> list[RoomPlan]:
    """A followed list the account has not joined: joining it is a change the plan shows. One
    that cannot be found is a note (Enforcement.unread), as any unreadable list."""
    plans = []
    for target in scope.config.policies.follow:
        room = scope.snapshot.followed.get(target)
        if not isinstance(room, Unreadable) or not room.room_id:
            continue
        draft = Draft()
        draft.change("follow", None, "joined", Follow(target))
        draft.notes.append("a followed list's rules apply from the run after the account joins it")
        plans.append(draft.finish(target, room.room_id))
    return plans
