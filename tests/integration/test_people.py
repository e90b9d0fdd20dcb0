"""Groups, creators and members against two real Synapses: the community's homeserver holds the
rooms and bots, and the people are users of a second server federating over loopback."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Account, Federation
from tests.integration.helpers import CLIENT, Result, resolve, roomsync, state, write_config
from tests.synapse import SynapseServer, q

BOT_TOKEN_ENV = "ROOMSYNC_TEST_GERRITBOT_TOKEN"


def run(federation: Federation, config: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return roomsync(config, *args, url=federation.home.url, token=federation.admin.token, env=env)


def create_event(server: SynapseServer, token: str, room_id: str) -> dict[str, Any]:
    status, events = server.request("GET", f"{CLIENT}/rooms/{q(room_id)}/state", token)
    assert status == 200, events
    return next(e for e in events if e["type"] == "m.room.create")


def memberships(federation: Federation, room_id: str) -> dict[str, str]:
    everything = state(federation.home, federation.admin.token, room_id)
    return {key: content["membership"] for (kind, key), content in everything.items() if kind == "m.room.member"}


def wait_for_invite(person_server: SynapseServer, person: Account, room_id: str) -> None:
    """The person's own server has the invite (federation delivered it); bounded."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, answer = person_server.request("GET", f"{CLIENT}/sync", person.token, query={"timeout": "0"})
        assert status == 200, answer
        if room_id in answer.get("rooms", {}).get("invite", {}):
            return
        time.sleep(0.2)
    raise AssertionError(f"{person.user_id} never saw the invite to {room_id}")


def clean(result: Result) -> None:
    assert result.code == 0, result.out + result.err


def test_a_room_is_created_with_creators_and_members_from_groups(federation: Federation, tmp_path: Path, prefix: str):
    root1, root2, core = federation.person("root"), federation.person("root"), federation.person("core")
    groups = {"infra-root": [root1.user_id, root2.user_id], "zuul-core": [core.user_id, "infra-root"]}
    rooms = [{"alias": f"{prefix}-vmt", "join_rule": "invite", "creators": ["infra-root"], "members": ["zuul-core"]}]
    config = write_config(tmp_path, federation.home.server_name, rooms, groups=groups)

    planned = run(federation, config, "plan")
    assert planned.code == 0, planned.err
    assert root1.user_id in planned.out and "infra-root" not in planned.out  # ids, never group names alone
    clean(run(federation, config, "sync"))

    room_id = resolve(federation.home, f"#{prefix}-vmt:{federation.home.server_name}")
    assert room_id
    create = create_event(federation.home, federation.admin.token, room_id)
    assert create["sender"] == federation.admin.user_id
    assert sorted(create["content"]["additional_creators"]) == sorted([root1.user_id, root2.user_id])
    # Creators are never listed in power_levels.users (version 12 refuses it).
    users = state(federation.home, federation.admin.token, room_id)[("m.room.power_levels", "")]["users"]
    assert not {root1.user_id, root2.user_id} & set(users)
    members = memberships(federation, room_id)
    assert {members.get(p.user_id) for p in (root1, root2, core)} == {"invite"}
    wait_for_invite(federation.people, core, room_id)
    # A creator of the people's server joins and runs the room from there.
    assert federation.people.request("POST", f"{CLIENT}/join/{q(room_id)}", root1.token, body={})[0] == 200
    topic = {"topic": "run by the infra team"}
    status, answer = federation.people.request(
        "PUT", f"{CLIENT}/rooms/{q(room_id)}/state/m.room.topic/", root1.token, body=topic
    )
    assert status == 200, answer
    assert run(federation, config, "plan", "--detailed-exitcode").code == 0


def test_an_upgrade_keeps_the_declared_creators(federation: Federation, tmp_path: Path, prefix: str):
    root = federation.person("root")
    alias = f"{prefix}-old"
    config = write_config(tmp_path, federation.home.server_name, [{"alias": alias, "room_version": "11"}])
    clean(run(federation, config, "sync"))
    old = resolve(federation.home, f"#{alias}:{federation.home.server_name}")

    write_config(
        tmp_path,
        federation.home.server_name,
        [{"alias": alias, "room_version": "12", "creators": ["infra-root"]}],
        groups={"infra-root": [root.user_id]},
    )
    planned = run(federation, config, "plan")
    assert planned.code == 0 and "upgrade" in planned.out, planned.out + planned.err
    clean(run(federation, config, "sync"))
    new = resolve(federation.home, f"#{alias}:{federation.home.server_name}")
    assert new and new != old
    create = create_event(federation.home, federation.admin.token, new)
    assert create["content"]["room_version"] == "12"
    assert create["content"]["additional_creators"] == [root.user_id]
    assert run(federation, config, "plan", "--detailed-exitcode").code == 0


def test_creators_that_differ_are_an_error_that_names_the_way_out(federation: Federation, tmp_path: Path, prefix: str):
    one, two = federation.person("root"), federation.person("root")
    alias = f"{prefix}-owned"
    config = write_config(tmp_path, federation.home.server_name, [{"alias": alias, "creators": [one.user_id]}])
    clean(run(federation, config, "sync"))
    write_config(tmp_path, federation.home.server_name, [{"alias": alias, "creators": [one.user_id, two.user_id]}])
    planned = run(federation, config, "plan")
    assert planned.code == 1
    assert "creators differ" in planned.out and "raise room_version" in planned.out, planned.out
    assert two.user_id in planned.out


def test_group_levels_merge_across_defaults_and_the_room(federation: Federation, tmp_path: Path, prefix: str):
    root, core, helper = federation.person("root"), federation.person("core"), federation.person("helper")
    groups = {"infra-root": [root.user_id], "zuul-core": [core.user_id, "infra-root"]}
    defaults = {"power_levels": {"users": {"infra-root": 100, helper.user_id: 25}}}
    rooms = [
        {"alias": f"{prefix}-zuul", "power_levels": {"kick": 60, "users": {"zuul-core": 50, helper.user_id: None}}},
        {"alias": f"{prefix}-plain"},
    ]
    config = write_config(tmp_path, federation.home.server_name, rooms, groups=groups, defaults=defaults)
    clean(run(federation, config, "sync"))

    def levels(name: str) -> dict[str, Any]:
        room_id = resolve(federation.home, f"#{name}:{federation.home.server_name}")
        return state(federation.home, federation.admin.token, room_id)[("m.room.power_levels", "")]

    zuul = levels(f"{prefix}-zuul")
    assert zuul["kick"] == 60
    assert {u: lvl for u, lvl in zuul["users"].items() if u != federation.admin.user_id} == {
        root.user_id: 100,  # reached through both groups: the higher level
        core.user_id: 50,
    }
    plain = levels(f"{prefix}-plain")["users"]
    assert plain[root.user_id] == 100 and plain[helper.user_id] == 25
    assert run(federation, config, "plan", "--detailed-exitcode").code == 0


@pytest.fixture
def bot(federation: Federation) -> tuple[Account, dict[str, Any], dict[str, str]]:
    """A local bot account with its own token, and its bots.yaml entry."""
    import secrets

    localpart = f"gerritbot-{secrets.token_hex(3)}"
    account = Account(federation.home.user_id(localpart), federation.home.register(localpart))
    entry = {"name": "gerritbot", "user": account.user_id, "rooms": ["*"], "token_env": BOT_TOKEN_ENV}
    return account, entry, {BOT_TOKEN_ENV: account.token}


def test_exclusive_members_are_kicked_within_the_removal_guard(
    federation: Federation, tmp_path: Path, prefix: str, bot: tuple[Account, dict[str, Any], dict[str, str]]
):
    member, creator = federation.person("member"), federation.person("creator")
    strangers = [federation.person("stranger") for _ in range(2)]
    bot_account, bot_entry, bot_env = bot
    alias = f"{prefix}-security"
    room = {"alias": alias, "join_rule": "invite", "creators": [creator.user_id], "members": [member.user_id]}
    config = write_config(tmp_path, federation.home.server_name, [room], max_removals=1)
    (config / "bots.yaml").write_text(yaml.safe_dump({"bots": [bot_entry]}))
    clean(run(federation, config, "sync", env=bot_env))
    room_id = resolve(federation.home, f"#{alias}:{federation.home.server_name}")
    # By hand, someone invites two strangers and the creator.
    for person in (*strangers, creator):
        status, answer = federation.home.request(
            "POST", f"{CLIENT}/rooms/{q(room_id)}/invite", federation.admin.token, body={"user_id": person.user_id}
        )
        assert status == 200, answer

    write_config(tmp_path, federation.home.server_name, [{**room, "members_exclusive": True}], max_removals=1)
    planned = run(federation, config, "plan", env=bot_env)
    assert planned.code == 0, planned.err
    for stranger in strangers:
        assert f"member.{stranger.user_id}" in planned.out
    assert "Removals: 2" in planned.out, planned.out
    refused = run(federation, config, "sync", env=bot_env)
    assert refused.code == 1 and "removals" in (refused.out + refused.err).lower()
    assert all(memberships(federation, room_id)[s.user_id] == "invite" for s in strangers), "nothing was sent"

    clean(run(federation, config, "sync", "--allow-removals", env=bot_env))
    after = memberships(federation, room_id)
    assert {after[s.user_id] for s in strangers} == {"leave"}
    assert after[federation.admin.user_id] == "join"
    assert after[bot_account.user_id] == "join"
    assert after[creator.user_id] == "invite"
    assert after[member.user_id] == "invite"
    assert run(federation, config, "plan", "--detailed-exitcode", env=bot_env).code == 0


def test_a_member_who_declines_is_not_invited_in_a_loop(federation: Federation, tmp_path: Path, prefix: str):
    person, other = federation.person("shy"), federation.person("other")
    alias = f"{prefix}-maintainers"
    room = {"alias": alias, "join_rule": "invite", "members": [person.user_id]}
    config = write_config(tmp_path, federation.home.server_name, [room])
    clean(run(federation, config, "sync"))
    room_id = resolve(federation.home, f"#{alias}:{federation.home.server_name}")
    wait_for_invite(federation.people, person, room_id)
    status, answer = federation.people.request("POST", f"{CLIENT}/rooms/{q(room_id)}/leave", person.token, body={})
    assert status == 200, answer
    deadline = time.monotonic() + 30
    while memberships(federation, room_id).get(person.user_id) != "leave" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert memberships(federation, room_id)[person.user_id] == "leave"

    for _ in range(2):  # plan and sync, twice: no invite goes out again
        planned = run(federation, config, "plan", "--detailed-exitcode")
        assert planned.code == 0, planned.out + planned.err
        assert "not invited again" in planned.out
        clean(run(federation, config, "sync"))
        assert memberships(federation, room_id)[person.user_id] == "leave"

    # Another member added: still no new invite for the one who declined.
    write_config(tmp_path, federation.home.server_name, [{**room, "members": [person.user_id, other.user_id]}])
    clean(run(federation, config, "sync"))
    assert memberships(federation, room_id)[person.user_id] == "leave"
    assert memberships(federation, room_id)[other.user_id] == "invite"
    # Taken out of members and put back: the declaration changed, so the invite is repeated.
    write_config(tmp_path, federation.home.server_name, [{**room, "members": [other.user_id]}])
    clean(run(federation, config, "sync"))
    write_config(tmp_path, federation.home.server_name, [{**room, "members": [person.user_id, other.user_id]}])
    clean(run(federation, config, "sync"))
    assert memberships(federation, room_id)[person.user_id] == "invite"


def test_import_writes_creators_and_members_and_the_round_trip_is_clean(
    federation: Federation, tmp_path: Path, prefix: str
):
    root, member = federation.person("root"), federation.person("member")
    alias = f"{prefix}-private"
    source = write_config(
        tmp_path / "source",
        federation.home.server_name,
        [{"alias": alias, "join_rule": "invite", "creators": [root.user_id], "members": [member.user_id]}],
    )
    clean(run(federation, source, "sync"))

    fresh = tmp_path / "fresh"
    (fresh / "rooms").mkdir(parents=True)
    (fresh / "roomsync.yaml").write_text(f"server_name: '{federation.home.server_name}'\n")
    imported = run(federation, fresh, "import", alias, "--out", str(fresh / "rooms" / "imported.yaml"))
    clean(imported)
    entry = yaml.safe_load((fresh / "rooms" / "imported.yaml").read_text())["rooms"][0]
    assert entry["creators"] == [root.user_id]
    assert entry["members"] == [member.user_id]
    assert run(federation, fresh, "plan", "--detailed-exitcode").code == 0
