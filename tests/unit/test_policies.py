"""Policy lists: matching, the guard on our own server and people, and what the planner makes of
a list room's rules, enforced bans and server denies, and followed lists."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from roomsync import policies
from roomsync.actions import Ban, Follow, PutState
from roomsync.live import LiveRoom, Unreadable, parse_room
from roomsync.plan import make_plan
from roomsync.policies import Policies, PolicyList, Rule
from tests.unit.planning import ME, SERVER, config, event, room, snapshot, spec

SPAM = "@spam-1:evil.example"
FRIEND = "@fungi:example.com"
USER_RULE = Rule("user", "@spam-*:evil.example", "spam wave")
SERVER_RULE = Rule("server", "*.badhost.example", "open registration")
ROOM_RULE = Rule("room", "#spam:evil.example", "spam source")


def with_policies(*specs: Any, lists: tuple[PolicyList, ...] = (), follow: tuple[str, ...] = (), **fields: Any):
    ours = {FRIEND: "the member of group friends"}
    return dataclasses.replace(config(*specs), policies=Policies(lists, follow), ours=ours, **fields)


def live_with(*extra: dict[str, Any], room_id: str = "!dev:opendev.org", canonical: str = "#dev:opendev.org"):
    base = room(room_id=room_id, canonical=canonical)
    events = [{"type": t, "state_key": k, "sender": ME, "content": dict(c)} for (t, k), c in base.state.items()] + list(
        extra
    )
    return parse_room(room_id, events)


def member(user: str, membership: str = "join") -> dict[str, Any]:
    return event("m.room.member", {"membership": membership}, state_key=user, sender=user)


def rule_event(rule: Rule, state_key: str | None = None) -> dict[str, Any]:
    return event(rule.event_type, rule.content, state_key=rule.state_key if state_key is None else state_key)


def plan_of(cfg: Any, rooms: dict[str, LiveRoom | Unreadable], followed: dict[str, Any] | None = None):
    snap = dataclasses.replace(snapshot(rooms), followed=followed or {})
    return make_plan(cfg, snap)


# --- matching and the guard ------------------------------------------------------------------


def _localparts(alphabet: str, longest: int) -> list[str]:
    found = [""]
    for _ in range(longest):
        found += [lp + c for lp in found if len(lp) == len(found[-1]) for c in alphabet]
    return sorted(set(found))


LOCALPARTS = _localparts("ab.@", 5)  # every local part a glob of 5 characters could need


@given(st.text(alphabet="@ab:*?.", max_size=5))
def test_reaching_our_server_is_exactly_some_id_there_matching(glob: str) -> None:
    """The guard's question (could this glob match an id on our server?) against brute force."""
    witness = any(policies.acl.glob_matches(glob, f"@{lp}:ab.a") for lp in LOCALPARTS)
    assert policies._reaches_server(glob, "@", "ab.a") == witness


def test_the_guard_names_what_a_rule_would_hit() -> None:
    people = {"@gerrit:bots.example": "the bot gerritbot", FRIEND: "the member of group friends"}
    assert "the bot gerritbot" in policies.hits(Rule("user", "@gerr*"), SERVER, people)
    assert "the server of the member of group friends" in policies.hits(Rule("server", "example.*"), SERVER, people)
    assert "the homeserver opendev.org" in policies.hits(Rule("server", "opendev.org"), SERVER, people)
    assert "accounts on opendev.org" in policies.hits(Rule("user", "@x*"), SERVER, {})
    assert "one of ours" in policies.hits(Rule("room", "#dev*"), SERVER, {}, ["#dev:opendev.org"])
    assert policies.hits(USER_RULE, SERVER, people) is None
    assert policies.hits(SERVER_RULE, SERVER, people) is None
    assert policies.hits(Rule("server", "opendev.org.evil"), SERVER, people) is None


def test_a_server_rule_ignores_the_port_as_an_acl_does() -> None:
    assert policies.matches(Rule("server", "badhost.example"), "badhost.example:8448")
    assert not policies.matches(Rule("server", "badhost.example"), "a.badhost.example")


# --- the list room -----------------------------------------------------------------------------


def test_a_new_list_room_is_created_with_its_rules_in_one_call() -> None:
    bans = PolicyList("dev", (USER_RULE, SERVER_RULE, ROOM_RULE))
    plan = plan_of(with_policies(spec("dev"), lists=(bans,)), {})
    created = plan.rooms[0].actions[0]
    initial = {(e["type"], e["state_key"]): e["content"] for e in created.body["initial_state"]}
    assert initial[("m.policy.rule.user", "rule:@spam-*:evil.example")] == {
        "entity": "@spam-*:evil.example",
        "recommendation": "m.ban",
        "reason": "spam wave",
    }
    assert ("m.policy.rule.room", "rule:#spam:evil.example") in initial
    assert "rule.server.*.badhost.example" in {c.field for c in plan.rooms[0].changes}


def test_rules_are_added_changed_and_removed_to_match_the_file_exactly() -> None:
    changed = dataclasses.replace(SERVER_RULE, reason="open registration, abused")
    stray = Rule("user", "@old:evil.example", "gone from git")
    live = live_with(
        rule_event(SERVER_RULE),
        rule_event(stray, state_key="made-by-hand"),
        rule_event(ROOM_RULE),
        rule_event(ROOM_RULE, state_key="a-second-copy"),
    )
    bans = PolicyList("dev", (USER_RULE, changed, ROOM_RULE))
    plan = plan_of(with_policies(spec("dev"), lists=(bans,)), {"dev": live}).rooms[0]
    written = {(a.event_type, a.state_key): a.content for a in plan.actions if isinstance(a, PutState)}
    assert written == {
        ("m.policy.rule.user", "rule:@spam-*:evil.example"): USER_RULE.content,
        ("m.policy.rule.server", "rule:*.badhost.example"): changed.content,
        ("m.policy.rule.user", "made-by-hand"): {},
        ("m.policy.rule.room", "a-second-copy"): {},
    }
    lines = {(c.field, c.before, c.after) for c in plan.changes}
    assert ("rule.user.@old:evil.example", "gone from git", None) in lines
    assert ("rule.server.*.badhost.example", "open registration", "open registration, abused") in lines


def test_a_list_room_that_matches_has_nothing_to_do() -> None:
    live = live_with(rule_event(USER_RULE), rule_event(SERVER_RULE))
    bans = PolicyList("dev", (USER_RULE, SERVER_RULE))
    assert not plan_of(with_policies(spec("dev"), lists=(bans,)), {"dev": live}).has_changes


# --- enforcement -------------------------------------------------------------------------------


def test_enforced_user_rules_ban_matching_members_and_never_ours() -> None:
    live = live_with(
        member(SPAM),
        member("@spam-2:evil.example", "invite"),
        member("@spam-3:evil.example", "leave"),
        member(FRIEND),
        member("@other:evil.example"),
    )
    enforce = PolicyList("bans", (USER_RULE, Rule("user", "@fung*:example.com", "slipped through")), enforce=True)
    plan = plan_of(with_policies(spec("dev"), lists=(enforce,)), {"dev": live}).rooms[0]
    bans = {a.user: a.reason for a in plan.actions if isinstance(a, Ban)}
    assert bans == {SPAM: "spam wave", "@spam-2:evil.example": "spam wave"}  # not one who left, not a friend
    assert any(FRIEND in note and "never banned" in note for note in plan.notes)
    assert {c.field: c.after for c in plan.changes}[f"ban.{SPAM}"] == "banned"


def test_each_ban_is_a_removal_for_max_removals() -> None:
    live = live_with(member(SPAM), member("@spam-2:evil.example"))
    plan = plan_of(with_policies(spec("dev"), lists=(PolicyList("bans", (USER_RULE,), enforce=True),)), {"dev": live})
    assert plan.removals == 2


def test_a_list_that_is_not_enforced_bans_nobody_and_denies_nothing() -> None:
    live = live_with(member(SPAM))
    plan = plan_of(with_policies(spec("dev"), lists=(PolicyList("bans", (USER_RULE, SERVER_RULE)),)), {"dev": live})
    assert not plan.has_changes


def acl_put(plan: Any) -> dict[str, Any] | None:
    puts = [
        a.content
        for r in plan.rooms
        for a in r.actions
        if isinstance(a, PutState) and a.event_type == "m.room.server_acl"
    ]
    return puts[0] if puts else None


def test_server_rules_join_each_rooms_own_deny_list_and_a_room_may_opt_out() -> None:
    enforce = (PolicyList("bans", (SERVER_RULE,), enforce=True),)
    own = spec("dev", server_acl={"deny": ["x.example"]})
    assert acl_put(plan_of(with_policies(own, lists=enforce), {"dev": live_with()}))["deny"] == [
        "x.example",
        "*.badhost.example",
    ]
    plain = acl_put(plan_of(with_policies(spec("dev"), lists=enforce), {"dev": live_with()}))
    assert plain == {"allow": ["*"], "deny": ["*.badhost.example"], "allow_ip_literals": False}
    out = spec("dev", server_acl={"follow_policies": False})
    assert acl_put(plan_of(with_policies(out, lists=enforce), {"dev": live_with()})) is None
    out_own = spec("dev", server_acl={"deny": ["x.example"], "follow_policies": False})
    assert acl_put(plan_of(with_policies(out_own, lists=enforce), {"dev": live_with()}))["deny"] == ["x.example"]


def test_a_room_without_acl_needs_none_when_nothing_is_denied() -> None:
    enforce = (PolicyList("bans", (USER_RULE,), enforce=True),)
    assert not plan_of(with_policies(spec("dev"), lists=enforce), {"dev": live_with()}).has_changes


def test_a_server_rule_that_would_deny_a_live_creator_is_not_applied_in_that_room() -> None:
    live = room(room_id="!dev:opendev.org", additional_creators=["@root:a.badhost.example"])
    enforce = (PolicyList("bans", (SERVER_RULE,), enforce=True),)
    plan = plan_of(with_policies(spec("dev"), lists=enforce), {"dev": live})
    assert acl_put(plan) is None
    assert any("not applied here" in note and "a.badhost.example" in note for note in plan.rooms[0].notes)


# --- followed lists ----------------------------------------------------------------------------

FOLLOWED = "#bl:neko.dev"


def followed_list(*rules: Rule) -> LiveRoom:
    return parse_room("!bl:neko.dev", [rule_event(r) for r in rules])


def test_a_followed_lists_rules_apply_and_those_hitting_ours_are_skipped_with_a_warning() -> None:
    read = followed_list(
        USER_RULE,
        SERVER_RULE,
        Rule("user", FRIEND, "a mistake"),
        Rule("server", "opendev.org", "a mistake"),
        Rule("user", "@mute-*:evil.example", "quiet", recommendation="org.example.mute"),
        ROOM_RULE,
    )
    live = live_with(member(SPAM), member(FRIEND), member("@mute-1:evil.example"))
    plan = plan_of(with_policies(spec("dev"), follow=(FOLLOWED,)), {"dev": live}, {FOLLOWED: read})
    assert {a.user for a in plan.rooms[0].actions if isinstance(a, Ban)} == {SPAM}
    assert acl_put(plan)["deny"] == ["*.badhost.example"]
    skipped = [w for w in plan.warnings if "is skipped" in w]
    assert (
        len(skipped) == 2 and any(FRIEND in w for w in skipped) and any("server rule opendev.org" in w for w in skipped)
    )


def test_a_followed_list_not_joined_is_joined_first_and_nothing_is_lifted_meanwhile() -> None:
    live = live_with(
        event("m.room.server_acl", {"allow": ["*"], "deny": ["*.old.example"], "allow_ip_literals": False})
    )
    cfg = with_policies(spec("dev"), follow=(FOLLOWED,))
    plan = plan_of(
        cfg, {"dev": live}, {FOLLOWED: Unreadable("!bl:neko.dev", "@roomsync:opendev.org has not joined it")}
    )
    follow = [r for r in plan.rooms if r.alias == FOLLOWED]
    assert follow and follow[0].actions == (Follow(FOLLOWED),)
    assert acl_put(plan) is None  # the deny a followed list may have put there stays until it is read
    assert any(re.search(r"not applied in this run \(.*has not joined it\)", note) for note in plan.notes)


def test_a_followed_list_that_cannot_be_found_is_a_note_not_an_error() -> None:
    cfg = with_policies(spec("dev"), follow=(FOLLOWED,))
    plan = plan_of(cfg, {"dev": live_with()}, {FOLLOWED: Unreadable("", f"{FOLLOWED} does not exist")})
    assert not plan.has_errors and not plan.has_changes
    assert [r.alias for r in plan.rooms] == ["#dev:opendev.org"]
    assert any(f"{FOLLOWED} does not exist" in note for note in plan.notes)
