"""Power-level rules: who may do what, checked before anything is sent."""

from __future__ import annotations

import math

from roomsync import power

from .planning import ADMIN, BOB, CAROL, ME, room

# --- user_level ------------------------------------------------------------------------------


def test_v12_creator_is_unlimited():
    assert power.user_level(room("12", creator=ME), ME) == math.inf == power.UNLIMITED


def test_hydra_creator_is_unlimited():
    assert power.user_level(room("org.matrix.hydra.11", creator=ME), ME) == power.UNLIMITED


def test_v12_additional_creator_is_unlimited():
    live = room("12", creator=ADMIN, additional_creators=[ME])
    assert power.user_level(live, ME) == power.UNLIMITED


def test_v12_non_creator_uses_users():
    live = room("12", creator=ADMIN, power_levels={"users": {ME: 75}})
    assert power.user_level(live, ME) == 75


def test_older_version_creator_is_not_unlimited():
    live = room("10", creator=ME, power_levels={"users": {ME: 50}})
    assert power.user_level(live, ME) == 50


def test_unlisted_user_gets_users_default():
    live = room("10", creator=ADMIN, power_levels={"users": {ADMIN: 100}, "users_default": 10})
    assert power.user_level(live, BOB) == 10


def test_unlisted_user_without_users_default_is_zero():
    assert power.user_level(room("10", creator=ADMIN, power_levels={"users": {ADMIN: 100}}), BOB) == 0


def test_without_power_levels_the_creator_has_100():
    live = room("10", creator=ME, power_levels={})
    assert live.power_levels is None
    assert power.user_level(live, ME) == 100
    assert power.user_level(live, BOB) == 0


# --- state_level -----------------------------------------------------------------------------


def test_state_level_uses_the_events_entry():
    live = room(power_levels={"users": {}, "events": {"m.room.name": 75}, "state_default": 20})
    assert power.state_level(live, "m.room.name") == 75


def test_state_level_falls_back_to_state_default():
    live = room(power_levels={"users": {}, "events": {"m.room.name": 75}, "state_default": 20})
    assert power.state_level(live, "m.room.topic") == 20


def test_state_default_defaults_to_50():
    assert power.state_level(room(power_levels={"users": {}}), "m.room.topic") == 50


def test_state_level_without_power_levels_is_zero():
    assert power.state_level(room(power_levels={}), "m.room.topic") == 0


# --- power_change_problems -------------------------------------------------------------------

OLD = {
    "users": {ADMIN: 100, ME: 50, BOB: 50, CAROL: 10},
    "ban": 50,
    "kick": 75,
    "events": {"m.room.name": 50, "m.room.tombstone": 100},
    "notifications": {"room": 50},
}


def older_room():
    return room("10", creator=ADMIN, power_levels=OLD)


def with_(**changes):
    new = {**OLD, **changes}
    return new


def test_unchanged_power_levels_have_no_problems():
    assert power.power_change_problems(older_room(), ME, OLD) == []


def test_giving_a_user_more_than_own_level_is_a_problem():
    problems = power.power_change_problems(older_room(), ME, with_(users={**OLD["users"], CAROL: 60}))
    assert len(problems) == 1 and CAROL in problems[0]


def test_giving_a_user_up_to_own_level_is_fine():
    assert power.power_change_problems(older_room(), ME, with_(users={**OLD["users"], CAROL: 50})) == []


def test_changing_a_user_at_own_level_is_a_problem():
    problems = power.power_change_problems(older_room(), ME, with_(users={**OLD["users"], BOB: 0}))
    assert len(problems) == 1 and BOB in problems[0]


def test_removing_a_user_at_own_level_is_a_problem():
    users = {u: level for u, level in OLD["users"].items() if u != BOB}
    problems = power.power_change_problems(older_room(), ME, with_(users=users))
    assert len(problems) == 1 and BOB in problems[0]


def test_removing_a_user_below_own_level_is_fine():
    users = {u: level for u, level in OLD["users"].items() if u != CAROL}
    assert power.power_change_problems(older_room(), ME, with_(users=users)) == []


def test_lowering_own_level_is_allowed_by_the_rules():
    assert power.power_change_problems(older_room(), ME, with_(users={**OLD["users"], ME: 10})) == []


def test_changing_a_scalar_above_own_level_is_a_problem():
    problems = power.power_change_problems(older_room(), ME, with_(kick=50))
    assert len(problems) == 1 and "kick" in problems[0]


def test_raising_a_scalar_above_own_level_is_a_problem():
    problems = power.power_change_problems(older_room(), ME, with_(ban=60))
    assert len(problems) == 1 and "ban" in problems[0]


def test_changing_a_scalar_within_own_level_is_fine():
    assert power.power_change_problems(older_room(), ME, with_(ban=20, invite=50)) == []


def test_changing_an_event_level_above_own_level_is_a_problem():
    events = {**OLD["events"], "m.room.tombstone": 50}
    problems = power.power_change_problems(older_room(), ME, with_(events=events))
    assert len(problems) == 1 and "m.room.tombstone" in problems[0]


def test_adding_an_event_level_within_own_level_is_fine():
    events = {**OLD["events"], "m.room.topic": 50}
    assert power.power_change_problems(older_room(), ME, with_(events=events)) == []


def test_raising_notifications_above_own_level_is_a_problem():
    problems = power.power_change_problems(older_room(), ME, with_(notifications={"room": 60}))
    assert len(problems) == 1 and "notifications.room" in problems[0]


def test_unlimited_creator_may_change_anything():
    live = room("12", creator=ME, power_levels={"users": {BOB: 1000}, "ban": 1000, "events": {"x": 1000}})
    new = {"users": {CAROL: 5000}, "ban": 9000, "events": {"x": 0}}
    assert power.power_change_problems(live, ME, new) == []


# --- comparing power levels as JSON ------------------------------------------------------------


def test_json_equal_tells_true_from_one_and_one_from_one_point_zero():
    from roomsync.plan.power_levels import json_equal, mapping_changes

    levels = {"users": {ME: 100, BOB: 50}, "events": {"m.room.name": 50}, "ban": 50, "list": [1, 2]}
    assert json_equal(levels, {"ban": 50, "list": [1, 2], "events": {"m.room.name": 50}, "users": {BOB: 50, ME: 100}})
    for other in (
        {**levels, "ban": 50.0},
        {**levels, "users": {ME: True, BOB: 50}},
        {**levels, "list": [1, 2, 3]},
        {**levels, "list": (1, 2)},
        {**levels, "events": {}},
    ):
        assert not json_equal(levels, other), other
    # Python says True == 1; Matrix does not: the plan shows the change.
    changes = mapping_changes("power_levels", {"users": {BOB: 1}}, {"users": {BOB: True}})
    assert [(c.field, c.before, c.after) for c in changes] == [(f"power_levels.users.{BOB}", 1, True)]
