"""Spaces, restricted rooms and bots, end to end against the real Synapse."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.integration.helpers import resolve, roomsync, state, write_config
from tests.synapse import q

SERVER = "opendev.org"
CLIENT = "/_matrix/client/v3"


def hierarchy(synapse, token: str, space_id: str) -> dict[str, list[dict]]:
    """Space id -> its children_state, as a plain user sees GET /hierarchy."""
    status, answer = synapse.request("GET", f"/_matrix/client/v1/rooms/{q(space_id)}/hierarchy", token)
    assert status == 200, answer
    return {room["room_id"]: room.get("children_state", []) for room in answer["rooms"]}


def test_space_tree_restricted_room_and_unlinking(synapse, provisioner, make_user, prefix, tmp_path: Path):
    p = prefix
    rooms = [
        {
            "alias": f"{p}-top",
            "type": "space",
            "name": "OpenDev",
            "join_rule": "public",
            "history_visibility": "world_readable",
        },
        {
            "alias": f"{p}-inner",
            "type": "space",
            "join_rule": "public",
            "history_visibility": "world_readable",
            "spaces": [{"space": f"{p}-top", "order": "20"}],
        },
        {
            "alias": f"{p}-zuul",
            "join_rule": "public",
            "history_visibility": "world_readable",
            "spaces": [{"space": f"{p}-top", "order": "10", "suggested": True}, f"{p}-inner"],
        },
        {"alias": f"{p}-members", "join_rule": "restricted", "spaces": [f"{p}-inner"]},
    ]
    config = write_config(tmp_path, SERVER, rooms)
    run = lambda *a: roomsync(config, *a, url=synapse.url, token=provisioner.token)  # noqa: E731

    planned = run("plan")
    assert f'space.child: "#{p}-zuul:{SERVER}"' in planned.out
    synced = run("sync")
    assert synced.code == 0, synced.out + synced.err
    assert run("plan", "--detailed-exitcode").code == 0

    ids = {r["alias"]: resolve(synapse, f"#{r['alias']}:{SERVER}") for r in rooms}
    viewer = make_user("viewer")
    tree = hierarchy(synapse, viewer.token, ids[f"{p}-top"])
    top_children = {c["state_key"]: c["content"] for c in tree[ids[f"{p}-top"]]}
    assert top_children == {
        ids[f"{p}-inner"]: {"via": [SERVER], "order": "20"},
        ids[f"{p}-zuul"]: {"via": [SERVER], "order": "10", "suggested": True},
    }
    inner_children = {c["state_key"] for c in tree[ids[f"{p}-inner"]]}
    assert inner_children == {ids[f"{p}-zuul"], ids[f"{p}-members"]}
    parents = {
        k: v for (t, k), v in state(synapse, provisioner.token, ids[f"{p}-zuul"]).items() if t == "m.space.parent"
    }
    assert parents == {ids[f"{p}-top"]: {"via": [SERVER], "canonical": True}, ids[f"{p}-inner"]: {"via": [SERVER]}}

    # A member of the space may join the restricted room; someone else may not.
    outsider = make_user("outsider")
    assert synapse.request("POST", f"{CLIENT}/join/{q(ids[f'{p}-inner'])}", viewer.token, body={})[0] == 200
    assert synapse.request("POST", f"{CLIENT}/join/{q(ids[f'{p}-members'])}", viewer.token, body={})[0] == 200
    status, answer = synapse.request("POST", f"{CLIENT}/join/{q(ids[f'{p}-members'])}", outsider.token, body={})
    assert status == 403, answer

    # Taken out of a space in git: both links go on the next sync.
    rooms[2]["spaces"] = [{"space": f"{p}-top", "order": "10", "suggested": True}]
    write_config(tmp_path, SERVER, rooms)
    unlink = run("plan", "--detailed-exitcode")
    assert unlink.code == 2
    assert f'space.child: "#{p}-zuul:{SERVER}" -> (removed)' in unlink.out
    assert f'space.parent: "#{p}-inner:{SERVER}" -> (removed)' in unlink.out
    assert run("sync").code == 0
    tree = hierarchy(synapse, viewer.token, ids[f"{p}-top"])
    assert {c["state_key"] for c in tree[ids[f"{p}-inner"]]} == {ids[f"{p}-members"]}
    assert run("plan", "--detailed-exitcode").code == 0


def write_bots(directory: Path, bots: list[dict]) -> None:
    (directory / "bots.yaml").write_text(yaml.safe_dump({"bots": bots}, sort_keys=False))


def test_bots_join_with_power_and_profile_and_are_kicked_when_removed(
    synapse, provisioner, make_user, prefix, tmp_path: Path, monkeypatch
):
    p = prefix
    gerrit, status_bot, human = make_user("gerrit"), make_user("status"), make_user("human")
    rooms = [
        {"alias": f"{p}-zuul", "join_rule": "public", "power_levels": {"users": {human.user_id: 50}}},
        {"alias": f"{p}-private", "join_rule": "invite"},
    ]
    config = write_config(tmp_path, SERVER, rooms)
    write_bots(
        config,
        [
            {
                "name": "gerritbot",
                "user": gerrit.user_id,
                "rooms": ["*"],
                "power_level": 10,
                "display_name": "Gerrit Bot",
                "avatar": "mxc://opendev.org/gerrit",
                "token_env": "GERRIT_TOKEN",
            },
            {"name": "statusbot", "user": status_bot.user_id, "rooms": [f"{p}-zuul"]},
        ],
    )
    monkeypatch.setenv("GERRIT_TOKEN", gerrit.token)  # subprocesses inherit the environment
    run = lambda *a: roomsync(config, *a, url=synapse.url, token=provisioner.token)  # noqa: E731

    synced = run("sync")
    assert synced.code == 0, synced.out + synced.err
    assert gerrit.token not in synced.out + synced.err
    zuul, private = resolve(synapse, f"#{p}-zuul:{SERVER}"), resolve(synapse, f"#{p}-private:{SERVER}")

    _status, joined = synapse.request("GET", f"{CLIENT}/joined_rooms", gerrit.token)
    assert {zuul, private} <= set(joined["joined_rooms"])
    _status, profile = synapse.request("GET", f"{CLIENT}/profile/{q(gerrit.user_id)}")
    assert profile == {"displayname": "Gerrit Bot", "avatar_url": "mxc://opendev.org/gerrit"}
    for room in (zuul, private):
        assert state(synapse, provisioner.token, room)[("m.room.power_levels", "")]["users"][gerrit.user_id] == 10
    zuul_state = state(synapse, provisioner.token, zuul)
    assert zuul_state[("m.room.member", status_bot.user_id)]["membership"] == "invite"

    # The statusbot invite is pending, not drift: a drift job does not fail forever on it.
    pending = run("plan", "--detailed-exitcode")
    assert pending.code == 0, pending.out
    assert "pending until it accepts" in pending.out

    # A human joins and gets power by config; then gerritbot is taken off the private room.
    assert synapse.request("POST", f"{CLIENT}/join/{q(zuul)}", human.token, body={})[0] == 200
    write_bots(
        config,
        [
            {
                "name": "gerritbot",
                "user": gerrit.user_id,
                "rooms": [f"{p}-zuul"],
                "power_level": 10,
                "display_name": "Gerrit Bot",
                "avatar": "mxc://opendev.org/gerrit",
                "token_env": "GERRIT_TOKEN",
            },
            {"name": "statusbot", "user": status_bot.user_id, "rooms": [f"{p}-zuul"]},
        ],
    )
    only_rooms = run("plan", "--only", "rooms", "--detailed-exitcode")
    assert only_rooms.code == 0, "the room part has nothing to do"
    kick = run("plan", "--only", "bots", "--detailed-exitcode")
    assert kick.code == 2
    assert f'#{p}-private:{SERVER} member: "join" -> "kicked"' in kick.out
    assert run("sync", "--only", "bots").code == 0

    private_state = state(synapse, provisioner.token, private)
    assert private_state[("m.room.member", gerrit.user_id)]["membership"] == "leave"
    assert gerrit.user_id not in private_state[("m.room.power_levels", "")].get("users", {})
    zuul_state = state(synapse, provisioner.token, zuul)
    assert zuul_state[("m.room.member", human.user_id)]["membership"] == "join", "no other member is touched"
    assert zuul_state[("m.room.power_levels", "")]["users"][human.user_id] == 50
    assert zuul_state[("m.room.member", gerrit.user_id)]["membership"] == "join"
    assert run("plan", "--detailed-exitcode").code == 0
