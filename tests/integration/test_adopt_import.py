"""Adopting a homeserver's rooms made by hand: `roomsync adopt` and `roomsync import` against the real
Synapse. Every room here is made by another user through raw HTTP (tests/synapse.py), never by roomsync:
room versions 10, 11 and 12, additional creators, encryption, knock, a restricted room in a space,
alt aliases, directory listing, custom events and notifications levels, nested spaces with order and
suggested, and a bot at its level. The round trip: import into rooms/ next to the same roomsync.yaml and
bots.yaml, validate accepts it, adopt, `plan --detailed-exitcode` exits 0, and one field edited in the
imported file is exactly one change."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from roomsync.client import Homeserver, ReadOnlyHomeserver
from roomsync.config import load_config
from roomsync.errors import RoomsyncError
from roomsync.importer import config_defaults
from roomsync.importread import Selection, run_import
from tests.integration.helpers import joined_rooms, put_state, roomsync, state, write_config
from tests.synapse import q

SERVER = "opendev.org"
CLIENT = "/_matrix/client/v3"
ADMIN_API = "/_synapse/admin"
MODELINE = "# yaml-language-server: $schema=../schema/rooms.schema.json"
OPENDEV_DEFAULTS = {
    "join_rule": "public",
    "history_visibility": "world_readable",
    "guest_access": "forbidden",
    "directory": "public",
    "encrypted": False,
    "power_levels": {"events_default": 0, "state_default": 50, "invite": 0, "kick": 50, "ban": 50, "redact": 50},
}


def create(synapse, token: str, **body: Any) -> str:
    status, answer = synapse.request("POST", f"{CLIENT}/createRoom", token, body=body)
    assert status == 200, answer
    return answer["room_id"]


def link(synapse, token: str, space: str, child: str, canonical: bool = True, **child_content: Any) -> None:
    """Both ends of a space link, as clients make them."""
    put_state_key(synapse, token, space, "m.space.child", child, {"via": [SERVER], **child_content})
    put_state_key(
        synapse, token, child, "m.space.parent", space, {"via": [SERVER], **({"canonical": True} if canonical else {})}
    )


def put_state_key(synapse, token: str, room_id: str, event_type: str, key: str, content: dict) -> None:
    status, answer = synapse.request(
        "PUT", f"{CLIENT}/rooms/{q(room_id)}/state/{q(event_type)}/{q(key)}", token, body=content
    )
    assert status == 200, answer


def add_alt_alias(synapse, token: str, room_id: str, local: str) -> None:
    alias = f"#{local}:{SERVER}"
    assert synapse.request("PUT", f"{CLIENT}/directory/room/{q(alias)}", token, body={"room_id": room_id})[0] == 200
    content = dict(state(synapse, token, room_id)[("m.room.canonical_alias", "")])
    content["alt_aliases"] = [*content.get("alt_aliases", []), alias]
    put_state(synapse, token, room_id, "m.room.canonical_alias", content)


def register(synapse, name: str) -> tuple[str, str]:
    return synapse.user_id(name), synapse.register(name)


def config_dir(path: Path, account: str, bots: list[dict] | None = None) -> Path:
    (path / "rooms").mkdir(parents=True)
    settings = {"server_name": SERVER, "account": account, "defaults": OPENDEV_DEFAULTS}
    (path / "roomsync.yaml").write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    if bots:
        (path / "bots.yaml").write_text(yaml.safe_dump({"bots": bots}, sort_keys=False), encoding="utf-8")
    return path


def users_of(synapse, token: str, room_id: str) -> dict[str, int]:
    return dict(state(synapse, token, room_id)[("m.room.power_levels", "")].get("users") or {})


@pytest.fixture(scope="module")
def community(synapse, provisioner, tmp_path_factory) -> dict[str, Any]:
    """A community made by hand by alice (bob an additional creator here and there), with a bot."""
    p = "adopt" + tmp_path_factory.mktemp("x").name[-4:].replace("_", "").lower()
    alice, alice_token = register(synapse, f"{p}-alice")
    bob, bob_token = register(synapse, f"{p}-bob")
    bot, bot_token = register(synapse, f"{p}-bot")
    status, answer = synapse.request(
        "PUT", f"{ADMIN_API}/v2/users/{q(bot)}", provisioner.token, body={"user_type": "bot"}
    )
    assert status == 200, answer
    a = alice_token
    rooms = {
        "top": create(
            synapse,
            a,
            preset="public_chat",
            room_alias_name=f"{p}-top",
            name="Top",
            visibility="public",
            creation_content={"type": "m.space"},
        ),
        "sub": create(
            synapse,
            a,
            preset="public_chat",
            room_alias_name=f"{p}-sub",
            name="Sub",
            room_version="10",
            creation_content={"type": "m.space"},
        ),
        "zuul": create(
            synapse,
            a,
            preset="public_chat",
            room_alias_name=f"{p}-zuul",
            name="Zuul",
            topic="Zuul: the gating system | 'quoted' # not a comment",
            visibility="public",
            initial_state=[
                {
                    "type": "m.room.history_visibility",
                    "state_key": "",
                    "content": {"history_visibility": "world_readable"},
                }
            ],
        ),
        "knock": create(
            synapse,
            a,
            preset="public_chat",
            room_alias_name=f"{p}-knock",
            room_version="11",
            initial_state=[{"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "knock"}}],
        ),
        "ops": create(
            synapse,
            a,
            preset="private_chat",
            room_alias_name=f"{p}-ops",
            name="Ops",
            room_version="10",
            initial_state=[
                {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}},
                {"type": "m.room.avatar", "state_key": "", "content": {"url": "mxc://opendev.org/ops"}},
            ],
            power_level_content_override={
                "events": {"m.room.topic": 75, "m.reaction": 10},
                "notifications": {"room": 20},
                "users": {alice: 100, bob: 50},
            },
        ),
        "bots": create(synapse, a, preset="public_chat", room_alias_name=f"{p}-bots", name="With a bot"),
    }
    rooms["members"] = create(
        synapse,
        a,
        preset="private_chat",
        room_alias_name=f"{p}-members",
        name="Members only",
        creation_content={"additional_creators": [bob]},
        initial_state=[
            {
                "type": "m.room.join_rules",
                "state_key": "",
                "content": {
                    "join_rule": "restricted",
                    "allow": [{"type": "m.room_membership", "room_id": rooms["sub"]}],
                },
            }
        ],
    )
    link(synapse, a, rooms["top"], rooms["sub"], order="10", suggested=True)
    link(synapse, a, rooms["sub"], rooms["zuul"])
    link(synapse, a, rooms["sub"], rooms["members"], order="20")
    link(synapse, a, rooms["top"], rooms["knock"])
    add_alt_alias(synapse, a, rooms["zuul"], f"{p}-zuul-ci")
    assert synapse.request("POST", f"{CLIENT}/join/{q(rooms['bots'])}", bot_token, body={})[0] == 200
    levels = state(synapse, a, rooms["bots"])[("m.room.power_levels", "")]
    levels["users"][bot] = 50
    put_state(synapse, a, rooms["bots"], "m.room.power_levels", levels)
    return {"p": p, "rooms": rooms, "alice": (alice, alice_token), "bob": (bob, bob_token), "bot": (bot, bot_token)}


def test_import_before_adopt_round_trip(synapse, provisioner, community, tmp_path):
    p, rooms = community["p"], community["rooms"]
    alice, alice_token = community["alice"]
    bob, _ = community["bob"]
    bot, _ = community["bot"]
    bots = [{"name": "gerritbot", "user": bot, "rooms": [f"{p}-bots"], "power_level": 50}]
    config = config_dir(tmp_path / "config", provisioner.user_id, bots)
    url, token = synapse.url, provisioner.token
    every_state = {name: state(synapse, alice_token, room_id) for name, room_id in rooms.items()}
    joined_before = joined_rooms(synapse, token)
    assert not set(rooms.values()) & joined_before, "the account is in none of these rooms yet"

    # Import before adopt: a server admin's token reads rooms the account has not joined.
    imported = roomsync(
        config,
        "import",
        "--space",
        f"#{p}-top:{SERVER}",
        f"{p}-ops",
        f"{p}-bots",
        "--out",
        str(config / "rooms" / "imported.yaml"),
        url=url,
        token=token,
    )
    assert imported.code == 0, imported.err
    assert imported.out == ""
    assert "roomsync adopt" in imported.err and "warning" not in imported.err, imported.err
    # Read-only: nothing changed, not even the account's memberships.
    assert {name: state(synapse, alice_token, room_id) for name, room_id in rooms.items()} == every_state
    assert joined_rooms(synapse, token) == joined_before

    text = (config / "rooms" / "imported.yaml").read_text(encoding="utf-8")
    assert text.splitlines()[0] == MODELINE
    for name, room_id in rooms.items():
        assert f"  - alias: {p}-{name}  # {room_id}\n" in text
    by_alias = {entry["alias"].removeprefix(f"{p}-"): entry for entry in yaml.safe_load(text)["rooms"]}
    assert list(by_alias)[:2] == ["top", "sub"], "spaces before the rooms they hold"
    assert set(by_alias) == set(rooms)
    top, sub, zuul = by_alias["top"], by_alias["sub"], by_alias["zuul"]
    assert top["type"] == "space" and top["name"] == "Top" and top["history_visibility"] == "shared"
    assert "directory" not in top and "join_rule" not in top and "guest_access" not in top, "equal to defaults"
    assert sub["spaces"] == [{"space": f"{p}-top", "order": "10", "suggested": True}]
    assert sub["room_version"] == "10" and sub["power_levels"]["users"] == {alice: 100}
    assert zuul["topic"] == "Zuul: the gating system | 'quoted' # not a comment"
    assert zuul["alt_aliases"] == [f"{p}-zuul-ci"] and zuul["spaces"] == [f"{p}-sub"]
    assert "history_visibility" not in zuul and "directory" not in zuul
    members = by_alias["members"]
    assert members["join_rule"] == "restricted" and members["spaces"] == [{"space": f"{p}-sub", "order": "20"}]
    assert members["power_levels"]["users"] == {}, "v12 creators (alice, and bob as an additional one)"
    assert members["directory"] == "private" and members["room_version"] == "12"
    knock = by_alias["knock"]
    assert knock["join_rule"] == "knock" and knock["room_version"] == "11" and knock["spaces"] == [f"{p}-top"]
    ops = by_alias["ops"]
    assert ops["encrypted"] is True and ops["avatar"] == "mxc://opendev.org/ops" and ops["join_rule"] == "invite"
    assert ops["power_levels"]["users"] == {alice: 100, bob: 50}
    assert ops["power_levels"]["events"]["m.reaction"] == 10 and ops["power_levels"]["events"]["m.room.topic"] == 75
    assert ops["power_levels"]["notifications"] == {"room": 20}
    assert bot not in by_alias["bots"]["power_levels"]["users"], "the bot's level stays in bots.yaml"
    for entry in by_alias.values():
        assert provisioner.user_id not in entry.get("power_levels", {}).get("users", {})
        assert "historical" not in entry.get("power_levels", {})

    assert roomsync(config, "validate", url=url, token=None).code == 0
    before = roomsync(config, "plan", url=url, token=token)
    assert before.code == 1 and before.out.count("`roomsync adopt`") == len(rooms), before.out

    # Adopt: joined at power 100 everywhere, and nobody else's power changes.
    others = {name: users_of(synapse, alice_token, room_id) for name, room_id in rooms.items()}
    adopted = roomsync(config, "adopt", url=url, token=token)
    assert adopted.code == 0, adopted.out + adopted.err
    assert adopted.out.count(": adopted: ") == len(rooms), adopted.out
    for name, room_id in rooms.items():
        after = users_of(synapse, alice_token, room_id)
        assert after.pop(provisioner.user_id) == 100
        assert after == others[name], name
    assert set(rooms.values()) <= joined_rooms(synapse, token)
    # Each adopted room carries roomsync's marker, as the rooms it creates do.
    for name, room_id in rooms.items():
        assert state(synapse, alice_token, room_id)[("dev.roomsync.managed", "")] == {"alias": f"#{p}-{name}:{SERVER}"}
    assert adopted.out.count("marker dev.roomsync.managed set") == len(rooms)
    again = roomsync(config, "adopt", url=url, token=token)
    assert again.code == 0 and again.out.count(": already managed: ") == len(rooms), again.out
    assert "Adopt: 0 adopted, 7 already managed, 0 not adopted." in again.out

    clean = roomsync(config, "plan", "--detailed-exitcode", url=url, token=token)
    assert clean.code == 0, clean.out + clean.err
    assert "No changes." in clean.out
    # A room adopted and later dropped from git is reported like one roomsync created.
    dropped = tmp_path / "dropped"
    write_config(dropped, SERVER, [], account=provisioner.user_id)
    (dropped / "rooms" / "rooms.yaml").write_text("rooms:\n  - alias: elsewhere\n")
    warned = roomsync(dropped, "plan", url=url, token=token)
    for name, room_id in rooms.items():
        assert f"#{p}-{name}:{SERVER} ({room_id}) was created or adopted by roomsync but is no longer declared" in (
            warned.out
        ), warned.out

    # Import after adopt (the account joined now: read through the client API) gives the same bytes.
    other = config_dir(tmp_path / "other", provisioner.user_id, bots)
    again_imported = roomsync(other, "import", "--space", f"{p}-top", f"{p}-ops", f"{p}-bots", url=url, token=token)
    assert again_imported.code == 0, again_imported.err
    assert again_imported.out == text
    assert "roomsync adopt" not in again_imported.err

    # One field edited in the imported file is exactly one change.
    edited = text.replace("name: Ops\n", "name: Operations\n", 1)
    assert edited != text
    (config / "rooms" / "imported.yaml").write_text(edited, encoding="utf-8")
    one = roomsync(config, "plan", "--format", "json", "--detailed-exitcode", url=url, token=token)
    assert one.code == 2, one.out + one.err
    changes = one.json["changes"]
    assert [(c["room_alias"], c["field"], c["before"], c["after"]) for c in changes] == [
        (f"#{p}-ops:{SERVER}", "name", "Ops", "Operations")
    ]


def test_adopt_without_server_admin_rights(synapse, provisioner, community, tmp_path):
    _alice, alice_token = community["alice"]
    p = community["p"] + "n"
    plain, plain_token = register(synapse, f"{p}-plain")
    invited = create(synapse, alice_token, preset="private_chat", room_alias_name=f"{p}-invited", name="Invited")
    closed = create(synapse, alice_token, preset="private_chat", room_alias_name=f"{p}-closed", name="Closed")
    config = config_dir(tmp_path / "config", plain)
    (config / "rooms" / "r.yaml").write_text(
        yaml.safe_dump(
            {
                "rooms": [
                    {"alias": f"{p}-invited", "name": "Invited", "join_rule": "invite", "directory": "private"},
                    {"alias": f"{p}-closed"},
                ]
            }
        ),
        encoding="utf-8",
    )
    url = synapse.url
    before = {r: state(synapse, alice_token, r) for r in (invited, closed)}

    refused = roomsync(config, "adopt", url=url, token=plain_token)
    assert refused.code == 1, refused.out + refused.err
    for room_id in (invited, closed):
        assert f"({room_id}): not adopted: {plain} is not in the room" in refused.out
    assert refused.out.count(f"      /invite {plain}\n") == 2 and refused.out.count(f"      /op {plain} 100\n") == 2
    assert "Adopt: 0 adopted, 0 already managed, 2 not adopted." in refused.out
    assert {r: state(synapse, alice_token, r) for r in (invited, closed)} == before, "it changed nothing"
    assert not {invited, closed} & joined_rooms(synapse, plain_token)
    planned = roomsync(config, "plan", url=url, token=plain_token)
    assert planned.code == 1 and planned.out.count("`roomsync adopt`") == 2, planned.out

    # Not joined and no server admin: import cannot read the rooms, and says what to do.
    blind = roomsync(config, "import", f"{p}-invited", url=url, token=plain_token)
    assert blind.code == 1 and blind.out == ""
    assert "already declared" in blind.err
    fresh = config_dir(tmp_path / "fresh", plain)
    blind = roomsync(fresh, "import", f"{p}-invited", f"{p}-closed", url=url, token=plain_token)
    assert blind.code == 1 and blind.out == ""
    assert blind.err.count("roomsync: error: ") == 2 and blind.err.count("run `roomsync adopt` first") == 2

    # A room admin does what adopt said in one room; adopt accepts the invite there.
    assert (
        synapse.request("POST", f"{CLIENT}/rooms/{q(invited)}/invite", alice_token, body={"user_id": plain})[0] == 200
    )
    levels = state(synapse, alice_token, invited)[("m.room.power_levels", "")]
    levels["users"][plain] = 100
    put_state(synapse, alice_token, invited, "m.room.power_levels", levels)
    partly = roomsync(config, "adopt", url=url, token=plain_token)
    assert partly.code == 1
    assert f"({invited}): adopted: joined (it was invited), power 100" in partly.out
    assert f"({closed}): not adopted" in partly.out
    assert state(synapse, alice_token, closed) == before[closed]

    # After adopt the account reads the room itself: import without admin rights; the other is an error.
    half = roomsync(fresh, "import", f"{p}-invited", f"{p}-closed", url=url, token=plain_token)
    assert half.code == 1
    assert f"  - alias: {p}-invited  # {invited}\n" in half.out and f"{p}-closed" not in half.out
    assert half.err.count("roomsync: error: ") == 1 and f"#{p}-closed:{SERVER}" in half.err


def test_import_bad_input_and_skipped_rooms(synapse, provisioner, community, tmp_path):
    p = community["p"] + "b"
    _alice, alice_token = community["alice"]
    walker, walker_token = register(synapse, f"{p}-walker")
    room_id = create(synapse, alice_token, preset="public_chat", room_alias_name=f"{p}-open", name="Open")
    assert synapse.request("POST", f"{CLIENT}/join/{q(room_id)}", walker_token, body={})[0] == 200
    direct = create(synapse, alice_token, preset="trusted_private_chat", is_direct=True, invite=[walker])
    assert synapse.request("POST", f"{CLIENT}/join/{q(direct)}", walker_token, body={})[0] == 200
    config = config_dir(tmp_path / "config", walker)
    url = synapse.url

    joined = roomsync(config, "import", "--joined", url=url, token=walker_token)
    assert joined.code == 0, joined.err
    assert f"  - alias: {p}-open  # {room_id}\n" in joined.out and len(yaml.safe_load(joined.out)["rooms"]) == 1
    assert f"roomsync: skipped {direct}: no alias on {SERVER} (a direct chat?)" in joined.err

    bad = roomsync(
        config, "import", f"{p}-open", f"#{p}-nope:{SERVER}", "#zuul:matrix.org", url=url, token=walker_token
    )
    assert bad.code == 1
    errors = [line for line in bad.err.splitlines() if line.startswith("roomsync: error: ")]
    assert errors == [
        f"roomsync: error: #{p}-nope:{SERVER} does not exist",
        f"roomsync: error: #zuul:matrix.org is an alias of another server; roomsync manages the rooms of {SERVER}",
    ]
    assert bad.out == joined.out, "the other rooms are still written, the same bytes"

    out = config / "rooms" / "open.yaml"
    out.write_text("rooms: []\n", encoding="utf-8")
    refused = roomsync(config, "import", f"{p}-open", "--out", str(out), url=url, token=walker_token)
    assert refused.code == 1 and refused.err.startswith("roomsync: error: ") and "exists" in refused.err
    assert out.read_text(encoding="utf-8") == "rooms: []\n"
    out.unlink()
    written = roomsync(config, "import", f"{p}-open", "--out", str(out), url=url, token=walker_token)
    assert written.code == 0 and written.out == "" and out.read_text(encoding="utf-8") == joined.out
    again = roomsync(config, "import", "--joined", url=url, token=walker_token)
    assert again.code == 0 and again.out == "" and "1 room already declared in rooms/" in again.err

    usage = roomsync(config, "import", url=url, token=walker_token)
    assert usage.code == 1 and "--space ALIAS or --joined" in usage.err


class Recording(Homeserver):
    """A plain client that remembers the method of every request it sends."""

    methods: list[str]

    async def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        self.methods = [*getattr(self, "methods", []), method]
        return await super().call(method, path, body, **kwargs)


def test_import_sends_only_get_requests(synapse, provisioner, community, tmp_path):
    p, rooms = community["p"], community["rooms"]
    config_path = config_dir(tmp_path / "config", provisioner.user_id)
    config = load_config(config_path, partial=True)

    async def run() -> tuple[list[str], str | None]:
        async with Recording(synapse.url, provisioner.token) as hs:
            result = await run_import(
                hs, config, Selection((f"{p}-ops",), (f"{p}-top",)), MODELINE, "out", config_defaults(config_path)
            )
            return hs.methods, result.text

    methods, text = asyncio.run(run())
    assert text and f"{p}-zuul" in text
    assert len(methods) > 10 and set(methods) == {"GET"}, methods

    async def write_through_read_only() -> int:
        async with ReadOnlyHomeserver(synapse.url, provisioner.token) as hs:
            with pytest.raises(RoomsyncError, match="read-only"):
                await hs.put_state(rooms["ops"], "m.room.topic", "", {"topic": "written"})
            return hs.requests

    assert asyncio.run(write_through_read_only()) == 0, "refused before it was sent"
    assert ("m.room.topic", "") not in state(synapse, community["alice"][1], rooms["ops"])


def test_space_import_names_what_it_cannot_read(synapse, provisioner, community, tmp_path):
    """--space walks down as far as the token can read; a room it cannot is an error naming adopt."""
    p, rooms = community["p"], community["rooms"]
    reader, reader_token = register(synapse, f"{p}-reader")
    assert synapse.request("POST", f"{CLIENT}/join/{q(rooms['top'])}", reader_token, body={})[0] == 200
    config = config_dir(tmp_path / "config", reader)
    walked = roomsync(config, "import", "--space", f"{p}-top", url=synapse.url, token=reader_token)
    assert walked.code == 1
    assert f"  - alias: {p}-top  # {rooms['top']}\n" in walked.out
    errors = [line for line in walked.err.splitlines() if line.startswith("roomsync: error: ")]
    assert len(errors) == 2 and all("run `roomsync adopt` first" in e for e in errors), walked.err
    assert any(f"in #{p}-top:{SERVER}" in e for e in errors)
    not_space = roomsync(config, "import", "--space", f"{p}-ops", url=synapse.url, token=provisioner.token)
    assert not_space.code == 1 and "is not a space" in not_space.err
