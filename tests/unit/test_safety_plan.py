"""Safety rails in the planner: removals counted, admin floor, no self-lockout, nothing abandoned."""

from __future__ import annotations

import dataclasses

from roomsync import render
from roomsync.plan import make_plan
from tests.unit.planning import ADMIN, BOB, CAROL, ME, alias, config, room, snapshot, spec


def test_removals_count_dropped_users_and_aliases():
    live = room("10", power_levels={"users": {ME: 100, BOB: 50, CAROL: 50}}, alt_aliases=[alias("old")])
    plan = make_plan(config(spec("dev", power_levels={"users": {}}, alt_aliases=[])), snapshot({"dev": live}))
    assert plan.removals == 3  # bob, carol, #old
    assert "Removals: 3 (sync allows 10 without --allow-removals)" in render.plan_text(plan)


def test_additions_are_not_removals():
    live = room("10", power_levels={"users": {ME: 100}})
    plan = make_plan(config(spec("dev", power_levels={"users": {BOB: 50}})), snapshot({"dev": live}))
    assert plan.removals == 0 and plan.has_changes


def test_min_admins_refuses_a_room_left_without_people_at_100():
    cfg = dataclasses.replace(config(spec("dev", power_levels={"users": {BOB: 50}})), min_admins=1)
    live = room("10", power_levels={"users": {ME: 100, ADMIN: 100}})
    rp = make_plan(cfg, snapshot({"dev": live})).rooms[0]
    assert rp.status == "error" and any("min_admins is 1" in e for e in rp.errors)


def test_min_admins_counts_people_not_roomsync():
    cfg = dataclasses.replace(config(spec("dev", power_levels={"users": {BOB: 100}})), min_admins=1)
    assert make_plan(cfg, snapshot({"dev": room("10", power_levels={"users": {ME: 100}})})).rooms[0].errors == ()
    cfg = dataclasses.replace(config(spec("new", power_levels={"users": {ME: 100}})), min_admins=1)
    created = make_plan(cfg, snapshot()).rooms[0]
    assert created.status == "error", "the account itself does not count"


def test_min_admins_off_by_default():
    assert make_plan(config(spec("new", power_levels={"users": {}})), snapshot()).rooms[0].errors == ()


def test_creating_an_old_version_room_that_would_lock_the_creator_out_is_refused():
    rp = make_plan(config(spec("new", room_version="10", power_levels={"state_default": 150})), snapshot()).rooms[0]
    assert rp.status == "error" and any("lock itself out" in e for e in rp.errors)
    ok = make_plan(config(spec("new", power_levels={"state_default": 150})), snapshot()).rooms[0]
    assert ok.errors == (), "a v12 creator has unlimited power"


def test_raising_state_default_above_own_level_is_refused():
    live = room("10", power_levels={"users": {ME: 100}, "state_default": 50})
    rp = make_plan(config(spec("dev", power_levels={"state_default": 150})), snapshot({"dev": live})).rooms[0]
    assert rp.status == "error" and any("needs power 150" in e for e in rp.errors)


def test_rooms_roomsync_created_but_no_longer_declares_are_warned_about_not_touched():
    snap = dataclasses.replace(snapshot(), managed_rooms=(("#gone:opendev.org", "!gone"),))
    plan = make_plan(config(), snap)
    assert any("#gone:opendev.org (!gone)" in w and "left alone" in w for w in plan.warnings)
    assert not plan.has_changes
