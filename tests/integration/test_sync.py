"""validate / plan / sync end to end: the real CLI against the real Synapse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.helpers import (
    joined_rooms,
    published,
    put_state,
    resolve,
    roomsync,
    state,
    write_config,
)

SERVER = "opendev.org"


def dozen_rooms(p: str, alice: str, bob: str) -> list[dict]:
    return [
        {
            "alias": f"{p}-zuul",
            "name": "Zuul",
            "topic": "Zuul — project gating ✓ 日本語 🚦",
            "join_rule": "public",
            "history_visibility": "world_readable",
            "directory": "public",
            "alt_aliases": [f"{p}-zuul-ci"],
            "power_levels": {"users": {alice: 50}},
        },
        {
            "alias": f"{p}-opendev",
            "name": "OpenDev",
            "join_rule": "invite",
            "directory": "private",
            "encrypted": True,
            "history_visibility": "shared",
        },
        {"alias": f"{p}-meeting", "topic": "Weekly meeting 🗓️", "guest_access": "can_join", "join_rule": "public"},
        {"alias": f"{p}-knock", "name": "Knock first", "join_rule": "knock", "directory": "private"},
        {"alias": f"{p}-announce", "power_levels": {"events_default": 50, "users": {alice: 100, bob: 50}}},
        {
            "alias": f"{p}-v10",
            "room_version": "10",
            "name": "Old version",
            "power_levels": {"users": {alice: 50}, "ban": 60},
        },
        {"alias": f"{p}-avatar", "avatar": "mxc://opendev.org/AbCdEf123"},
        {"alias": f"{p}-multi", "alt_aliases": [f"{p}-multi-a", f"{p}-multi-b"], "directory": "public"},
        {"alias": f"{p}-bare"},
        {"alias": f"{p}-joined", "history_visibility": "joined", "guest_access": "forbidden"},
        {"alias": f"{p}-enc", "encrypted": True, "join_rule": "invite", "topic": ""},
        {
            "alias": f"{p}-events",
            "power_levels": {"events": {"m.room.topic": 75}, "state_default": 60, "notifications": {"room": 20}},
        },
    ]


def assert_room_matches(synapse, token: str, me: str, room: dict) -> str:
    """Check, with a plain HTTP client, that the room on the server is exactly as declared."""
    alias = f"#{room['alias']}:{SERVER}"
    room_id = resolve(synapse, alias)
    assert room_id, f"{alias} does not resolve"
    live = state(synapse, token, room_id)
    simple = {
        "name": ("m.room.name", "name"),
        "topic": ("m.room.topic", "topic"),
        "avatar": ("m.room.avatar", "url"),
        "join_rule": ("m.room.join_rules", "join_rule"),
        "history_visibility": ("m.room.history_visibility", "history_visibility"),
        "guest_access": ("m.room.guest_access", "guest_access"),
    }
    for field, (event_type, key) in simple.items():
        if field in room:
            assert live[(event_type, "")][key] == room[field], (alias, field)
    if "encrypted" in room:
        assert (("m.room.encryption", "") in live) == room["encrypted"], alias
    canonical = live[("m.room.canonical_alias", "")]
    assert canonical["alias"] == alias
    alts = [f"#{a}:{SERVER}" for a in room.get("alt_aliases", [])]
    assert canonical.get("alt_aliases", []) == alts
    for alt in alts:
        assert resolve(synapse, alt) == room_id
    if "directory" in room:
        assert published(synapse, room_id) == (room["directory"] == "public"), alias
    if "room_version" in room:
        assert live[("m.room.create", "")]["room_version"] == room["room_version"]
    pl = live[("m.room.power_levels", "")]
    for key, value in room.get("power_levels", {}).items():
        if key == "users":
            expected = dict(value)
            if room.get("room_version", "12") != "12":
                expected[me] = 100  # older versions list the creator; v12 may not
            assert pl["users"] == expected, alias
        elif key in ("events", "notifications"):
            assert {k: pl[key][k] for k in value} == value, alias
        else:
            assert pl[key] == value, (alias, key)
    assert ("dev.roomsync.managed", "") in live, "rooms roomsync creates carry its marker"
    return room_id


def test_dozen_rooms_plan_sync_verify_replan(synapse, provisioner, make_user, prefix, tmp_path: Path):
    alice, bob = make_user("alice").user_id, make_user("bob").user_id
    rooms = dozen_rooms(prefix, alice, bob)
    config = write_config(tmp_path, SERVER, rooms)
    run = lambda *a: roomsync(config, *a, url=synapse.url, token=provisioner.token)  # noqa: E731

    assert run("validate").code == 0
    before = joined_rooms(synapse, provisioner.token)
    planned = run("plan", "--format", "json", "--detailed-exitcode")
    assert planned.code == 2, planned.err
    doc = planned.json
    assert doc["format_version"] == 1
    assert doc["summary"]["create"] == 12 and doc["summary"]["change"] == 0
    assert {r["action"] for r in doc["rooms"]} == {"create"}
    assert joined_rooms(synapse, provisioner.token) == before, "plan must not write"
    assert resolve(synapse, f"#{prefix}-zuul:{SERVER}") is None

    synced = run("sync")
    assert synced.code == 0, synced.out + synced.err
    assert "Sync: 12 created, 0 changed, 0 failed." in synced.out
    ids = {assert_room_matches(synapse, provisioner.token, provisioner.user_id, room) for room in rooms}
    assert len(ids) == 12

    again = run("plan", "--detailed-exitcode")
    assert again.code == 0, again.out + again.err
    assert "No changes" in again.out


def test_drift_is_reported_and_repaired(synapse, provisioner, make_user, prefix, tmp_path: Path):
    alice, eve = make_user("alice").user_id, make_user("eve").user_id
    rooms = [
        {
            "alias": f"{prefix}-a",
            "topic": "Declared topic",
            "directory": "private",
            "power_levels": {"users": {alice: 50}, "kick": 50},
            "alt_aliases": [f"{prefix}-a2"],
        },
        {"alias": f"{prefix}-b", "name": "Untouched"},
    ]
    config = write_config(tmp_path, SERVER, rooms)
    run = lambda *a: roomsync(config, *a, url=synapse.url, token=provisioner.token)  # noqa: E731
    assert run("sync").code == 0
    room_id = resolve(synapse, f"#{prefix}-a:{SERVER}")
    token = provisioner.token

    # Drift by hand: topic edited, a user given power, a key changed, the room published.
    put_state(synapse, token, room_id, "m.room.topic", {"topic": "edited by hand"})
    pl = state(synapse, token, room_id)[("m.room.power_levels", "")]
    pl["users"][eve] = 75
    pl["kick"] = 0
    put_state(synapse, token, room_id, "m.room.power_levels", pl)
    status, _ = synapse.request(
        "PUT", f"/_matrix/client/v3/directory/list/room/{room_id}", token, body={"visibility": "public"}
    )
    assert status == 200

    drift = run("plan", "--detailed-exitcode")
    assert drift.code == 2
    assert 'topic: "edited by hand" -> "Declared topic"' in drift.out
    assert f"power_levels.users.{eve}: 75 -> (removed)" in drift.out
    assert "power_levels.kick: 0 -> 50" in drift.out
    assert 'directory: "public" -> "private"' in drift.out
    assert f"#{prefix}-b:{SERVER}" not in drift.out, "an unchanged room is not listed"
    assert "Plan: 0 to create, 1 to change." in drift.out

    repaired = run("sync")
    assert repaired.code == 0, repaired.out + repaired.err
    assert run("plan", "--detailed-exitcode").code == 0
    assert_room_matches(synapse, token, provisioner.user_id, rooms[0])
    assert eve not in state(synapse, token, room_id)[("m.room.power_levels", "")]["users"]


def test_existing_room_is_adopted_not_duplicated(synapse, provisioner, prefix, tmp_path: Path):
    token = provisioner.token
    status, answer = synapse.request(
        "POST",
        "/_matrix/client/v3/createRoom",
        token,
        body={"room_alias_name": f"{prefix}-old", "name": "Made by hand", "preset": "private_chat"},
    )
    assert status == 200
    hand_made = answer["room_id"]
    rooms = [
        {"alias": f"{prefix}-old", "name": "Now declared", "join_rule": "public", "alt_aliases": [f"{prefix}-old2"]}
    ]
    config = write_config(tmp_path, SERVER, rooms)
    run = lambda *a: roomsync(config, *a, url=synapse.url, token=token)  # noqa: E731

    planned = run("plan", "--format", "json")
    assert planned.json["summary"] == {**planned.json["summary"], "create": 0, "change": 1}
    assert planned.json["rooms"][0]["room_id"] == hand_made
    before = joined_rooms(synapse, token)
    assert run("sync").code == 0
    assert joined_rooms(synapse, token) == before, "no new room"
    assert resolve(synapse, f"#{prefix}-old:{SERVER}") == hand_made
    assert resolve(synapse, f"#{prefix}-old2:{SERVER}") == hand_made
    live = state(synapse, token, hand_made)
    assert live[("m.room.name", "")]["name"] == "Now declared"
    assert live[("m.room.join_rules", "")]["join_rule"] == "public"
    assert run("plan", "--detailed-exitcode").code == 0


def test_room_without_power_or_membership_fails_alone(synapse, provisioner, make_user, prefix, tmp_path: Path):
    owner = make_user("owner")
    # A room the account is not in, and one where it is joined without power.
    for alias, invite in ((f"{prefix}-foreign", False), (f"{prefix}-powerless", True)):
        status, answer = synapse.request(
            "POST",
            "/_matrix/client/v3/createRoom",
            owner.token,
            body={"room_alias_name": alias, "preset": "public_chat"},
        )
        assert status == 200
        if invite:
            status, _ = synapse.request(
                "POST", f"/_matrix/client/v3/join/{answer['room_id']}", provisioner.token, body={}
            )
            assert status == 200
    rooms = [
        {"alias": f"{prefix}-foreign", "topic": "x"},
        {"alias": f"{prefix}-powerless", "topic": "y"},
        {"alias": f"{prefix}-fine", "topic": "z"},
    ]
    config = write_config(tmp_path, SERVER, rooms)
    run = lambda *a: roomsync(config, *a, url=synapse.url, token=provisioner.token)  # noqa: E731

    planned = run("plan")
    assert planned.code == 1
    assert f"{provisioner.user_id} is not joined" in planned.out
    assert f"{provisioner.user_id} has power 0 here, but m.room.topic needs 50" in planned.out
    assert "Plan: 1 to create, 0 to change. 2 rooms have errors." in planned.out

    synced = run("sync")
    assert synced.code == 1
    assert "FAILED" in synced.out and "Sync: 1 created, 0 changed, 2 failed." in synced.out
    assert resolve(synapse, f"#{prefix}-fine:{SERVER}"), "the other rooms still go through"


@pytest.mark.parametrize("token", ["syt_not_a_real_token_12345", "  "])
def test_bad_token_is_one_clear_line(synapse, prefix, tmp_path: Path, token: str):
    config = write_config(tmp_path, SERVER, [{"alias": f"{prefix}-x"}])
    result = roomsync(config, "plan", url=synapse.url, token=token)
    assert result.code == 1
    assert "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    if token.strip():
        assert synapse.url in result.err and "rejected the access token" in result.err
        assert token not in result.out + result.err


def test_unreachable_homeserver_is_one_clear_line(tmp_path: Path, prefix):
    config = write_config(tmp_path, SERVER, [{"alias": f"{prefix}-x"}])
    result = roomsync(config, "plan", url="http://127.0.0.1:9", token="secret-token-value")
    assert result.code == 1
    assert "cannot reach http://127.0.0.1:9" in result.err
    assert "Traceback" not in result.err and "secret-token-value" not in result.err


def test_sync_dry_run_changes_nothing(synapse, provisioner, prefix, tmp_path: Path):
    config = write_config(tmp_path, SERVER, [{"alias": f"{prefix}-dry", "name": "Dry"}])
    result = roomsync(config, "sync", "--dry-run", url=synapse.url, token=provisioner.token)
    assert result.code == 0
    assert "will be created" in result.out and "Dry run: nothing was changed." in result.out
    assert resolve(synapse, f"#{prefix}-dry:{SERVER}") is None


def test_usage_error_exits_1_not_2(tmp_path: Path):
    result = roomsync(tmp_path, "plan", "--detailed-exitcode", "--format", "yaml", url="http://127.0.0.1:9", token=None)
    assert result.code == 1


def test_token_file_and_out_file(synapse, provisioner, prefix, tmp_path: Path):
    config = write_config(tmp_path / "cfg", SERVER, [{"alias": f"{prefix}-file", "topic": "from a file"}])
    token_file = tmp_path / "token"
    token_file.write_text(provisioner.token + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROOMSYNC_")}
    env.update(ROOMSYNC_HOMESERVER=synapse.url, ROOMSYNC_ACCESS_TOKEN_FILE=str(token_file))
    out = tmp_path / "plan.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "roomsync",
            "-C",
            str(config),
            "plan",
            "--format",
            "json",
            "--out",
            str(out),
            "--detailed-exitcode",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Plan: 1 to create, 0 to change." in proc.stdout, "the text plan still goes to stdout"
    document = json.loads(out.read_text())
    assert document["changes"][0]["room_alias"] == f"#{prefix}-file:{SERVER}"
    assert provisioner.token not in proc.stdout + proc.stderr + out.read_text()
