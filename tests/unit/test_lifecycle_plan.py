"""The planner's side of the lifecycle: upgrades, retirement, renames, links from before an
upgrade, and alias moves, against hand-built live rooms."""

from __future__ import annotations

import dataclasses

from roomsync.actions import DeleteAlias, Kick, PutAlias, PutState, RoomRef, SetDirectory, Upgrade
from roomsync.model import BotSpec
from roomsync.plan import make_plan

from .planning import ADMIN, ME, alias, config, event, parse_room, room, snapshot, spec

OFFERED = frozenset({"1", "6", "9", "10", "11", "12"})
OLD, NEW, SPACE = "!old:opendev.org", "!new:opendev.org", "!space:opendev.org"


def plan_of(*specs, rooms, owners=None, **snapshot_fields):
    snap = dataclasses.replace(snapshot(rooms, owners), **snapshot_fields)
    return make_plan(config(*specs), snap)


def with_events(live, *extra):
    events = [{"type": t, "state_key": k, "sender": ME, "content": dict(c)} for (t, k), c in live.state.items()]
    return parse_room(live.room_id, events + list(extra), published=live.published)


# --- upgrades ----------------------------------------------------------------------------------


def test_a_newer_declared_version_is_an_upgrade_and_nothing_else_is_sent_before_it():
    live = room("10", state={"m.room.topic": {"topic": "old"}})
    (rp,) = plan_of(spec("dev", room_version="12", topic="new"), rooms={"dev": live}, room_versions=OFFERED).rooms
    assert rp.status == "upgrade" and rp.upgrade == Upgrade("12")
    assert rp.actions == (Upgrade("12"),), "the rest is planned again against the new room"
    assert {c.field for c in rp.changes} == {"room_version", "topic"}  # shown as it compares today
    assert any("after the upgrade" in note for note in rp.notes)


def test_an_upgrade_counts_as_a_removal():
    plan = plan_of(spec("dev", room_version="12"), rooms={"dev": room("10")}, room_versions=OFFERED)
    assert plan.removals == 1


def test_an_older_declared_version_is_an_error():
    (rp,) = plan_of(spec("dev", room_version="10"), rooms={"dev": room("12")}, room_versions=OFFERED).rooms
    assert rp.status == "error" and "never downgraded" in rp.errors[0]


def test_a_version_the_server_does_not_offer_is_an_error():
    (rp,) = plan_of(spec("dev", room_version="13"), rooms={"dev": room("12")}, room_versions=OFFERED).rooms
    assert rp.status == "error" and "not offered" in rp.errors[0]


def test_an_unstable_version_that_cannot_be_compared_is_an_error():
    (rp,) = plan_of(
        spec("dev", room_version="org.matrix.hydra.11"),
        rooms={"dev": room("10")},
        room_versions=OFFERED | {"org.matrix.hydra.11"},
    ).rooms
    assert rp.status == "error" and "cannot tell" in rp.errors[0]


def test_an_upgrade_needs_the_power_to_send_the_tombstone():
    live = room("10", creator=ADMIN, power_levels={"users": {ADMIN: 100, ME: 50}, "events": {"m.room.tombstone": 100}})
    (rp,) = plan_of(spec("dev", room_version="12"), rooms={"dev": live}, room_versions=OFFERED).rooms
    assert rp.status == "error" and any("m.room.tombstone" in e for e in rp.errors)


def test_links_that_name_a_room_from_before_its_upgrade_are_repointed_not_removed():
    hub = with_events(
        room("12", room_id=SPACE, canonical=alias("hub")),
        event("m.space.child", {"via": ["opendev.org"]}, state_key=OLD),
    )
    hub = dataclasses.replace(
        hub, state={**hub.state, ("m.room.create", ""): {"room_version": "12", "type": "m.space"}}
    )
    new = with_events(
        room("12", room_id=NEW, canonical=alias("dev")),
        event("m.room.create", {"room_version": "12", "predecessor": {"room_id": OLD}}),
        event("dev.roomsync.managed", {"alias": alias("dev")}),
        event("m.space.parent", {"via": ["opendev.org"], "canonical": True}, state_key=SPACE),
    )
    plan = plan_of(spec("hub", type="space"), spec("dev", spaces=["hub"]), rooms={"hub": hub, "dev": new})
    hub_plan, dev_plan = plan.rooms
    (change,) = hub_plan.changes
    assert change.field == "space.child" and change.after == alias("dev") and OLD in change.before
    assert [a.state_key for a in hub_plan.actions] == [OLD, RoomRef(alias("dev"))]
    assert hub_plan.actions[0].content == {}
    assert dev_plan.changes == ()
    assert plan.removals == 0, "repointing a link is not a removal"


def test_an_upgraded_room_gets_roomsyncs_marker():
    new = with_events(
        room("12", room_id=NEW, canonical=alias("dev")),
        event("m.room.create", {"room_version": "12", "predecessor": {"room_id": OLD}}),
    )
    (rp,) = plan_of(spec("dev"), rooms={"dev": new}).rooms
    assert [(c.field, c.after) for c in rp.changes] == [("marker", alias("dev"))]
    assert PutState("dev.roomsync.managed", "", {"alias": alias("dev")}) in rp.actions


# --- retirement ----------------------------------------------------------------------------------


def test_retiring_leaves_the_directory_tombstones_and_bots_leave():
    bot = BotSpec("statusbot", "@status:opendev.org", ("*",), power_level=50)
    old = with_events(
        room("12", room_id=OLD, canonical=alias("old"), published=True),
        event("m.room.member", {"membership": "join"}, state_key=bot.user),
    )
    successor = room("12", room_id=NEW, canonical=alias("new"))
    snap = snapshot({"old": old, "new": successor})
    cfg = dataclasses.replace(config(spec("old", retired=True, successor="new"), spec("new")), bots=(bot,))
    retiring = make_plan(cfg, snap).rooms[0]
    assert retiring.status == "retire" and retiring.retired
    assert SetDirectory("private") in retiring.actions
    tombstone = next(a for a in retiring.actions if isinstance(a, PutState) and a.event_type == "m.room.tombstone")
    assert tombstone.content["replacement_room"] == RoomRef(alias("new"))
    assert alias("new") in tombstone.content["body"]
    assert Kick(bot.user) in retiring.actions


def test_a_retired_room_already_retired_is_ok():
    old = with_events(
        room("12", room_id=OLD, canonical=alias("old"), published=False),
        event("m.room.tombstone", {"body": "moved", "replacement_room": NEW}),
    )
    plan = plan_of(
        spec("old", retired=True, successor="new"),
        spec("new"),
        rooms={"old": old, "new": room("12", room_id=NEW, canonical=alias("new"))},
    )
    assert plan.rooms[0].status == "ok" and not plan.rooms[0].actions


def test_a_retired_room_that_does_not_exist_is_a_note_never_created():
    (rp,) = plan_of(spec("old", retired=True), rooms={}).rooms
    assert rp.status == "ok" and not rp.actions and "never created" in rp.notes[0]


def test_the_successor_may_take_an_alias_from_the_room_it_replaces():
    old = room("12", room_id=OLD, canonical=alias("old"), alt_aliases=[alias("old-alt")])
    new = room("12", room_id=NEW, canonical=alias("new"))
    owners = {alias("old"): OLD, alias("old-alt"): OLD, alias("new"): NEW}
    plan = plan_of(
        spec("old", retired=True, successor="new"),
        spec("new", alt_aliases=["old-alt"]),
        rooms={"old": old, "new": new},
        owners=owners,
    )
    successor = plan.rooms[1]
    assert not successor.errors
    assert successor.actions[:2] == (DeleteAlias(alias("old-alt")), PutAlias(alias("old-alt")))
    # Anyone else's alias is still never moved.
    other = plan_of(
        spec("old"), spec("new", alt_aliases=["old-alt"]), rooms={"old": old, "new": new}, owners=owners
    ).rooms[1]
    assert other.status == "error" and "already points at another room" in other.errors[0]


# --- renames ---------------------------------------------------------------------------------------


def test_a_room_found_by_its_former_alias_is_renamed_in_place():
    live = room("12", room_id=OLD, canonical=alias("infra"))
    (rp,) = plan_of(spec("opendev", formerly=["infra"]), rooms={"opendev": live}, owners={alias("infra"): OLD}).rooms
    assert rp.status == "change"
    # The old alias's deletion is shown and counted: links to it stop working.
    assert [(c.field, c.before, c.after) for c in rp.changes] == [
        ("formerly", alias("infra"), None),
        ("alias", alias("infra"), alias("opendev")),
    ]
    assert [c.is_removal for c in rp.changes] == [True, False]
    assert any("renamed to #opendev" in n for n in rp.notes)
    assert rp.actions == (
        PutAlias(alias("opendev")),
        DeleteAlias(alias("infra")),
        PutState("m.room.canonical_alias", "", {"alias": alias("opendev")}),
    )


def test_a_rename_that_keeps_the_old_alias_lists_it():
    live = room("12", room_id=OLD, canonical=alias("infra"))
    (rp,) = plan_of(
        spec("opendev", formerly=["infra"], alt_aliases=["infra"]),
        rooms={"opendev": live},
        owners={alias("infra"): OLD},
    ).rooms
    assert DeleteAlias(alias("infra")) not in rp.actions
    assert not any(c.is_removal for c in rp.changes)
    assert (
        PutState("m.room.canonical_alias", "", {"alias": alias("opendev"), "alt_aliases": [alias("infra")]})
        in rp.actions
    )
