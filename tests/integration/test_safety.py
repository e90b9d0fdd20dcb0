"""roomsync's safety promises, end to end: the real CLI against the real Synapse.

1. Never destroy: a room roomsync created that disappears from git is only reported.
2. No self-lockout: a config that would lower the account's own power, or raise what
   changing power levels needs above it, is refused for that room before any request.
3. Admin floor (min_admins): a room left with no human at 100 is refused.
4. Removal guard (max_removals): sync refuses a plan that removes too much, changing nothing.
5. An alias that already points at another room is an error, never moved.

"Unchanged" is always checked with a plain HTTP client: the room's whole state, its
aliases and its directory listing before and after.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.integration.helpers import (
    joined_rooms,
    published,
    put_state,
    resolve,
    roomsync,
    state,
    write_config,
)
from tests.synapse import q

SERVER = "opendev.org"
CLIENT = "/_matrix/client/v3"


def full(localpart: str) -> str:
    return f"#{localpart}:{SERVER}"


def write_bots(directory: Path, bots: list[dict]) -> None:
    (directory / "bots.yaml").write_text(yaml.safe_dump({"bots": bots}, sort_keys=False))


def runner(synapse, provisioner, config: Path):
    return lambda *a: roomsync(config, *a, url=synapse.url, token=provisioner.token)


def snapshot(synapse, token: str, room_id: str) -> dict:
    """Everything about a room the tests assert stays the same."""
    return {"state": state(synapse, token, room_id), "published": published(synapse, room_id)}


def power_users(synapse, token: str, room_id: str) -> dict:
    return state(synapse, token, room_id)[("m.room.power_levels", "")].get("users", {})


def topic(synapse, token: str, room_id: str) -> str | None:
    return state(synapse, token, room_id).get(("m.room.topic", ""), {}).get("topic")


# --- 1. never destroy ------------------------------------------------------------------------


def test_room_removed_from_git_is_reported_and_left_alone(synapse, provisioner, make_user, prefix, tmp_path: Path):
    p, token = prefix, provisioner.token
    alice, bot = make_user("alice"), make_user("bot")
    space = {"alias": f"{p}-space", "type": "space"}
    keep = {"alias": f"{p}-keep", "topic": "still declared"}
    gone = {
        "alias": f"{p}-gone",
        "name": "Declared once",
        "topic": "declared once",
        "join_rule": "public",
        "directory": "public",
        "alt_aliases": [f"{p}-gone-alt"],
        "power_levels": {"users": {alice.user_id: 50}},
        "spaces": [f"{p}-space"],
    }
    config = write_config(tmp_path, SERVER, [space, keep, gone])
    write_bots(config, [{"name": "helper", "user": bot.user_id, "rooms": ["*"], "power_level": 20}])
    run = runner(synapse, provisioner, config)
    first = run("sync")
    assert first.code == 0, first.out + first.err
    space_id, gone_id = resolve(synapse, full(f"{p}-space")), resolve(synapse, full(f"{p}-gone"))
    assert gone_id and space_id
    assert ("dev.roomsync.managed", "") in state(synapse, token, gone_id)

    # Drift by hand after it left git: nothing may revert it either.
    put_state(synapse, token, gone_id, "m.room.topic", {"topic": "edited after it left git"})
    pl = state(synapse, token, gone_id)[("m.room.power_levels", "")]
    pl["users"][make_user("eve").user_id] = 75
    put_state(synapse, token, gone_id, "m.room.power_levels", pl)

    write_config(tmp_path, SERVER, [space, keep])  # gone is no longer declared
    before_gone, before_space = snapshot(synapse, token, gone_id), snapshot(synapse, token, space_id)
    joined_before = joined_rooms(synapse, token)

    planned = run("plan", "--detailed-exitcode")
    assert planned.code == 0, planned.out + planned.err  # a warning is not a change
    assert (
        f"{full(f'{p}-gone')} ({gone_id}) was created or adopted by roomsync but is no longer declared" in planned.out
    )
    assert "Warnings:" in planned.out
    doc = run("plan", "--format", "json").json
    assert any(gone_id in w and "no longer declared" in w for w in doc["warnings"])
    assert gone_id not in {r["room_id"] for r in doc["rooms"]}
    assert not any(c["room_id"] == gone_id for c in doc["changes"])

    synced = run("sync")
    assert synced.code == 0, synced.out + synced.err
    # Only the (indented) warning may name it: no "~"/"!" plan heading, no result line.
    assert not [line for line in synced.out.splitlines() if gone_id in line and not line.startswith("  ")]
    assert snapshot(synapse, token, gone_id) == before_gone, "sync changed a room that is no longer declared"
    assert snapshot(synapse, token, space_id) == before_space, "the space's link to it must stay"
    assert joined_rooms(synapse, token) == joined_before, "the account must not leave it"
    assert resolve(synapse, full(f"{p}-gone")) == gone_id
    assert resolve(synapse, full(f"{p}-gone-alt")) == gone_id
    members = before_gone["state"]
    assert members[("m.room.member", bot.user_id)]["membership"] == "invite", "the bot is not kicked from it"
    assert run("plan", "--detailed-exitcode").code == 0


# --- 2. no self-lockout ------------------------------------------------------------------------


def test_self_lockout_in_existing_rooms_is_refused_before_any_request(
    synapse, provisioner, make_user, prefix, tmp_path: Path
):
    p, token, me = prefix, provisioner.token, provisioner.user_id
    alice = make_user("alice").user_id
    initial = [
        {"alias": f"{p}-low", "room_version": "10", "topic": "t0", "power_levels": {"users": {alice: 100}}},
        {"alias": f"{p}-state", "room_version": "10", "topic": "t0"},
        {"alias": f"{p}-events", "room_version": "10", "topic": "t0"},
        {"alias": f"{p}-other", "topic": "before"},
    ]
    config = write_config(tmp_path, SERVER, initial)
    run = runner(synapse, provisioner, config)
    first = run("sync")
    assert first.code == 0, first.out + first.err
    ids = {r["alias"]: resolve(synapse, full(r["alias"])) for r in initial}
    # An authoritative users list that leaves the account out keeps it at 100 (v10 lists the creator).
    assert power_users(synapse, token, ids[f"{p}-low"]) == {alice: 100, me: 100}

    refused = [
        {"alias": f"{p}-low", "room_version": "10", "topic": "t1", "power_levels": {"users": {me: 50, alice: 100}}},
        {"alias": f"{p}-state", "room_version": "10", "topic": "t1", "power_levels": {"state_default": 150}},
        {
            "alias": f"{p}-events",
            "room_version": "10",
            "topic": "t1",
            "power_levels": {"events": {"m.room.power_levels": 150}},
        },
        {"alias": f"{p}-other", "topic": "after"},
    ]
    write_config(tmp_path, SERVER, refused)
    before = {alias: snapshot(synapse, token, ids[alias]) for alias in (f"{p}-low", f"{p}-state", f"{p}-events")}

    planned = run("plan")
    assert planned.code == 1, planned.out + planned.err
    doc = run("plan", "--format", "json").json
    errors = {r["alias"]: " ".join(r["errors"]) for r in doc["rooms"]}
    assert "never lowers its own power" in errors[full(f"{p}-low")] and me in errors[full(f"{p}-low")]
    assert "state_default" in errors[full(f"{p}-state")] and "needs power" in errors[full(f"{p}-state")]
    assert "m.room.power_levels" in errors[full(f"{p}-events")] and "needs power" in errors[full(f"{p}-events")]
    assert errors[full(f"{p}-other")] == ""
    assert {r["alias"]: r["action"] for r in doc["rooms"]}[full(f"{p}-other")] == "change"

    synced = run("sync")
    assert synced.code == 1, synced.out + synced.err
    assert "Sync: 0 created, 1 changed, 3 failed." in synced.out
    for alias, snap in before.items():
        assert f"FAILED  {full(alias)}" in synced.out
        assert snapshot(synapse, token, ids[alias]) == snap, f"{alias} changed although it was refused"
    assert topic(synapse, token, ids[f"{p}-other"]) == "after", "the other rooms still go through"
    assert power_users(synapse, token, ids[f"{p}-low"])[me] == 100


def test_self_lockout_at_creation_is_refused(synapse, provisioner, make_user, prefix, tmp_path: Path):
    p, token, me = prefix, provisioner.token, provisioner.user_id
    alice = make_user("alice").user_id
    rooms = [
        {"alias": f"{p}-state", "room_version": "10", "power_levels": {"state_default": 150}},
        {"alias": f"{p}-events", "room_version": "10", "power_levels": {"events": {"m.room.power_levels": 150}}},
        {"alias": f"{p}-low", "room_version": "10", "power_levels": {"users": {me: 50, alice: 100}}},
        {
            "alias": f"{p}-fine",
            "room_version": "10",
            "topic": "fine",
            "power_levels": {"state_default": 100, "users": {alice: 100}},
        },
    ]
    config = write_config(tmp_path, SERVER, rooms)
    run = runner(synapse, provisioner, config)
    joined_before = joined_rooms(synapse, token)

    planned = run("plan")
    assert planned.code == 1, planned.out + planned.err
    errors = {r["alias"]: " ".join(r["errors"]) for r in run("plan", "--format", "json").json["rooms"]}
    assert "lock itself out" in errors[full(f"{p}-state")]
    assert "lock itself out" in errors[full(f"{p}-events")]
    assert "never lowers its own power" in errors[full(f"{p}-low")]
    assert errors[full(f"{p}-fine")] == ""

    synced = run("sync")
    assert synced.code == 1, synced.out + synced.err
    assert "Sync: 1 created, 0 changed, 3 failed." in synced.out
    for alias in (f"{p}-state", f"{p}-events", f"{p}-low"):
        assert resolve(synapse, full(alias)) is None, f"{alias} was created although refused"
    fine = resolve(synapse, full(f"{p}-fine"))
    assert fine and joined_rooms(synapse, token) == joined_before | {fine}, "exactly one room was created"
    assert power_users(synapse, token, fine) == {alice: 100, me: 100}
    assert state(synapse, token, fine)[("m.room.power_levels", "")]["state_default"] == 100


# --- 3. admin floor ----------------------------------------------------------------------------


def test_min_admins_refuses_rooms_without_a_human_admin(synapse, provisioner, make_user, prefix, tmp_path: Path):
    p, token, me = prefix, provisioner.token, provisioner.user_id
    alice, bob, bot = make_user("alice").user_id, make_user("bob").user_id, make_user("bot").user_id
    rooms = [
        {"alias": f"{p}-robots", "power_levels": {"users": {me: 100, bot: 100}}},
        {"alias": f"{p}-v10", "room_version": "10", "power_levels": {"users": {me: 100}}},
        {"alias": f"{p}-nobody", "power_levels": {"users": {bob: 50}}},
        {"alias": f"{p}-human", "topic": "t0", "power_levels": {"users": {alice: 100, bob: 50}}},
    ]
    config = write_config(tmp_path, SERVER, rooms, min_admins=1)
    write_bots(config, [{"name": "opbot", "user": bot, "rooms": ["*"], "power_level": 100}])
    run = runner(synapse, provisioner, config)

    planned = run("plan")
    assert planned.code == 1, planned.out + planned.err
    errors = {r["alias"]: " ".join(r["errors"]) for r in run("plan", "--format", "json").json["rooms"]}
    for alias in (f"{p}-robots", f"{p}-v10", f"{p}-nobody"):
        assert "min_admins" in errors[full(alias)], (alias, errors)
    assert errors[full(f"{p}-human")] == ""

    synced = run("sync")
    assert synced.code == 1
    # The room created, and opbot's changes (its account made a bot, its membership): counted as
    # bot changes, in the plan's words.
    assert re.search(r"^Sync: 1 created, 0 changed, 3 failed\. \d+ bot changes\.$", synced.out, re.M), synced.out
    for alias in (f"{p}-robots", f"{p}-v10", f"{p}-nobody"):
        assert resolve(synapse, full(alias)) is None
    human = resolve(synapse, full(f"{p}-human"))
    assert power_users(synapse, token, human) == {alice: 100, bob: 50, bot: 100}

    # The room exists now; a change that would drop its only human admin is refused too.
    write_config(
        tmp_path,
        SERVER,
        [{"alias": f"{p}-human", "topic": "t1", "power_levels": {"users": {bob: 50, bot: 100}}}],
        min_admins=1,
    )
    write_bots(config, [{"name": "opbot", "user": bot, "rooms": ["*"], "power_level": 100}])
    before = snapshot(synapse, token, human)
    planned = run("plan")
    assert planned.code == 1 and "min_admins is 1" in planned.out, planned.out
    assert run("sync").code == 1
    assert snapshot(synapse, token, human) == before

    # With another human at 100 it passes.
    write_config(
        tmp_path, SERVER, [{"alias": f"{p}-human", "topic": "t1", "power_levels": {"users": {bob: 100}}}], min_admins=1
    )
    synced = run("sync")
    assert synced.code == 0, synced.out + synced.err
    assert power_users(synapse, token, human) == {bob: 100, bot: 100}
    assert run("plan", "--detailed-exitcode").code == 0


# --- 4. removal guard --------------------------------------------------------------------------


def test_max_removals_blocks_the_whole_sync(synapse, provisioner, make_user, prefix, tmp_path: Path):
    p, token = prefix, provisioner.token
    a, b, c, d, e = (make_user(n).user_id for n in "abcde")
    rooms = [
        {"alias": f"{p}-pl", "power_levels": {"users": {a: 50, b: 50, c: 50, d: 50, e: 50}}},
        {"alias": f"{p}-other", "topic": "before"},
    ]
    config = write_config(tmp_path, SERVER, rooms, max_removals=2)
    run = runner(synapse, provisioner, config)
    assert run("sync").code == 0
    pl_id, other_id = resolve(synapse, full(f"{p}-pl")), resolve(synapse, full(f"{p}-other"))

    rooms = [{"alias": f"{p}-pl", "power_levels": {"users": {d: 50, e: 50}}}, {"alias": f"{p}-other", "topic": "after"}]
    write_config(tmp_path, SERVER, rooms, max_removals=2)
    before = {pl_id: snapshot(synapse, token, pl_id), other_id: snapshot(synapse, token, other_id)}

    planned = run("plan", "--detailed-exitcode")
    assert planned.code == 2, planned.out + planned.err
    assert "Removals: 3 (sync allows 2 without --allow-removals)" in planned.out
    summary = run("plan", "--format", "json").json["summary"]
    assert (summary["removals"], summary["max_removals"]) == (3, 2)

    refused = run("sync")
    assert refused.code == 1, refused.out + refused.err
    assert "max_removals" in refused.err and "Traceback" not in refused.err
    assert {rid: snapshot(synapse, token, rid) for rid in before} == before, "a refused sync changed something"

    allowed = run("sync", "--allow-removals")
    assert allowed.code == 0, allowed.out + allowed.err
    assert power_users(synapse, token, pl_id) == {d: 50, e: 50}
    assert topic(synapse, token, other_id) == "after"
    assert run("plan", "--detailed-exitcode").code == 0

    # Exactly max_removals is allowed without the flag.
    write_config(tmp_path, SERVER, [{"alias": f"{p}-pl", "power_levels": {"users": {}}}], max_removals=2)
    planned = run("plan")
    assert "Removals: 2 (sync allows 2 without --allow-removals)" in planned.out
    at_limit = run("sync")
    assert at_limit.code == 0, at_limit.out + at_limit.err
    assert power_users(synapse, token, pl_id) == {}


def test_default_max_removals_counts_every_kind_of_removal(synapse, provisioner, make_user, prefix, tmp_path: Path):
    """5 power-level users + 3 alt aliases + 2 space links + 1 bot kicked = 11 > the default 10."""
    p, token = prefix, provisioner.token
    users = [make_user(f"u{i}").user_id for i in range(5)]
    bot = make_user("bot").user_id
    space = {"alias": f"{p}-space", "type": "space"}
    room = {
        "alias": f"{p}-room",
        "power_levels": {"users": {u: 50 for u in users}},
        "alt_aliases": [f"{p}-alt{i}" for i in range(3)],
        "spaces": [f"{p}-space"],
    }
    config = write_config(tmp_path, SERVER, [space, room])
    write_bots(config, [{"name": "helper", "user": bot, "rooms": [f"{p}-room"]}])
    run = runner(synapse, provisioner, config)
    first = run("sync")
    assert first.code == 0, first.out + first.err
    space_id, room_id = resolve(synapse, full(f"{p}-space")), resolve(synapse, full(f"{p}-room"))
    assert state(synapse, token, room_id)[("m.room.member", bot)]["membership"] == "invite"

    write_config(tmp_path, SERVER, [space, {"alias": f"{p}-room", "power_levels": {"users": {}}, "alt_aliases": []}])
    write_bots(config, [{"name": "helper", "user": bot, "rooms": [f"{p}-space"]}])
    before = {space_id: snapshot(synapse, token, space_id), room_id: snapshot(synapse, token, room_id)}

    planned = run("plan", "--detailed-exitcode")
    assert planned.code == 2, planned.out + planned.err
    assert "Removals: 11 (sync allows 10 without --allow-removals)" in planned.out

    refused = run("sync")
    assert refused.code == 1, refused.out + refused.err
    assert "max_removals 10" in refused.err
    assert {rid: snapshot(synapse, token, rid) for rid in before} == before, "a refused sync changed something"
    for i in range(3):
        assert resolve(synapse, full(f"{p}-alt{i}")) == room_id

    allowed = run("sync", "--allow-removals")
    assert allowed.code == 0, allowed.out + allowed.err
    live = state(synapse, token, room_id)
    assert live[("m.room.power_levels", "")].get("users", {}) == {}
    assert live[("m.room.canonical_alias", "")].get("alt_aliases", []) == []
    assert live[("m.room.member", bot)]["membership"] == "leave"
    assert not any(t == "m.space.parent" and content for (t, _), content in live.items())
    assert not state(synapse, token, space_id).get(("m.space.child", room_id))
    for i in range(3):
        assert resolve(synapse, full(f"{p}-alt{i}")) is None
    assert run("plan", "--detailed-exitcode").code == 0


# --- 5. an alias of another room is never moved --------------------------------------------------


def test_alias_of_another_room_is_an_error_and_never_moved(synapse, provisioner, make_user, prefix, tmp_path: Path):
    p, token = prefix, provisioner.token
    owner = make_user("owner")
    # X: the account's own hand-made room, listing the alias in its canonical_alias event.
    status, answer = synapse.request("POST", f"{CLIENT}/createRoom", token, body={"room_alias_name": f"{p}-x"})
    assert status == 200, answer
    x_id = answer["room_id"]
    for alt in (f"{p}-taken1", f"{p}-taken3"):
        status, answer = synapse.request(
            "PUT", f"{CLIENT}/directory/room/{q(full(alt))}", token, body={"room_id": x_id}
        )
        assert status == 200, answer
    put_state(
        synapse,
        token,
        x_id,
        "m.room.canonical_alias",
        {"alias": full(f"{p}-x"), "alt_aliases": [full(f"{p}-taken1"), full(f"{p}-taken3")]},
    )
    # Y: someone else's room the account is not in, with two plain directory aliases.
    status, answer = synapse.request(
        "POST", f"{CLIENT}/createRoom", owner.token, body={"room_alias_name": f"{p}-taken2"}
    )
    assert status == 200, answer
    y_id = answer["room_id"]
    status, answer = synapse.request(
        "PUT", f"{CLIENT}/directory/room/{q(full(f'{p}-taken4'))}", owner.token, body={"room_id": y_id}
    )
    assert status == 200, answer

    existing = [
        {"alias": f"{p}-r1", "topic": "t0"},
        {"alias": f"{p}-r2", "topic": "t0"},
        {"alias": f"{p}-fine", "topic": "t0"},
    ]
    config = write_config(tmp_path, SERVER, existing)
    run = runner(synapse, provisioner, config)
    assert run("sync").code == 0
    ids = {r["alias"]: resolve(synapse, full(r["alias"])) for r in existing}

    rooms = [
        {"alias": f"{p}-r1", "topic": "t1", "alt_aliases": [f"{p}-taken1", f"{p}-free1"]},
        {"alias": f"{p}-r2", "topic": "t1", "alt_aliases": [f"{p}-taken2"]},
        {"alias": f"{p}-new", "topic": "new", "alt_aliases": [f"{p}-taken3"]},
        {"alias": f"{p}-new2", "alt_aliases": [f"{p}-taken4"]},
        {"alias": f"{p}-fine", "topic": "t1", "alt_aliases": [f"{p}-free2"]},
    ]
    write_config(tmp_path, SERVER, rooms)
    before = {alias: snapshot(synapse, token, ids[alias]) for alias in (f"{p}-r1", f"{p}-r2")}
    x_before = snapshot(synapse, token, x_id)

    planned = run("plan")
    assert planned.code == 1, planned.out + planned.err
    as_json = run("plan", "--format", "json")
    assert as_json.out, as_json.err
    errors = {r["alias"]: " ".join(r["errors"]) for r in as_json.json["rooms"]}
    for alias, other in ((f"{p}-r1", x_id), (f"{p}-r2", y_id), (f"{p}-new", x_id), (f"{p}-new2", y_id)):
        assert "already points at another room" in errors[full(alias)] and other in errors[full(alias)], alias
    assert errors[full(f"{p}-fine")] == ""

    synced = run("sync")
    assert synced.code == 1, synced.out + synced.err
    assert "Sync: 0 created, 1 changed, 4 failed." in synced.out
    assert resolve(synapse, full(f"{p}-taken1")) == x_id, "the alias was moved"
    assert resolve(synapse, full(f"{p}-taken2")) == y_id, "the alias was moved"
    assert resolve(synapse, full(f"{p}-taken3")) == x_id, "the alias was moved"
    assert resolve(synapse, full(f"{p}-taken4")) == y_id, "the alias was moved"
    assert snapshot(synapse, token, x_id) == x_before
    for alias, snap in before.items():
        assert snapshot(synapse, token, ids[alias]) == snap
    assert resolve(synapse, full(f"{p}-free1")) is None, "nothing of a refused room is done"
    assert resolve(synapse, full(f"{p}-new")) is None and resolve(synapse, full(f"{p}-new2")) is None
    assert resolve(synapse, full(f"{p}-free2")) == ids[f"{p}-fine"], "the other rooms still go through"
    assert topic(synapse, token, ids[f"{p}-fine"]) == "t1"


def test_bot_entry_for_the_account_itself_never_lowers_or_removes_it(
    synapse, provisioner, make_user, prefix, tmp_path: Path
):
    """bots.yaml naming the provisioning account (e.g. the observer entry with the wrong user id).

    roomsync never lowers its own power and never leaves a room: a bot entry for the account
    at power 0 must not take its 100 away in a v10 room (where the creator is listed), and
    taking that "bot" off a room must not make the account kick itself out of it.
    Acceptable outcomes: validate refuses the bots.yaml, or plan reports an error for the
    rooms, or sync leaves the account's power and membership alone.
    """
    p, token, me = prefix, provisioner.token, provisioner.user_id
    alice = make_user("alice").user_id
    rooms = [
        {"alias": f"{p}-a", "room_version": "10", "topic": "t0", "power_levels": {"users": {alice: 100}}},
        {"alias": f"{p}-b", "room_version": "10", "topic": "t0"},
        {"alias": f"{p}-c", "topic": "t0"},
    ]  # the default version 12: the account is its creator
    config = write_config(tmp_path, SERVER, rooms)
    run = runner(synapse, provisioner, config)
    assert run("sync").code == 0
    a_id, b_id, c_id = (resolve(synapse, full(f"{p}-{x}")) for x in "abc")
    assert power_users(synapse, token, a_id)[me] == 100

    write_bots(config, [{"name": "observer", "user": me, "rooms": [f"{p}-a"], "power_level": 0}])
    planned = run("plan")
    synced = run("sync")
    problems = []
    if power_users(synapse, token, a_id).get(me) != 100:
        problems.append(f"a (v10): the account's power went 100 -> {power_users(synapse, token, a_id).get(me)}")
    if power_users(synapse, token, b_id).get(me) != 100:
        problems.append(f"b (v10): the account's power went 100 -> {power_users(synapse, token, b_id).get(me)}")
    left = {name for name, rid in (("a", a_id), ("b", b_id), ("c", c_id)) if rid not in joined_rooms(synapse, token)}
    if left:
        problems.append(f"the account kicked itself out of {sorted(left)}")
    assert not problems, (problems, planned.out, synced.out)


def test_lowering_users_default_never_lowers_the_account(synapse, provisioner, make_user, prefix, tmp_path: Path):
    """An adopted room where the account's 100 comes from users_default, not from a users entry.

    Declaring users_default 0 (with or without an authoritative users list) would take the
    account's power away like listing it lower would: refused, or the account keeps 100.
    """
    p, token, me = prefix, provisioner.token, provisioner.user_id
    alice = make_user("alice")
    ids = {}
    for name in ("plain", "users"):
        status, answer = synapse.request(
            "POST",
            f"{CLIENT}/createRoom",
            alice.token,
            body={
                "room_alias_name": f"{p}-{name}",
                "room_version": "10",
                "preset": "public_chat",
                "power_level_content_override": {"users_default": 100, "users": {alice.user_id: 100}},
            },
        )
        assert status == 200, answer
        ids[name] = answer["room_id"]
        assert synapse.request("POST", f"{CLIENT}/join/{q(ids[name])}", token, body={})[0] == 200
    rooms = [
        {"alias": f"{p}-plain", "topic": "t1", "power_levels": {"users_default": 0}},
        {"alias": f"{p}-users", "topic": "t1", "power_levels": {"users_default": 0, "users": {alice.user_id: 100}}},
    ]
    config = write_config(tmp_path, SERVER, rooms)
    run = runner(synapse, provisioner, config)
    planned = run("plan")
    synced = run("sync")
    levels = {}
    for name, room_id in ids.items():
        pl = state(synapse, token, room_id)[("m.room.power_levels", "")]
        levels[name] = pl.get("users", {}).get(me, pl.get("users_default", 0))
    assert levels == {"plain": 100, "users": 100}, (levels, planned.out, synced.out)
