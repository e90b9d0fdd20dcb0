"""Policy lists and bans against two real Synapses federating over loopback: the community's
homeserver holds the rooms, the people (and the spammers) are users of the second server."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import Account, Federation
from tests.integration.helpers import CLIENT, Result, resolve, roomsync, state, write_config
from tests.synapse import q


def run(federation: Federation, config: Path, *args: str) -> Result:
    return roomsync(config, *args, url=federation.home.url, token=federation.admin.token)


def clean(result: Result) -> Result:
    assert result.code == 0, result.out + result.err
    return result


def write_policies(config: Path, policies: dict[str, Any]) -> None:
    (config / "policies.yaml").write_text(yaml.safe_dump(policies, sort_keys=False), encoding="utf-8")


def join(federation: Federation, person: Account, alias: str) -> None:
    """A person of the people's server joins a room of ours, over federation."""
    status, answer = federation.people.request("POST", f"{CLIENT}/join/{q(alias)}", person.token, body={})
    assert status == 200, answer


def membership(federation: Federation, room_id: str, user: str) -> dict[str, Any]:
    return state(federation.home, federation.admin.token, room_id).get(("m.room.member", user), {})


def acl_of(federation: Federation, room_id: str) -> dict[str, Any] | None:
    return state(federation.home, federation.admin.token, room_id).get(("m.room.server_acl", ""))


def rules_of(federation: Federation, room_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    found = state(federation.home, federation.admin.token, room_id)
    return {key: content for key, content in found.items() if key[0].startswith("m.policy.rule.")}


def test_a_list_room_holds_exactly_the_rules_and_enforcement_bans_and_denies(
    federation: Federation, tmp_path: Path, prefix: str
):
    home, people = federation.home.server_name, federation.people.server_name
    friend, spammer, other_spammer = federation.person("friend"), federation.person("spam"), federation.person("spam")
    rooms = [
        {"alias": f"{prefix}-bans", "join_rule": "public", "power_levels": {"events_default": 50}},
        {"alias": f"{prefix}-a", "join_rule": "public"},
        {"alias": f"{prefix}-b", "join_rule": "public", "server_acl": {"deny": ["x.example"]}},
        {"alias": f"{prefix}-c", "join_rule": "public", "server_acl": {"follow_policies": False}},
    ]
    config = write_config(tmp_path / "c", home, rooms, groups={"friends": [friend.user_id]}, max_removals=1)
    rules = [
        {"user": f"@spam-*:{people}", "reason": "spam wave 2026-11"},
        {"server": "*.badhost.example", "reason": "open registration abused"},
        {"room": "#spam:example.net", "reason": "spam source"},
    ]
    write_policies(config, {"lists": [{"room": f"{prefix}-bans", "enforce": True, "rules": rules}]})
    clean(run(federation, config, "validate"))
    clean(run(federation, config, "sync"))

    bans = resolve(federation.home, f"#{prefix}-bans:{home}")
    a, b, c = (resolve(federation.home, f"#{prefix}-{x}:{home}") for x in "abc")
    assert rules_of(federation, bans) == {
        ("m.policy.rule.user", f"rule:@spam-*:{people}"): {
            "entity": f"@spam-*:{people}",
            "recommendation": "m.ban",
            "reason": "spam wave 2026-11",
        },
        ("m.policy.rule.server", "rule:*.badhost.example"): {
            "entity": "*.badhost.example",
            "recommendation": "m.ban",
            "reason": "open registration abused",
        },
        ("m.policy.rule.room", "rule:#spam:example.net"): {
            "entity": "#spam:example.net",
            "recommendation": "m.ban",
            "reason": "spam source",
        },
    }
    deny = {"allow": ["*"], "allow_ip_literals": False}
    assert acl_of(federation, a) == {**deny, "deny": ["*.badhost.example"]}
    assert acl_of(federation, b) == {**deny, "deny": ["x.example", "*.badhost.example"]}
    assert acl_of(federation, c) is None  # it opted out, and declares no ACL of its own

    # The spam wave: two matching accounts and a friend (a group member) join over federation.
    for person in (friend, spammer, other_spammer):
        join(federation, person, f"#{prefix}-a:{home}")
    planned = run(federation, config, "plan", "--format", "json")
    changes = {c["field"]: c for c in planned.json["changes"] if c.get("room_alias") == f"#{prefix}-a:{home}"}
    assert set(changes) == {f"ban.{spammer.user_id}", f"ban.{other_spammer.user_id}"}
    assert changes[f"ban.{spammer.user_id}"]["after"] == "banned"
    refused = run(federation, config, "sync")  # two bans: over max_removals 1
    assert refused.code != 0 and "max_removals" in refused.out + refused.err
    assert membership(federation, a, spammer.user_id)["membership"] == "join"
    clean(run(federation, config, "sync", "--allow-removals"))
    for person in (spammer, other_spammer):
        banned = membership(federation, a, person.user_id)
        assert banned["membership"] == "ban" and banned["reason"] == "spam wave 2026-11"
    assert membership(federation, a, friend.user_id)["membership"] == "join"
    assert membership(federation, a, federation.admin.user_id)["membership"] == "join"
    assert run(federation, config, "plan", "--detailed-exitcode").code == 0

    # A rule taken out of git is emptied in the list room, and its server leaves every ACL.
    write_policies(config, {"lists": [{"room": f"{prefix}-bans", "enforce": True, "rules": rules[:1]}]})
    planned = clean(run(federation, config, "plan"))
    assert 'rule.room.#spam:example.net: "spam source" -> (removed)' in planned.out
    assert 'rule.server.*.badhost.example: "open registration abused" -> (removed)' in planned.out
    clean(run(federation, config, "sync", "--allow-removals"))
    after = rules_of(federation, bans)
    assert after[("m.policy.rule.room", "rule:#spam:example.net")] == {}
    assert after[("m.policy.rule.server", "rule:*.badhost.example")] == {}
    assert acl_of(federation, a) == {**deny, "deny": []}
    assert acl_of(federation, b) == {**deny, "deny": ["x.example"]}
    assert run(federation, config, "plan", "--detailed-exitcode").code == 0

    # import writes each room's server_acl, and the round trip with the same policies is clean.
    fresh = tmp_path / "fresh"
    (fresh / "rooms").mkdir(parents=True)
    (fresh / "roomsync.yaml").write_text((config / "roomsync.yaml").read_text())
    (fresh / "policies.yaml").write_text((config / "policies.yaml").read_text())
    aliases = [room["alias"] for room in rooms]
    clean(run(federation, fresh, "import", *aliases, "--out", str(fresh / "rooms" / "imported.yaml")))
    imported = yaml.safe_load((fresh / "rooms" / "imported.yaml").read_text())["rooms"]
    assert next(r for r in imported if r["alias"] == f"{prefix}-b")["server_acl"]["deny"] == ["x.example"]
    assert run(federation, fresh, "plan", "--detailed-exitcode").code == 0


def test_a_rule_that_would_hit_our_people_is_refused_by_validate(federation: Federation, tmp_path: Path, prefix: str):
    home = federation.home.server_name
    friend = federation.person("friend")
    config = write_config(
        tmp_path / "c",
        home,
        [{"alias": f"{prefix}-bans"}, {"alias": f"{prefix}-room", "creators": [friend.user_id]}],
    )
    for rule, said in (
        ({"user": f"@{friend.user_id[1:4]}*"}, f"a creator of room '{prefix}-room' {friend.user_id}"),
        ({"user": f"@*:{home}"}, f"it matches accounts on {home}, this community's own homeserver"),
        ({"server": "localhost"}, f"the homeserver {home}"),
        ({"room": f"#{prefix}-*:{home}"}, "one of ours"),
    ):
        write_policies(config, {"lists": [{"room": f"{prefix}-bans", "rules": [{**rule, "reason": "r"}]}]})
        refused = run(federation, config, "validate")
        assert refused.code == 1 and said in refused.out + refused.err, refused.out + refused.err
        assert refused.err.count("\n") == 1 and re.match(r"^\S*policies\.yaml:4:\d+: ", refused.err), refused.err


def wait_until_joined(federation: Federation, room_id: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, answer = federation.home.request("GET", f"{CLIENT}/joined_rooms", federation.admin.token)
        if status == 200 and room_id in answer["joined_rooms"]:
            return
        time.sleep(0.2)
    raise AssertionError(f"the account never joined {room_id}")


def test_a_followed_list_of_another_user_is_read_and_applied_with_guarded_rules_skipped(
    federation: Federation, tmp_path: Path, prefix: str
):
    home, people = federation.home.server_name, federation.people.server_name
    keeper, friend, spammer = federation.person("keeper"), federation.person("friend"), federation.person("junk")
    # Another community's list, on the other server, made by one of its users.
    shared = f"#{prefix}-shared-bl:{people}"
    status, created = federation.people.request(
        "POST",
        f"{CLIENT}/createRoom",
        keeper.token,
        body={"room_alias_name": f"{prefix}-shared-bl", "preset": "public_chat"},
    )
    assert status == 200, created
    bot = f"@{prefix}-bot:{home}"
    followed_rules = {
        ("user", f"@junk-*:{people}"): "junk accounts",
        ("user", friend.user_id): "a mistake: one of our people",
        ("user", bot): "a mistake: our bot",
        ("server", "*.evil.example"): "spam host",
        ("server", "localhost"): "a mistake: our own server",
    }
    for (kind, entity), reason in followed_rules.items():
        body = {"entity": entity, "recommendation": "m.ban", "reason": reason}
        path = f"{CLIENT}/rooms/{q(created['room_id'])}/state/m.policy.rule.{kind}/{q('rule:' + entity)}"
        assert federation.people.request("PUT", path, keeper.token, body=body)[0] == 200

    config = write_config(
        tmp_path / "c", home, [{"alias": f"{prefix}-f", "join_rule": "public"}], groups={"ours": [friend.user_id]}
    )
    write_policies(config, {"follow": [shared]})
    bots = [{"name": "bot", "user": bot, "rooms": [f"{prefix}-f"], "create_account": True}]
    (config / "bots.yaml").write_text(yaml.safe_dump({"bots": bots}))
    first = clean(run(federation, config, "plan"))
    assert f"{shared} ({created['room_id']}) will be changed" in first.out and 'follow: (none) -> "joined"' in first.out
    assert "not applied in this run" in first.out
    clean(run(federation, config, "sync"))
    wait_until_joined(federation, created["room_id"])

    room = resolve(federation.home, f"#{prefix}-f:{home}")
    for person in (friend, spammer):
        join(federation, person, f"#{prefix}-f:{home}")
    planned = clean(run(federation, config, "plan", "--format", "json"))
    warnings = "\n".join(planned.json["warnings"])
    assert f"user rule {friend.user_id} of the followed list {shared} is skipped" in warnings
    assert f"server rule localhost of the followed list {shared} is skipped: it matches the homeserver" in warnings
    assert f"user rule {bot} of the followed list {shared} is skipped: it matches the bot bot {bot}" in warnings
    clean(run(federation, config, "sync"))
    banned = membership(federation, room, spammer.user_id)
    assert banned["membership"] == "ban" and banned["reason"] == "junk accounts"
    assert membership(federation, room, friend.user_id)["membership"] == "join"
    assert membership(federation, room, bot)["membership"] == "invite"  # invited (no token_env), never banned
    assert acl_of(federation, room) == {"allow": ["*"], "deny": ["*.evil.example"], "allow_ip_literals": False}
    again = run(federation, config, "plan", "--detailed-exitcode")
    assert again.code == 0, again.out + again.err


def test_a_followed_list_that_cannot_be_reached_is_a_note_and_the_rest_still_syncs(
    synapse, provisioner, tmp_path: Path, prefix: str
):
    from tests.conftest import SERVER_NAME

    config = write_config(tmp_path / "c", SERVER_NAME, [{"alias": f"{prefix}-r", "name": "R"}])
    write_policies(config, {"follow": ["#bl:nowhere.invalid"]})
    planned = roomsync(config, "plan", url=synapse.url, token=provisioner.token)
    assert planned.code == 0, planned.out + planned.err
    assert "the followed policy list #bl:nowhere.invalid is not applied in this run" in planned.out
    clean(roomsync(config, "sync", url=synapse.url, token=provisioner.token))
    room_id = resolve(synapse, f"#{prefix}-r:{SERVER_NAME}")
    assert state(synapse, provisioner.token, room_id)[("m.room.name", "")] == {"name": "R"}
