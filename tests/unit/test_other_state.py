"""`state:`: what validate refuses (each type a field manages, duplicates, content that is not
JSON or too big) and what the planner makes of the declared events."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from roomsync import otherstate
from roomsync.actions import CreateRoom, PutState
from roomsync.config import load_config
from roomsync.errors import ConfigError
from tests.unit.planning import plan_room, room, spec


def problems_of(tmp_path: Path, entries: list) -> list[str]:
    (tmp_path / "rooms").mkdir(parents=True, exist_ok=True)
    (tmp_path / "roomsync.yaml").write_text("server_name: opendev.org\n")
    (tmp_path / "rooms" / "a.yaml").write_text(yaml.safe_dump({"rooms": [{"alias": "zuul", "state": entries}]}))
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    return [p.message for p in caught.value.problems]


@pytest.mark.parametrize("event_type", sorted(otherstate.OWN_FIELDS))
def test_each_type_a_field_manages_is_refused_naming_the_field(tmp_path: Path, event_type: str) -> None:
    assert problems_of(tmp_path, [{"type": event_type, "content": {}}]) == [
        f"state: {event_type} is managed through {otherstate.OWN_FIELDS[event_type]}; use that"
    ]


def test_the_same_event_twice_is_refused(tmp_path: Path) -> None:
    entries = [
        {"type": "m.room.retention", "content": {"max_lifetime": 1}},
        {"type": "m.room.retention", "state_key": "", "content": None},
        {"type": "im.vector.modular.widgets", "state_key": "a", "content": {}},
        {"type": "im.vector.modular.widgets", "state_key": "b", "content": {}},
    ]
    assert problems_of(tmp_path, entries) == ["state: m.room.retention is already listed (entry 1)"]


def test_content_must_be_json_and_fit_in_an_event(tmp_path: Path) -> None:
    (tmp_path / "rooms").mkdir()
    (tmp_path / "roomsync.yaml").write_text("server_name: opendev.org\n")
    (tmp_path / "rooms" / "a.yaml").write_text(
        "rooms:\n  - alias: zuul\n    state:\n      - type: org.example.when\n        content: {at: 2026-12-07}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    [problem] = caught.value.problems
    assert str(problem).endswith("a.yaml:5:18: state: content must be plain JSON (quote dates and times)")
    big = {"type": "org.example.big", "content": {"text": "x" * (otherstate.MAX_EVENT_BYTES + 1)}}
    assert problems_of(tmp_path / "big", [big])[0].startswith("state: content is 60,013 bytes; at most 60,000")


def test_a_new_room_gets_its_declared_state_in_its_initial_state() -> None:
    plan = plan_room(spec("dev", state=[{"type": "m.room.retention", "content": {"max_lifetime": 5}}]))
    create = plan.actions[0]
    assert isinstance(create, CreateRoom)
    assert {"type": "m.room.retention", "state_key": "", "content": {"max_lifetime": 5}} in create.body["initial_state"]
    assert [(c.before, c.after) for c in plan.changes if c.field == "state.m.room.retention"] == [
        (None, {"max_lifetime": 5})
    ]


def test_an_existing_room_is_changed_only_where_it_differs_and_null_removes() -> None:
    live = room(
        state={"m.room.retention": {"max_lifetime": 1}, "org.example.gone": {"x": 1}, "org.example.same": {"y": 2}}
    )
    declared = [
        {"type": "m.room.retention", "content": {"max_lifetime": 5}},
        {"type": "org.example.gone", "content": None},
        {"type": "org.example.same", "content": {"y": 2}},
        {"type": "org.example.absent", "content": None},
    ]
    plan = plan_room(spec("dev", state=declared), live)
    puts = [a for a in plan.actions if isinstance(a, PutState)]
    assert puts == [
        PutState("m.room.retention", "", {"max_lifetime": 5}),
        PutState("org.example.gone", "", {}),
    ]
    assert {c.field: (c.before, c.after) for c in plan.changes} == {
        "state.m.room.retention": ({"max_lifetime": 1}, {"max_lifetime": 5}),
        "state.org.example.gone": ({"x": 1}, None),
    }
