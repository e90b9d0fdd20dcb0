"""What a plan says and counts: bots' memberships, missing bot tokens, --room selections,
links to rooms the reader cannot see, and the summary in text, JSON and Markdown."""

from __future__ import annotations

import dataclasses
import json

from roomsync import render
from roomsync.actions import Invite, JoinAs, PutState
from roomsync.live import Unreadable
from roomsync.model import BotSpec
from roomsync.plan import make_plan

from .planning import ME, alias, config, event, parse_room, room, snapshot, spec

GERRIT = BotSpec("gerritbot", "@gerrit:opendev.org", ("dev",), token_env="GERRITBOT_TOKEN")
STATUS = BotSpec("statusbot", "@status:opendev.org", ("*",))
SPACE_ID, DEV_ID, OTHER_ID = "!space:opendev.org", "!dev:opendev.org", "!other:opendev.org"


DEV_ONLY = (spec("dev"),)


def with_bots(*bots: BotSpec, specs=DEV_ONLY):
    return dataclasses.replace(config(*specs), bots=bots)


def member_changes(room_plan):
    return [c for c in room_plan.changes if c.field.startswith("member.")]


# --- bots: one line per membership, a missing token said in plan ------------------------------


def test_a_bot_with_a_token_is_one_change_invite_and_join():
    plan = make_plan(with_bots(GERRIT), snapshot({"dev": room()}), tokens={"GERRITBOT_TOKEN"})
    (room_plan,) = plan.rooms
    assert [(c.field, c.before, c.after) for c in member_changes(room_plan)] == [
        ("member.@gerrit:opendev.org", None, "join")
    ]
    assert [type(a) for a in room_plan.actions if isinstance(a, (Invite, JoinAs))] == [Invite, JoinAs]
    assert room_plan.notes == ()


def test_a_bot_already_invited_is_only_joined():
    live = parse_room(
        DEV_ID, [*_events(room()), event("m.room.member", {"membership": "invite"}, state_key=GERRIT.user)]
    )
    plan = make_plan(with_bots(GERRIT), snapshot({"dev": live}), tokens={"GERRITBOT_TOKEN"})
    (room_plan,) = plan.rooms
    assert [(c.before, c.after) for c in member_changes(room_plan)] == [("invite", "join")]
    assert not any(isinstance(a, Invite) for a in room_plan.actions)


def test_a_missing_bot_token_is_a_note_in_plan():
    plan = make_plan(with_bots(GERRIT), snapshot({"dev": room()}), tokens=set())
    (room_plan,) = plan.rooms
    assert any("GERRITBOT_TOKEN is not set" in note and GERRIT.user in note for note in room_plan.notes)
    assert "GERRITBOT_TOKEN is not set" in render.plan_text(plan)
    assert not room_plan.errors


def test_a_bot_being_created_with_a_missing_token_is_a_note_too():
    plan = make_plan(with_bots(GERRIT), snapshot({}), tokens=set())
    assert any("GERRITBOT_TOKEN is not set" in note for note in plan.rooms[0].notes)


def test_profile_notes_of_several_bots_are_one_line():
    bots = tuple(BotSpec(f"bot{i}", f"@bot{i}:opendev.org", ("dev",), display_name=f"Bot {i}") for i in range(4))
    plan = make_plan(with_bots(*bots), snapshot({"dev": room()}))
    notes = [line for line in render.plan_text(plan).splitlines() if "profile differs" in line]
    assert notes == [
        "  bots bot0, bot1, bot2, bot3: the profile differs from bots.yaml, but without "
        "token_env roomsync cannot set it"
    ]


# --- summary: rooms, bots and .well-known each counted in their own place ---------------------


def test_a_bot_only_room_is_not_counted_as_a_room_change():
    plan = make_plan(with_bots(STATUS), snapshot({"dev": room()}))
    assert plan.rooms[0].status == "ok" and plan.has_changes
    assert render.summary(plan) == "Plan: 0 to create, 0 to change. 1 bot change."
    summary = json.loads(render.plan_json(plan))["summary"]
    assert (summary["change"], summary["unchanged"], summary["bot_changes"]) == (0, 1, 1)
    assert "**Plan: 0 to create, 0 to change. 1 bot change.**" in render.plan_markdown(plan)


def test_a_room_with_both_kinds_counts_once_in_each():
    live = room(state={"m.room.topic": {"topic": "old"}})
    plan = make_plan(with_bots(STATUS, specs=(spec("dev", topic="new"),)), snapshot({"dev": live}))
    assert render.summary(plan) == "Plan: 0 to create, 1 to change. 1 bot change."


def test_markdown_and_text_say_removed_alike():
    live = room(power_levels={"users": {"@carol:opendev.org": 10}, "state_default": 50})
    plan = make_plan(config(spec("dev", power_levels={"users": {}})), snapshot({"dev": live}))
    assert "power_levels.users.@carol:opendev.org: 10 -> (removed)" in render.plan_text(plan)
    markdown = render.plan_markdown(plan)
    assert "`power_levels.users.@carol:opendev.org`: 10 → (removed)" in markdown
    assert "(none)" not in markdown


# --- what the reader cannot see is never a change --------------------------------------------


def _events(live):
    return [{"type": t, "state_key": k, "sender": ME, "content": dict(c)} for (t, k), c in live.state.items()]


def test_a_link_to_a_space_the_reader_cannot_read_is_not_a_change():
    child = parse_room(
        DEV_ID,
        [
            *_events(room(room_id=DEV_ID)),
            event("m.space.parent", {"via": ["opendev.org"], "canonical": True}, state_key=SPACE_ID),
        ],
    )
    specs = (spec("community", type="space"), spec("dev", spaces=["community"]))
    rooms = {"community": Unreadable(SPACE_ID, "not joined"), "dev": child}
    plan = make_plan(config(*specs), snapshot(rooms, {alias("community"): SPACE_ID, alias("dev"): DEV_ID}))
    community, dev = plan.rooms
    assert community.status == "error"
    assert dev.changes == () and dev.status == "ok", dev


def test_a_restricted_allow_naming_an_unreadable_space_is_not_a_change():
    content = {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": SPACE_ID}]}
    child = parse_room(
        DEV_ID,
        [
            *_events(room(room_id=DEV_ID, state={"m.room.join_rules": content})),
            event("m.space.parent", {"via": ["opendev.org"], "canonical": True}, state_key=SPACE_ID),
        ],
    )
    specs = (spec("community", type="space"), spec("dev", join_rule="restricted", spaces=["community"]))
    rooms = {"community": Unreadable(SPACE_ID, "not joined"), "dev": child}
    plan = make_plan(config(*specs), snapshot(rooms, {alias("community"): SPACE_ID, alias("dev"): DEV_ID}))
    assert plan.rooms[1].changes == ()


# --- --room: only the selected rooms, and the links they need --------------------------------


def _space_world():
    space = room("12", room_id=SPACE_ID, canonical=alias("community"))
    space = dataclasses.replace(
        space, state={**space.state, ("m.room.create", ""): {"room_version": "12", "type": "m.space"}}
    )
    specs = (
        spec("community", type="space", topic="all of us"),
        spec("dev", spaces=["community"]),
        spec("other", spaces=["community"], topic="new"),
    )
    rooms = {
        "community": space,
        "dev": room(room_id=DEV_ID, canonical=alias("dev")),
        "other": room(room_id=OTHER_ID, canonical=alias("other")),
    }
    return config(*specs), snapshot(rooms)


def test_room_selection_plans_the_room_and_its_links_only():
    cfg, snap = _space_world()
    plan = make_plan(cfg, snap, rooms_selected={"dev"})
    by_alias = {r.alias: r for r in plan.rooms}
    assert set(by_alias) == {alias("community"), alias("dev")}
    # The space gets only the child link to dev: not its topic, not the link to other.
    assert [(c.field, c.after) for c in by_alias[alias("community")].changes] == [("space.child", alias("dev"))]
    assert [c.field for c in by_alias[alias("dev")].changes] == ["space.parent"]
    assert all(isinstance(a, PutState) for a in by_alias[alias("community")].actions)


def test_without_a_selection_everything_is_planned():
    cfg, snap = _space_world()
    plan = make_plan(cfg, snap)
    community = next(r for r in plan.rooms if r.alias == alias("community"))
    assert {c.field for c in community.changes} == {"topic", "space.child"}
    assert len([c for c in community.changes if c.field == "space.child"]) == 2


def test_links_to_rooms_this_run_does_not_create_wait_for_them():
    cfg, _ = _space_world()
    plan = make_plan(cfg, snapshot({}), rooms_selected={"dev"})
    (dev,) = plan.rooms
    assert dev.status == "create" and not any(c.field == "space.parent" for c in dev.changes)
    assert any("waits until that room exists" in note and alias("community") in note for note in dev.notes)
    both = make_plan(cfg, snapshot({}), rooms_selected={"dev", "community"})
    assert [r.status for r in both.rooms] == ["create", "create"]
    community = both.rooms[0]
    assert [c.after for c in community.changes if c.field == "space.child"] == [alias("dev")]


def test_a_restricted_room_naming_a_space_this_run_does_not_create_is_an_error():
    cfg = config(spec("community", type="space"), spec("dev", join_rule="restricted", spaces=["community"]))
    (dev,) = make_plan(cfg, snapshot({}), rooms_selected={"dev"}).rooms
    assert dev.status == "error"
    assert any("--room" in e and alias("community") in e for e in dev.errors), dev.errors
