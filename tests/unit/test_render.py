"""Plans as text for reviewers and JSON for machines."""

from __future__ import annotations

import json

from roomsync import render
from roomsync.live import Unreadable
from roomsync.plan import Change, Plan, RoomPlan

from .planning import BOB, ME, alias, room, spec, whole_plan


def mixed_plan() -> Plan:
    return whole_plan(
        (spec("new", name="Nouvelle salle ✓", topic="T"), None),
        (
            spec("old", name="New", power_levels={"users": {BOB: 50}}),
            room(
                room_id="!old:opendev.org",
                canonical=alias("old"),
                state={"m.room.name": {"name": "Old"}},
                power_levels={"users": {"@carol:opendev.org": 10}},
            ),
        ),
        (
            spec("same", name="S"),
            room(room_id="!same:opendev.org", canonical=alias("same"), state={"m.room.name": {"name": "S"}}),
        ),
    )


def ok_plan() -> Plan:
    return whole_plan((spec("same", name="S"), room(canonical=alias("same"), state={"m.room.name": {"name": "S"}})))


# --- text ------------------------------------------------------------------------------------


def test_text_summary_counts_creates_and_changes():
    assert "Plan: 1 to create, 1 to change." in render.plan_text(mixed_plan())


def test_text_has_one_line_per_change():
    plan = mixed_plan()
    text = render.plan_text(plan)
    for room_plan in plan.rooms:
        for change in room_plan.changes:
            prefix = f"    {change.field}: "
            assert sum(line.startswith(prefix) for line in text.splitlines()) >= 1, change
    change_lines = [line for line in text.splitlines() if line.startswith("    ") and "error:" not in line]
    assert len(change_lines) == sum(len(r.changes) for r in plan.rooms)


def test_text_headings_by_status():
    text = render.plan_text(mixed_plan())
    assert f"+ {alias('new')} will be created" in text
    assert f"~ {alias('old')} (!old:opendev.org) will be changed" in text
    assert alias("same") not in text


def test_text_change_lines_show_before_and_after():
    text = render.plan_text(mixed_plan())
    assert '    name: "Old" -> "New"' in text
    assert f"    power_levels.users.{BOB}: (none) -> 50" in text
    assert "    power_levels.users.@carol:opendev.org: 10 -> (removed)" in text


def test_text_create_lines_show_the_new_value():
    assert '    name: "Nouvelle salle ✓"' in render.plan_text(mixed_plan())


def test_text_without_changes_says_so():
    text = render.plan_text(ok_plan())
    assert "No changes" in text
    assert "Plan:" not in text


def test_text_names_server_and_account():
    assert render.plan_text(ok_plan()).startswith(f"roomsync plan for opendev.org, acting as {ME}")


def test_text_shows_errors():
    plan = whole_plan((spec("bad", name="B"), Unreadable("!bad:opendev.org", "not joined there")))
    text = render.plan_text(plan)
    assert f"! {alias('bad')} (!bad:opendev.org) cannot be synced" in text
    assert "    error: not joined there" in text
    assert "1 room has errors." in text
    assert "No changes" not in text


def test_text_change_line_per_change_for_hand_built_plan():
    rp = RoomPlan(
        alias("x"), "!x:opendev.org", changes=(Change("topic", "a", "b"), Change("name", None, "n")), actions=("fake",)
    )  # type: ignore[arg-type]
    lines = render.plan_text(Plan("opendev.org", ME, (rp,))).splitlines()
    assert '    topic: "a" -> "b"' in lines
    assert '    name: (none) -> "n"' in lines


# --- JSON ------------------------------------------------------------------------------------


def test_json_round_trips():
    document = json.loads(render.plan_json(mixed_plan()))
    assert isinstance(document, dict)


def test_json_format_version_is_1():
    assert json.loads(render.plan_json(mixed_plan()))["format_version"] == 1


def test_json_has_one_entry_per_change():
    plan = mixed_plan()
    document = json.loads(render.plan_json(plan))
    expected = [
        {"room_alias": r.alias, "room_id": r.room_id, "field": c.field, "before": c.before, "after": c.after}
        for r in plan.rooms
        for c in r.changes
    ]
    got = [
        {k: entry[k] for k in ("room_alias", "room_id", "field", "before", "after")} for entry in document["changes"]
    ]
    assert got == expected


def test_json_change_entry_for_a_create():
    document = json.loads(render.plan_json(mixed_plan()))
    entry = next(e for e in document["changes"] if e["room_alias"] == alias("new") and e["field"] == "name")
    assert entry["room_id"] is None
    assert entry["before"] is None
    assert entry["after"] == "Nouvelle salle ✓"
    assert entry["action"] == "create"


def test_json_summary_counts():
    summary = json.loads(render.plan_json(mixed_plan()))["summary"]
    assert {k: summary[k] for k in ("create", "change", "unchanged", "errors", "has_changes")} == {
        "create": 1,
        "change": 1,
        "unchanged": 1,
        "errors": 0,
        "has_changes": True,
    }


def test_json_rooms_list_every_room_with_status():
    rooms = json.loads(render.plan_json(mixed_plan()))["rooms"]
    assert [(r["alias"], r["action"]) for r in rooms] == [
        (alias("new"), "create"),
        (alias("old"), "change"),
        (alias("same"), "ok"),
    ]


def test_json_without_changes():
    document = json.loads(render.plan_json(ok_plan()))
    assert document["changes"] == []
    assert document["summary"]["has_changes"] is False


def test_json_errors_are_listed():
    plan = whole_plan((spec("bad"), Unreadable("!bad:opendev.org", "not joined there")))
    document = json.loads(render.plan_json(plan))
    assert document["rooms"][0]["errors"] == ["not joined there"]
    assert document["summary"]["errors"] == 1


def test_the_header_names_the_homeserver_read_and_json_says_it_too():
    import dataclasses
    import json

    plan = dataclasses.replace(ok_plan(), homeserver="https://matrix.opendev.org")
    assert render.plan_text(plan).startswith(
        f"roomsync plan for opendev.org at https://matrix.opendev.org, acting as {ME}"
    )
    assert json.loads(render.plan_json(plan))["homeserver"] == "https://matrix.opendev.org"


def test_sync_counts_in_the_plans_words_and_its_columns_never_touch():
    from roomsync.apply import RoomResult

    results = [
        RoomResult("#a:opendev.org", "!a", "created"),
        RoomResult("#b:opendev.org", "!b", "upgraded"),
        RoomResult("#c:opendev.org", "!c", "retired"),
        RoomResult("#d:opendev.org", "!d", "changed", own=False, bot_changes=2),
        RoomResult("#e:opendev.org", "!e", "changed", bot_changes=1),
    ]
    text = render.results_text(results)
    assert text.splitlines()[-1] == "Sync: 1 created, 1 changed, 1 upgraded, 1 retired, 0 failed. 3 bot changes."
    for line in text.splitlines()[:-1]:
        word, rest = line.split(" ", 1)
        assert word in {"created", "upgraded", "retired", "changed"} and rest.lstrip().startswith("#"), line
