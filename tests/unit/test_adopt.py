"""`roomsync adopt`, the pure part, and the plan errors it acts on (kinds, and the way out they name)."""

from __future__ import annotations

from roomsync import adopt
from roomsync.actions import LACKS_POWER, NOT_JOINED, RoomError, error_kinds
from roomsync.live import Snapshot, Unreadable
from roomsync.observe import _not_joined
from roomsync.plan import make_plan
from tests.unit.planning import ADMIN, BOB, ME, config, plan_room, room, spec

OBSERVER = "@observer:opendev.org"


def test_unreadable_room_error_has_a_kind_and_names_adopt():
    reason = _not_joined(ME, ME, "!r:opendev.org")
    rp = plan_room(spec("dev", name="D"), Unreadable("!r:opendev.org", reason))
    assert error_kinds(rp.errors) == {NOT_JOINED}
    assert "`roomsync adopt`" in rp.errors[0]
    assert rp.errors[0] == str(reason), "it is still the plain message for every renderer"
    observed = _not_joined(OBSERVER, ME, "!r:opendev.org")
    assert "`roomsync sync` joins @observer:opendev.org" in observed and "roomsync adopt" in observed


def test_account_not_joined_seen_by_an_observer_names_adopt():
    live = room("10", ADMIN, power_levels={"users": {ADMIN: 100}})
    plan = make_plan(config(spec("dev", topic="T")), Snapshot(account=ME, rooms={"dev": live}, reader=OBSERVER))
    errors = plan.rooms[0].errors
    assert error_kinds(errors) == {NOT_JOINED} and "`roomsync adopt`" in errors[0]


def test_lacking_power_has_a_kind_and_names_adopt_when_adopt_helps():
    low = room("10", ADMIN, power_levels={"users": {ADMIN: 100, ME: 10}, "state_default": 50})
    rp = plan_room(spec("dev", topic="T"), low)
    assert error_kinds(rp.errors) == {LACKS_POWER}
    assert all("`roomsync adopt` gives the account power 100" in e for e in rp.errors), rp.errors
    high = room("10", ADMIN, power_levels={"users": {ADMIN: 150, ME: 100}, "state_default": 120})
    rp = plan_room(spec("dev", topic="T"), high)
    assert error_kinds(rp.errors) == {LACKS_POWER} and not any("adopt" in e for e in rp.errors)


def test_power_level_change_problems_carry_the_kind():
    live = room("10", ADMIN, power_levels={"users": {ADMIN: 100, ME: 50}, "events": {"m.room.power_levels": 50}})
    rp = plan_room(spec("dev", power_levels={"ban": 100}), live)
    assert rp.errors and error_kinds(rp.errors) == {LACKS_POWER}


def test_room_error_is_a_plain_string_to_everyone_else():
    error = RoomError("message", NOT_JOINED)
    assert error == "message" and isinstance(error, str) and error.kind == NOT_JOINED
    assert error_kinds(["plain", error]) == {NOT_JOINED}


def test_assess():
    joined_100 = room("10", ADMIN, power_levels={"users": {ADMIN: 100, ME: 100}})
    state = dict(joined_100.state)
    state[("m.room.member", ME)] = {"membership": "join"}
    joined = type(joined_100)(joined_100.room_id, state, joined_100.creators, "10")
    assert adopt.assess(joined, ME).managed
    assert not adopt.assess(joined_100, ME).managed  # power, but not joined
    blocked = adopt.assess(joined, ME, (RoomError("needs 150", LACKS_POWER),))
    assert not blocked.managed and blocked.blocked == ("needs 150",)
    unknown = adopt.assess(None, ME)
    assert not unknown.known and not unknown.managed
    assert adopt.assess(None, ME, invited=True).membership == "invite"
    creator = room("12", ME)
    assert adopt.assess(creator, ME).managed, "a v12 creator has unlimited power"


def test_instructions_say_what_a_room_admin_types():
    live = room(
        "10",
        ADMIN,
        power_levels={
            "users": {ADMIN: 100, BOB: 50, "@gerrit:opendev.org": 100},
            "events": {"m.room.power_levels": 100},
        },
    )
    steps = adopt.instructions(live, ME, adopt.assess(live, ME), {ME, "@gerrit:opendev.org"})
    assert steps[0] == f"one of the room's admins ({ADMIN}) must type in the room (Element's commands):"
    assert steps[1:3] == [f"  /invite {ME}", f"  /op {ME} 100"]
    assert "roomsync adopt" in steps[3] and "accepts the invite" in steps[3]
    invited = adopt.Assessment(True, "invite", 0)
    assert f"  /invite {ME}" not in adopt.instructions(live, ME, invited, {ME})
    banned = adopt.Assessment(True, "ban", 0)
    assert "/unban" in adopt.instructions(live, ME, banned, {ME})[0]


def test_room_admins_are_those_who_can_invite_and_change_power():
    live = room(
        "12",
        ADMIN,
        power_levels={
            "users": {BOB: 100, "@carol:opendev.org": 50},
            "invite": 0,
            "events": {"m.room.power_levels": 100},
        },
    )
    assert adopt.room_admins(live, {ME}) == [ADMIN, BOB]


def test_outcome_lines_and_summary():
    outcomes = [
        adopt.Outcome("#a:opendev.org", "!a", adopt.ADOPTED, "joined, power 100"),
        adopt.Outcome("#b:opendev.org", "!b", adopt.MANAGED, "joined, power 100"),
        adopt.Outcome("#c:opendev.org", "!c", adopt.NOT_ADOPTED, "why", ["step"]),
        adopt.Outcome("#d:opendev.org", None, adopt.MISSING, "roomsync sync creates it"),
    ]
    assert outcomes[0].lines() == ["#a:opendev.org (!a): adopted: joined, power 100"]
    assert outcomes[2].lines() == ["#c:opendev.org (!c): not adopted: why", "    step"]
    assert adopt.summary(outcomes) == (
        "Adopt: 1 adopted, 1 already managed, 1 not adopted. 1 declared room does not exist yet."
    )
