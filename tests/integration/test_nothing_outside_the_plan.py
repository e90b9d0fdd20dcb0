"""Nothing outside the plan: every write request sync sends is the consequence of an entry that
plan showed, and every entry is carried out by a request. A recording proxy sits between roomsync
and the real Synapse; six scenarios run through it (create, change, upgrade, retire, rename, bots).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

from tests.conftest import SERVER_NAME as SERVER
from tests.integration.helpers import Result, resolve, roomsync, write_config
from tests.integration.http_proxy import AdminHidingProxy

BOT_ENV = "ROOMSYNC_TEST_ONE_TO_ONE_BOT"
# State event types and the plan fields they carry out.
STATE_FIELDS = {
    "m.room.name": ("name",),
    "m.room.topic": ("topic",),
    "m.room.avatar": ("avatar",),
    "m.room.join_rules": ("join_rule", "join_rule.allow"),
    "m.room.history_visibility": ("history_visibility",),
    "m.room.guest_access": ("guest_access",),
    "m.room.encryption": ("encrypted",),
    "m.room.power_levels": ("power_levels",),
    "m.room.canonical_alias": ("alias", "alt_aliases", "formerly"),
    "m.space.child": ("space.child",),
    "m.space.parent": ("space.parent",),
    "dev.roomsync.managed": ("marker",),
    "dev.roomsync.members": ("members",),
    "m.room.tombstone": ("tombstone",),
}
# What createRoom itself carries out for a room it makes.
CREATED_BY_CREATEROOM = (
    "alias",
    "name",
    "topic",
    "avatar",
    "join_rule",
    "history_visibility",
    "guest_access",
    "encrypted",
    "directory",
    "room_version",
    "type",
    "power_levels",
    "creators",
)
READS = re.compile(r"/(sync|filter)(\?|$)")  # POSTs that only read: sliding sync, /sync filters


@dataclass(frozen=True)
class Entry:
    where: str  # a room's full alias, or "bot NAME"
    field: str
    before: object
    after: object
    create: bool


@dataclass(frozen=True)
class Write:
    method: str
    path: str
    body: dict


def entries_of(plan: dict) -> list[Entry]:
    found = []
    for change in plan["changes"]:
        if change["section"] == "well_known":
            continue
        where = change.get("room_alias") or f"bot {change['bot']}"
        found.append(Entry(where, change["field"], change["before"], change["after"], change["action"] == "create"))
    return found


def writes_of(proxy: AdminHidingProxy) -> list[Write]:
    writes = []
    for method, path, body in proxy.calls:
        if method == "GET" or (method == "POST" and READS.search(path.split("?")[0])):
            continue
        writes.append(Write(method, unquote(path.split("?")[0]), json.loads(body) if body else {}))
    return writes


def target_room(path: str) -> str | None:
    """The room id a request acts on: /rooms/{id}/..., /directory/list/room/{id}, /join/{id}."""
    match = re.search(r"/(?:rooms|directory/list/room|join)/(![^/]+)", path)
    return match.group(1) if match else None


def explains(write: Write, entry: Entry, room_of: dict[str, str], bots: dict[str, str]) -> bool:
    """Is this write request a consequence of this plan entry?"""
    path, body, field = write.path, write.body, entry.field
    in_room = room_of.get(target_room(path) or "")
    if path.endswith("/createRoom"):
        return entry.create and entry.where == f"#{body.get('room_alias_name')}:{SERVER}" and field == "alias"
    if match := re.search(r"/directory/room/(#[^/]+)$", path):
        alias = match.group(1)
        if write.method == "PUT":
            return field in ("alias", "alt_aliases") and alias in (entry.after, entry.where)
        return field in ("alt_aliases", "formerly") and entry.before == alias
    if bot_user := bots.get(entry.where):  # a bot's own entries: its account and profile
        if match := re.search(r"/profile/(@[^/]+)/(displayname|avatar_url)$", path):
            return match.group(1) == bot_user and field in ("display_name", "avatar")
        if re.search(rf"/_synapse/admin/v2/users/{re.escape(bot_user)}$", path):
            return field in ("account", "user_type", "display_name", "avatar")
        return bot_user in path and "override_ratelimit" in path and field == "rate_limit"
    if in_room != entry.where:
        return False
    if match := re.search(r"/state/([^/]+)(/.*)?$", path):
        return any(field == f or field.startswith(f + ".") for f in STATE_FIELDS.get(match.group(1), ()))
    if "/directory/list/room/" in path:
        return field == "directory"
    if path.endswith(("/invite", "/kick")):
        return field == f"member.{body.get('user_id')}"
    if re.search(r"/join(/[^/]+)?$", path):  # a bot joins with its own token, or through the admin API
        return field.startswith("member.@") and entry.after == "join"
    return path.endswith("/upgrade") and field == "room_version"


def check_one_to_one(plan: dict, writes: list[Write], room_of: dict[str, str], bots: dict[str, str]) -> None:
    entries = entries_of(plan)
    upgraded = {e.where for e in entries if e.field == "room_version" and not e.create}
    for write in writes:
        room = room_of.get(target_room(write.path) or "")
        if any(explains(write, entry, room_of, bots) for entry in entries):
            continue
        # After an upgrade, sync reads the new room and brings it to the declared state: the
        # plan's note on the upgrade said so.
        assert room in upgraded and room_of.get(f"new:{room}"), f"{write} is in no plan entry:\n{entries}"
    for entry in entries:
        if entry.create and entry.field.split(".")[0] in CREATED_BY_CREATEROOM:
            continue
        assert any(explains(write, entry, room_of, bots) for write in writes), f"{entry} was sent no request"


@pytest.fixture
def scenario(synapse, provisioner, make_user, tmp_path: Path, prefix: str) -> Iterator:
    bot = make_user("bot")
    config = tmp_path / "config"
    bots = {"bot onebot": bot.user_id}
    env = {BOT_ENV: bot.token}
    room_ids: dict[str, str] = {}

    def step(rooms: list[dict], bot_rooms: list[str], display_name: str = "One Bot") -> None:
        write_config(config, SERVER, rooms, account=provisioner.user_id)
        bot_entry = {
            "name": "onebot",
            "user": bot.user_id,
            "rooms": bot_rooms,
            "power_level": 10,
            "display_name": display_name,
            "token_env": BOT_ENV,
        }
        (config / "bots.yaml").write_text(yaml.safe_dump({"bots": [bot_entry]}))
        planned = roomsync(config, "plan", "--format", "json", url=synapse.url, token=provisioner.token, env=env)
        assert planned.code == 0, planned.out + planned.err
        plan = json.loads(planned.out)
        assert plan["summary"]["has_changes"], "each scenario changes something"
        old = {room["alias"]: room["room_id"] for room in plan["rooms"] if room["room_id"]}
        with AdminHidingProxy(synapse.port, hide_admin=False) as proxy:
            synced: Result = roomsync(config, "sync", url=proxy.url, token=provisioner.token, env=env)
            assert synced.code == 0, synced.out + synced.err
            writes = writes_of(proxy)
        room_of = {room_id: alias for alias, room_id in old.items()}
        for entry in rooms:
            full = f"#{entry['alias']}:{SERVER}"
            if (now := resolve(synapse, full)) and now not in room_of:
                room_of[now] = full
                if full in old:
                    room_of[f"new:{full}"] = now
        room_ids.update({alias: rid for rid, alias in room_of.items() if rid.startswith("!")})
        check_one_to_one(plan, writes, room_of, bots)
        clean = roomsync(config, "plan", "--detailed-exitcode", url=synapse.url, token=provisioner.token, env=env)
        assert clean.code == 0, clean.out + clean.err

    yield step, prefix


def test_every_request_of_sync_is_an_entry_of_the_plan_and_back(scenario):
    step, p = scenario
    space = {"alias": f"{p}-space", "type": "space", "name": "Space"}
    room = {
        "alias": f"{p}-room",
        "name": "Room",
        "topic": "one",
        "alt_aliases": [f"{p}-room-alt"],
        "directory": "public",
        "spaces": [f"{p}-space"],
        "power_levels": {"users": {"@alice:example.org": 50}},
    }
    old = {"alias": f"{p}-old", "room_version": "11"}
    gone = {"alias": f"{p}-gone"}
    # 1. create: a space, a room in it with an alt alias and levels, a room at version 11, a bot.
    step([space, room, old, gone], [f"{p}-room"])
    # 2. change: topic, name, directory, a level, an alt alias swapped, out of the space.
    room2 = {
        **room,
        "name": "Room 2",
        "topic": "two",
        "directory": "private",
        "alt_aliases": [f"{p}-room-new"],
        "power_levels": {"users": {"@alice:example.org": 75}},
        "spaces": [],
    }
    step([space, room2, old, gone], [f"{p}-room"])
    # 3. upgrade: version 11 -> 12 (the second pass settles the new room).
    step([space, room2, {**old, "room_version": "12"}, gone], [f"{p}-room"])
    # 4. retire with a successor.
    retired = {"alias": f"{p}-gone", "retired": True, "successor": f"{p}-room"}
    step([space, room2, {**old, "room_version": "12"}, retired], [f"{p}-room"])
    # 5. rename: the room is #p-renamed now, found by its former alias; the old one is deleted.
    renamed = {**room2, "alias": f"{p}-renamed", "formerly": [f"{p}-room"]}
    retired = {**retired, "successor": f"{p}-renamed"}
    step([space, renamed, {**old, "room_version": "12"}, retired], [f"{p}-renamed"])
    # 6. bots: the bot leaves one room, joins another, and gets a new display name.
    step([space, renamed, {**old, "room_version": "12"}, retired], [f"{p}-old"], display_name="One Bot 2")
