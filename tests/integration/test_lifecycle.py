"""Room lifecycle against the real Synapse: upgrades, retirement and renames, each a one-line
change in git that plan shows and sync carries out completely."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.integration.helpers import joined_rooms, published, resolve, roomsync, state, write_config

SERVER = "opendev.org"
CLIENT = "/_matrix/client/v3"


class Repo:
    """A config directory and the commands a maintainer runs on it."""

    def __init__(
        self,
        synapse,
        account,
        path: Path,
        rooms: list[dict],
        bots: list[dict] | None = None,
        env: dict[str, str] | None = None,
    ):
        self.synapse, self.account, self.path, self.env = synapse, account, path, env or {}
        self.bots = bots
        self.write(rooms)

    def write(self, rooms: list[dict]) -> None:
        write_config(self.path, SERVER, rooms, account=self.account.user_id)
        if self.bots:
            (self.path / "bots.yaml").write_text(yaml.safe_dump({"bots": self.bots}))

    def run(self, *args: str):
        return roomsync(self.path, *args, url=self.synapse.url, token=self.account.token, env=self.env)

    def sync(self, *args: str):
        synced = self.run("sync", *args)
        assert synced.code == 0, synced.out + synced.err
        return synced

    def assert_clean(self) -> None:
        planned = self.run("plan", "--detailed-exitcode")
        assert planned.code == 0, planned.out + planned.err

    def room(self, localpart: str) -> str:
        room_id = resolve(self.synapse, f"#{localpart}:{SERVER}")
        assert room_id, localpart
        return room_id

    def state(self, room_id: str) -> dict:
        return state(self.synapse, self.account.token, room_id)


def children(repo: Repo, space_id: str) -> set[str]:
    return {k for (t, k), c in repo.state(space_id).items() if t == "m.space.child" and c.get("via")}


def parents(repo: Repo, room_id: str) -> set[str]:
    return {k for (t, k), c in repo.state(room_id).items() if t == "m.space.parent" and c.get("via")}


# --- upgrades --------------------------------------------------------------------------------------


@pytest.mark.parametrize("old_version", ["10", "11"])
def test_upgrading_a_room_carries_everything_over(synapse, provisioner, make_user, prefix, tmp_path, old_version):
    p, alice, bot, lurker = prefix, make_user("alice"), make_user("bot"), make_user("lurker")
    bots = [
        {
            "name": "gerritbot",
            "user": bot.user_id,
            "rooms": [f"{p}-zuul"],
            "power_level": 10,
            "token_env": "GERRIT_TOKEN",
        },
        {"name": "lurker", "user": lurker.user_id, "rooms": [f"{p}-zuul"]},
    ]
    rooms = [
        {"alias": f"{p}-hub", "type": "space", "join_rule": "public"},
        {
            "alias": f"{p}-zuul",
            "room_version": old_version,
            "name": "Zuul",
            "topic": "gating",
            "alt_aliases": [f"{p}-zuul-ci"],
            "directory": "public",
            "join_rule": "public",
            "power_levels": {"users": {alice.user_id: 100}, "events": {"m.room.topic": 60}},
            "spaces": [{"space": f"{p}-hub", "order": "10"}],
        },
    ]
    repo = Repo(synapse, provisioner, tmp_path, rooms, bots, env={"GERRIT_TOKEN": bot.token})
    repo.sync()
    old, hub = repo.room(f"{p}-zuul"), repo.room(f"{p}-hub")

    rooms[1]["room_version"] = "12"
    repo.write(rooms)
    planned = repo.run("plan", "--detailed-exitcode")
    assert planned.code == 2, planned.out + planned.err
    assert f"#{p}-zuul:{SERVER} ({old}) will be upgraded" in planned.out
    assert f'room_version: "{old_version}" -> "12"' in planned.out
    assert "Removals: 1" in planned.out  # an upgrade leaves the old room behind
    doc = repo.run("plan", "--format", "json").json
    assert doc["summary"]["upgrades"] == 1
    assert any(c["field"] == "room_version" and c["after"] == "12" for c in doc["changes"])
    assert "upgrade" in repo.run("plan", "--format", "markdown").out

    synced = repo.sync()
    assert "1 upgraded" in synced.out, synced.out
    new = repo.room(f"{p}-zuul")
    assert new != old
    live = repo.state(new)
    assert live[("m.room.create", "")]["room_version"] == "12"
    assert live[("m.room.create", "")]["predecessor"]["room_id"] == old
    assert live[("dev.roomsync.managed", "")] == {"alias": f"#{p}-zuul:{SERVER}"}
    assert repo.room(f"{p}-zuul-ci") == new, "alt aliases move too"
    assert published(synapse, new) and not published(synapse, old)
    assert children(repo, hub) == {new} and parents(repo, new) == {hub}
    assert live[("m.room.power_levels", "")]["users"] == {alice.user_id: 100, bot.user_id: 10}  # v12: no creator
    assert live[("m.room.power_levels", "")]["events"]["m.room.topic"] == 60
    assert new in joined_rooms(synapse, bot.token)
    assert live[("m.room.member", lurker.user_id)]["membership"] == "invite"
    assert repo.state(old)[("m.room.tombstone", "")]["replacement_room"] == new
    repo.assert_clean()
    warned = [line for line in repo.run("plan").out.splitlines() if "no longer declared" in line]
    assert not [line for line in warned if old in line], "the old room is not an undeclared room"


def test_upgrading_a_space_relinks_children_nested_spaces_and_restricted_rooms(synapse, provisioner, prefix, tmp_path):
    p = prefix
    rooms = [
        {"alias": f"{p}-top", "type": "space", "join_rule": "public"},
        {
            "alias": f"{p}-hub",
            "type": "space",
            "room_version": "10",
            "join_rule": "public",
            "spaces": [{"space": f"{p}-top", "order": "20"}],
        },
        {"alias": f"{p}-inner", "type": "space", "join_rule": "public", "spaces": [f"{p}-hub"]},
        {"alias": f"{p}-a", "join_rule": "public", "spaces": [{"space": f"{p}-hub", "suggested": True}]},
        {"alias": f"{p}-members", "join_rule": "restricted", "spaces": [f"{p}-hub"]},
    ]
    repo = Repo(synapse, provisioner, tmp_path, rooms)
    repo.sync()
    old = repo.room(f"{p}-hub")

    rooms[1]["room_version"] = "12"
    repo.write(rooms)
    repo.sync()
    new = repo.room(f"{p}-hub")
    assert new != old
    ids = {r["alias"]: repo.room(r["alias"]) for r in rooms}
    assert children(repo, ids[f"{p}-top"]) == {new}
    assert children(repo, new) == {ids[f"{p}-inner"], ids[f"{p}-a"], ids[f"{p}-members"]}
    assert repo.state(new)[("m.space.child", ids[f"{p}-a"])].get("suggested") is True
    for child in (f"{p}-inner", f"{p}-a", f"{p}-members"):
        assert parents(repo, ids[child]) == {new}, child
    assert parents(repo, new) == {ids[f"{p}-top"]}
    rules = repo.state(ids[f"{p}-members"])[("m.room.join_rules", "")]
    assert rules["join_rule"] == "restricted" and [a["room_id"] for a in rules["allow"]] == [new]
    repo.assert_clean()


def test_a_downgrade_or_an_unknown_version_is_an_error_for_that_room(synapse, provisioner, prefix, tmp_path):
    p = prefix
    rooms = [{"alias": f"{p}-new", "room_version": "12"}, {"alias": f"{p}-other", "topic": "x"}]
    repo = Repo(synapse, provisioner, tmp_path, rooms)
    repo.sync()
    for version, words in (("10", "never downgraded"), ("99", "not offered by this homeserver")):
        rooms[0]["room_version"], rooms[1]["topic"] = version, f"topic for {version}"
        repo.write(rooms)
        planned = repo.run("plan")
        assert planned.code == 1 and words in planned.out, planned.out
        synced = repo.run("sync")
        assert synced.code == 1 and f"FAILED  #{p}-new:{SERVER}" in synced.out
        assert repo.state(repo.room(f"{p}-other"))[("m.room.topic", "")]["topic"] == f"topic for {version}"
    assert repo.state(repo.room(f"{p}-new"))[("m.room.create", "")]["room_version"] == "12"


# --- retirement ----------------------------------------------------------------------------------


def test_retiring_a_room_with_a_successor(synapse, provisioner, make_user, prefix, tmp_path):
    p, bot = prefix, make_user("bot")
    bots = [{"name": "statusbot", "user": bot.user_id, "rooms": ["*"], "power_level": 50, "token_env": "STATUS_TOKEN"}]
    rooms = [
        {"alias": f"{p}-hub", "type": "space", "join_rule": "public"},
        {
            "alias": f"{p}-old",
            "join_rule": "public",
            "directory": "public",
            "alt_aliases": [f"{p}-old-alt"],
            "spaces": [f"{p}-hub"],
        },
        {"alias": f"{p}-keep", "join_rule": "public", "spaces": [f"{p}-hub"]},
    ]
    repo = Repo(synapse, provisioner, tmp_path, rooms, bots, env={"STATUS_TOKEN": bot.token})
    repo.sync()
    old, hub = repo.room(f"{p}-old"), repo.room(f"{p}-hub")

    # Retire it in favour of a new room, which takes over its alt alias: an explicit move.
    rooms[1] = {"alias": f"{p}-old", "retired": True, "successor": f"{p}-new", "topic": f"Moved to #{p}-new"}
    rooms.append(
        {
            "alias": f"{p}-new",
            "join_rule": "public",
            "directory": "public",
            "alt_aliases": [f"{p}-old-alt"],
            "spaces": [f"{p}-hub"],
        }
    )
    repo.write(rooms)
    planned = repo.run("plan", "--detailed-exitcode")
    assert planned.code == 2, planned.out + planned.err
    assert f"- #{p}-old:{SERVER} ({old}) will be retired" in planned.out
    assert f'tombstone: (none) -> "#{p}-new:{SERVER}"' in planned.out
    assert repo.run("plan", "--format", "json").json["summary"]["retire"] == 1
    repo.sync("--allow-removals")

    new = repo.room(f"{p}-new")
    assert repo.room(f"{p}-old") == old, "a retired room keeps its alias: old links lead to the tombstone"
    assert repo.room(f"{p}-old-alt") == new, "the successor took the alias it claims"
    tombstone = repo.state(old)[("m.room.tombstone", "")]
    assert tombstone["replacement_room"] == new and f"#{p}-new:{SERVER}" in tombstone["body"]
    assert repo.state(old)[("m.room.topic", "")]["topic"] == f"Moved to #{p}-new"
    assert not published(synapse, old)
    assert children(repo, hub) == {repo.room(f"{p}-keep"), new} and parents(repo, old) == set()
    assert old not in joined_rooms(synapse, bot.token), "bots leave a retired room"
    assert new in joined_rooms(synapse, bot.token)
    assert bot.user_id not in repo.state(old)[("m.room.power_levels", "")].get("users", {})
    repo.assert_clean()


def test_retiring_without_a_successor_and_a_retired_room_that_does_not_exist(synapse, provisioner, prefix, tmp_path):
    p = prefix
    rooms = [{"alias": f"{p}-old", "join_rule": "public", "directory": "public"}]
    repo = Repo(synapse, provisioner, tmp_path, rooms)
    repo.sync()
    old = repo.room(f"{p}-old")
    repo.write([{"alias": f"{p}-old", "retired": True}, {"alias": f"{p}-never", "retired": True}])
    planned = repo.run("plan")
    assert f"#{p}-never:{SERVER}" in planned.out and "a retired room is never created" in planned.out
    repo.sync()
    assert ("m.room.tombstone", "") not in repo.state(old) and not published(synapse, old)
    assert resolve(synapse, f"#{p}-never:{SERVER}") is None
    repo.assert_clean()


# --- renames ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("keep_old", [False, True])
def test_renaming_a_room_keeps_it(synapse, provisioner, prefix, tmp_path, keep_old):
    p = prefix
    repo = Repo(synapse, provisioner, tmp_path, [{"alias": f"{p}-infra", "topic": "ops"}])
    repo.sync()
    room_id = repo.room(f"{p}-infra")

    renamed = {"alias": f"{p}-opendev", "topic": "ops", "formerly": [f"{p}-infra"]}
    if keep_old:
        renamed["alt_aliases"] = [f"{p}-infra"]
    repo.write([renamed])
    planned = repo.run("plan", "--detailed-exitcode")
    assert planned.code == 2 and f'alias: "#{p}-infra:{SERVER}" -> "#{p}-opendev:{SERVER}"' in planned.out
    assert "will be created" not in planned.out
    repo.sync()
    assert repo.room(f"{p}-opendev") == room_id
    canonical = repo.state(room_id)[("m.room.canonical_alias", "")]
    assert canonical["alias"] == f"#{p}-opendev:{SERVER}"
    if keep_old:
        assert resolve(synapse, f"#{p}-infra:{SERVER}") == room_id
        assert canonical["alt_aliases"] == [f"#{p}-infra:{SERVER}"]
    else:
        assert resolve(synapse, f"#{p}-infra:{SERVER}") is None
    repo.assert_clean()


def test_a_new_alias_and_a_former_one_on_two_rooms_is_an_error(synapse, provisioner, prefix, tmp_path):
    p = prefix
    repo = Repo(synapse, provisioner, tmp_path, [{"alias": f"{p}-a"}, {"alias": f"{p}-b"}])
    repo.sync()
    repo.write([{"alias": f"{p}-a", "formerly": [f"{p}-b"]}])
    planned = repo.run("plan")
    assert planned.code == 1 and "former alias" in planned.out and "another room" in planned.out
