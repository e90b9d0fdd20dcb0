"""Property: any rooms a person makes by hand, imported, give a config that validates and plans clean.

Hypothesis draws 1-3 rooms (room version 10, 11 or 12, preset, name, topic, join rule, history
visibility, guest access, directory listing, encryption, an alt alias, power levels with users, events
and notifications, additional creators), sometimes a space holding some of them (both ends of each link,
with order and suggested; restricted rooms allowing the space), and a subset of OpenDev's defaults. Another
user makes them through raw HTTP (tests/synapse.py). roomsync then imports them, before or after adopting
them (both orders), through its Python API (fast); the file goes into rooms/, load_config must accept it
and the plan of the whole config must have no change and no error.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from roomsync.adopt import ADOPTED, MANAGED, adopt
from roomsync.client import Homeserver, ReadOnlyHomeserver
from roomsync.config import load_config
from roomsync.importer import config_defaults
from roomsync.importread import Selection, run_import
from roomsync.observe import read_snapshot
from roomsync.plan import make_plan
from tests.integration.helpers import put_state, state
from tests.synapse import q

SERVER = "opendev.org"
CLIENT = "/_matrix/client/v3"
COUNTER = itertools.count()
MODELINE = "# yaml-language-server: $schema=../schema/rooms.schema.json"
EXAMPLES = int(os.environ.get("ROOMSYNC_PROPERTY_EXAMPLES", "0")) or 15
LEVELS = st.sampled_from([0, 1, 10, 50, 75, 100])
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=20)
DEFAULTS = {
    "join_rule": "public",
    "history_visibility": "world_readable",
    "guest_access": "forbidden",
    "directory": "public",
    "encrypted": False,
    "power_levels": {"events_default": 0, "state_default": 50, "invite": 0, "kick": 50, "ban": 50, "redact": 50},
}


@st.composite
def hand_made(draw, in_space: bool) -> dict[str, Any]:
    room: dict[str, Any] = {
        "version": draw(st.sampled_from(["10", "11", "12"])),
        "preset": draw(st.sampled_from(["public_chat", "private_chat"])),
        "directory": draw(st.sampled_from(["public", "private"])),
        "alt": draw(st.booleans()),
        "encrypted": draw(st.booleans()),
    }
    for key, values in (
        ("name", TEXT),
        ("topic", TEXT),
        ("join_rule", st.sampled_from(["public", "invite", "knock"] + (["restricted"] if in_space else []))),
        ("history_visibility", st.sampled_from(["world_readable", "shared", "invited", "joined"])),
        ("guest_access", st.sampled_from(["can_join", "forbidden"])),
    ):
        if draw(st.booleans()):
            room[key] = draw(values)
    levels: dict[str, Any] = {}
    if draw(st.booleans()):
        levels["users"] = {"bob": draw(LEVELS)}
    if draw(st.booleans()):
        levels["events"] = draw(
            st.dictionaries(st.sampled_from(["m.room.topic", "m.reaction", "m.room.name"]), LEVELS, min_size=1)
        )
    if draw(st.booleans()):
        levels["notifications"] = {"room": draw(LEVELS)}
    for key in draw(
        st.lists(
            st.sampled_from(["ban", "kick", "redact", "invite", "state_default", "events_default", "users_default"]),
            unique=True,
            max_size=3,
        )
    ):
        levels[key] = draw(LEVELS)
    room["levels"] = levels
    room["bob_creator"] = room["version"] == "12" and draw(st.booleans())
    if in_space:
        room["link"] = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "order": st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=4),
                    "suggested": st.booleans(),
                },
            )
        )
    return room


@st.composite
def communities(draw) -> dict[str, Any]:
    with_space = draw(st.booleans())
    rooms = [draw(hand_made(in_space=False))]
    for _ in range(draw(st.integers(0, 2))):
        rooms.append(draw(hand_made(in_space=with_space and draw(st.booleans()))))
    defaults = {k: v for k, v in DEFAULTS.items() if draw(st.booleans())}
    return {"space": with_space, "rooms": rooms, "defaults": defaults, "adopt_first": draw(st.booleans())}


@pytest.fixture(scope="module")
def people(synapse) -> dict[str, tuple[str, str]]:
    found = {}
    for name in ("alice", "bob"):
        local = f"propimport-{name}-{next(COUNTER)}"
        found[name] = (synapse.user_id(local), synapse.register(local))
    return found


def make_by_hand(synapse, people, community: dict[str, Any], prefix: str) -> list[str]:
    """Create the drawn rooms as alice, with plain HTTP; the aliases' local parts."""
    alice, token = people["alice"]
    bob = people["bob"][0]
    made: list[tuple[str, str]] = []
    for index, room in enumerate(community["rooms"]):
        local = f"{prefix}-{index}"
        space = community["space"] and index == 0
        initial = []
        for key, event_type in (
            ("join_rule", "m.room.join_rules"),
            ("history_visibility", "m.room.history_visibility"),
            ("guest_access", "m.room.guest_access"),
        ):
            if key in room and not (key == "join_rule" and room[key] == "restricted"):
                initial.append({"type": event_type, "state_key": "", "content": {key: room[key]}})
        if room["encrypted"]:
            initial.append(
                {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
            )
        if room.get("join_rule") == "restricted":
            initial.append(
                {
                    "type": "m.room.join_rules",
                    "state_key": "",
                    "content": {
                        "join_rule": "restricted",
                        "allow": [{"type": "m.room_membership", "room_id": made[0][1]}],
                    },
                }
            )
        levels = dict(room["levels"])
        if "users" in levels:  # Synapse refuses creators of a version-12 room in users
            levels["users"] = {} if room["bob_creator"] else {bob: levels["users"]["bob"]}
            if room["version"] != "12":
                levels["users"][alice] = 100
        body: dict[str, Any] = {
            "preset": room["preset"],
            "room_alias_name": local,
            "room_version": room["version"],
            "visibility": room["directory"],
            "initial_state": initial,
            "power_level_content_override": levels,
        }
        for key in ("name", "topic"):
            if key in room:
                body[key] = room[key]
        creation: dict[str, Any] = {}
        if space:
            creation["type"] = "m.space"
        if room["bob_creator"]:
            creation["additional_creators"] = [bob]
        if creation:
            body["creation_content"] = creation
        status, answer = synapse.request("POST", f"{CLIENT}/createRoom", token, body=body)
        assert status == 200, (body, answer)
        room_id = answer["room_id"]
        if room["alt"]:
            alt = f"#{local}-alt:{SERVER}"
            assert (
                synapse.request("PUT", f"{CLIENT}/directory/room/{q(alt)}", token, body={"room_id": room_id})[0] == 200
            )
            put_state(
                synapse, token, room_id, "m.room.canonical_alias", {"alias": f"#{local}:{SERVER}", "alt_aliases": [alt]}
            )
        if "link" in room:
            space_id = made[0][1]
            child = {"via": [SERVER], **room["link"]}
            for room_, event_type, key, content in (
                (space_id, "m.space.child", room_id, child),
                (room_id, "m.space.parent", space_id, {"via": [SERVER], "canonical": True}),
            ):
                status, answer = synapse.request(
                    "PUT", f"{CLIENT}/rooms/{q(room_)}/state/{q(event_type)}/{q(key)}", token, body=content
                )
                assert status == 200, answer
        made.append((local, room_id))
    return [local for local, _ in made]


async def _adopt(url: str, token: str, config_path: Path, names: list[str]) -> None:
    config = load_config(config_path, partial=True)
    async with Homeserver(url, token) as hs:
        outcomes, admin = await adopt(hs, config, tuple(names))
    assert admin and all(o.status in (ADOPTED, MANAGED) for o in outcomes), [o.lines() for o in outcomes]


async def _import(url: str, token: str, config_path: Path, names: list[str]):
    config = load_config(config_path, partial=True)
    async with ReadOnlyHomeserver(url, token) as hs:
        return await run_import(
            hs, config, Selection(tuple(names)), MODELINE, "rooms/imported.yaml", config_defaults(config_path)
        )


async def _plan(url: str, token: str, config_path: Path):
    config = load_config(config_path)
    async with Homeserver(url, token) as hs:
        return make_plan(config, await read_snapshot(hs, config))


# A longer, random hunt: ROOMSYNC_PROPERTY_EXAMPLES=150 pytest tests/integration/test_property_import.py
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("ROOMSYNC_PROPERTY_EXAMPLES"),
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(community=communities())
def test_any_hand_made_rooms_import_to_a_clean_plan(synapse, provisioner, people, tmp_path, community):
    prefix = f"pimp{next(COUNTER)}"
    config_path = tmp_path / prefix
    (config_path / "rooms").mkdir(parents=True)
    settings_ = {"server_name": SERVER, "account": provisioner.user_id, "defaults": community["defaults"]}
    (config_path / "roomsync.yaml").write_text(yaml.safe_dump(settings_, sort_keys=False), encoding="utf-8")
    names = make_by_hand(synapse, people, community, prefix)
    url, token = synapse.url, provisioner.token
    alice_token = people["alice"][1]
    before = {local: state(synapse, alice_token, _room_id(synapse, local)) for local in names}

    if community["adopt_first"]:
        asyncio.run(_adopt(url, token, config_path, names))
    imported = asyncio.run(_import(url, token, config_path, names))
    note(imported.text or "")
    assert imported.errors == [] and imported.warnings == [], (imported.errors, imported.warnings)
    assert imported.rooms == len(names)
    (config_path / "rooms" / "imported.yaml").write_text(imported.text, encoding="utf-8")
    if not community["adopt_first"]:
        after_import = {local: state(synapse, alice_token, _room_id(synapse, local)) for local in names}
        assert after_import == before, "import changed nothing"
        asyncio.run(_adopt(url, token, config_path, names))

    planned = asyncio.run(_plan(url, token, config_path))
    problems = [(r.alias, r.errors, r.changes) for r in planned.rooms if r.errors or r.changes]
    assert not problems and not planned.has_changes, problems


def _room_id(synapse, local: str) -> str:
    status, answer = synapse.request("GET", f"{CLIENT}/directory/room/{q(f'#{local}:{SERVER}')}")
    assert status == 200, answer
    return answer["room_id"]
