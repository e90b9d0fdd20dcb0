"""Reading live state: cost in requests, concurrency, and rate limits, against real Synapses."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from roomsync.client import AuthError, Homeserver, ReadOnlyHomeserver
from roomsync.config import load_config
from roomsync.live import LiveRoom, Snapshot
from roomsync.observe import read_snapshot
from roomsync.plan import make_plan
from tests.integration.helpers import joined_rooms, resolve, roomsync, write_config
from tests.synapse import SynapseServer, q

CLIENT = "/_matrix/client/v3"

SERVER = "opendev.org"


def plan_in_process(url: str, token: str, config_dir: Path, sliding: bool | None = None, one_pass: bool | None = None):
    """A plan in this process, returning the client to count its requests. sliding=False reads
    as against a server without sliding sync (a filtered /sync, then each room's whole state);
    one_pass forces the read strategy (client/strategy.py) instead of choosing it."""

    async def go():
        async with Homeserver(url, token) as hs:
            hs.sliding, hs.one_pass = sliding, one_pass
            snapshot = await read_snapshot(hs, load_config(config_dir))
            return make_plan(load_config(config_dir), snapshot), hs

    return asyncio.run(go())


def test_plan_requests_follow_the_declared_rooms_not_other_rooms_or_members(
    synapse, provisioner, make_user, prefix, tmp_path
):
    rooms = [
        {
            "alias": f"{prefix}-r{i}",
            "topic": f"room {i}",
            "directory": "public" if i % 2 else "private",
            "alt_aliases": [f"{prefix}-alt{i}"],
            "join_rule": "public",
        }
        for i in range(30)
    ]
    bots = [make_user(f"bot{i}") for i in range(2)]
    config = write_config(tmp_path, SERVER, rooms)
    (config / "bots.yaml").write_text(
        yaml.safe_dump(
            {
                "bots": [
                    {
                        "name": f"bot{i}",
                        "user": bot.user_id,
                        "rooms": ["*"],
                        "display_name": f"Bot {i}",
                        "token_env": f"BOT{i}_TOKEN",
                    }
                    for i, bot in enumerate(bots)
                ]
            }
        )
    )
    account = make_user("prov")
    env = {f"BOT{i}_TOKEN": bot.token for i, bot in enumerate(bots)}
    assert roomsync(config, "sync", url=synapse.url, token=account.token, env=env).code == 0

    def cost(sliding: bool | None = None, one_pass: bool | None = None) -> int:
        plan, hs = plan_in_process(synapse.url, account.token, config, sliding, one_pass)
        assert not plan.has_errors and not plan.has_changes, plan
        if sliding is False:
            assert hs.peak_in_flight >= 10, "state reads must overlap"
        return hs.requests

    # Two passes: whoami, the joined rooms, which are declared (sliding sync), their state (sliding
    # sync), the admin room list (refused: not a server admin, so no other admin request is sent:
    # not the bots' accounts, not whether the account is exempt from rate limits), /publicRooms,
    # and one profile per bot.
    two = cost(one_pass=False)
    assert two == 1 + 1 + 1 + 1 + 1 + 1 + 2
    # One pass: the state of every joined room in one request, which tells the declared ones apart.
    assert cost(one_pass=True) == two - 1
    # Without sliding sync: one filtered /sync, then one state read per declared room; or in one
    # pass, one state read per joined room.
    fallback = cost(sliding=False, one_pass=False)
    assert fallback == 1 + 1 + 1 + 30 + 1 + 1 + 2 <= len(rooms) + len(bots) + 10
    assert cost(sliding=False, one_pass=True) == fallback - 1
    # The account has joined no other room: one pass is the cheaper, and chosen, whatever the link.
    assert (cost(), cost(sliding=False)) == (two - 1, fallback - 1)

    # Rooms the account joined that the config does not name, and members by the hundred: the
    # same number of requests in two passes, and two passes chosen unless a round trip costs
    # more than reading the state of the rooms nobody declared.
    for i in range(40):
        status, answer = synapse.request(
            "POST", f"{CLIENT}/createRoom", account.token, body={"preset": "private_chat", "name": f"other {i}"}
        )
        assert status == 200, answer
    crowded = resolve(synapse, f"#{prefix}-r1:{SERVER}")
    for _ in range(60):
        member = make_user("member")
        assert synapse.request("POST", f"{CLIENT}/join/{q(crowded)}", member.token, body={})[0] == 200
    assert (cost(one_pass=False), cost(sliding=False, one_pass=False)) == (two, fallback)
    assert cost(one_pass=True) == two - 1 and cost(sliding=False, one_pass=True) == fallback - 1 + 40
    assert cost() in (two, two - 1)

    # A server admin answers directory visibility in one request, however many rooms it joined.
    own = write_config(
        tmp_path / "admin", SERVER, [{"alias": f"{prefix}-a{i}", "directory": "public"} for i in range(5)]
    )
    assert roomsync(own, "sync", url=synapse.url, token=provisioner.token).code == 0
    for _ in range(10):
        assert synapse.request("POST", f"{CLIENT}/createRoom", provisioner.token, body={})[0] == 200
    assert len(joined_rooms(synapse, provisioner.token)) >= 15
    # The read is forced: which one a run chooses depends on the round trip's time (the shared
    # account has joined other tests' rooms too), the admin's requests do not.
    plan, hs = plan_in_process(synapse.url, provisioner.token, own, one_pass=False)
    assert not plan.has_changes and not plan.has_errors
    assert hs.requests == 1 + 2 + 1 + 1 + 1  # whoami, joined rooms (2), their state, admin room list, exemption
    plan, hs = plan_in_process(synapse.url, provisioner.token, own, one_pass=True)
    assert not plan.has_changes and not plan.has_errors
    assert hs.requests == 1 + 1 + 1 + 1 + 1  # whoami, joined rooms with their state, admin room list, exemption


# Synapse's default limits, but for events (state, and createRoom counts too): 8 rooms send 16, so
# with a burst of 15 exactly the last one is refused, and at 0.05/s it waits ~20 s (the default's
# ~5 s wait is announced or not depending on the machine's speed, as waits of 5 s or more are).
EVENTS = {"per_second": 0.05, "burst_count": 15}


def test_sync_completes_under_default_rate_limits(tmp_path_factory, prefix):
    server = SynapseServer(
        tmp_path_factory.mktemp("limited"), server_name=SERVER, rate_limited=True, limits={"rc_message": EVENTS}
    )
    server.start()
    try:
        token = server.register("roomsync", admin=True)
        rooms = [
            {"alias": f"{prefix}-l{i}", "name": f"Limited {i}", "topic": "t", "alt_aliases": [f"{prefix}-l{i}-alt"]}
            for i in range(8)
        ]
        config = write_config(tmp_path_factory.mktemp("cfg"), SERVER, rooms)
        result = roomsync(config, "-v", "sync", url=server.url, token=token)
        assert result.code == 0, result.out + result.err
        assert "Sync: 8 created" in result.out
        assert "rate limited" in result.err, "the test must really meet the limiter"
        assert token not in result.out + result.err
        # Off a terminal (as in CI) every room done and every wait is a plain line of its own.
        assert "\r" not in result.err and "\x1b" not in result.err
        progress = [line for line in result.err.splitlines() if line.startswith("roomsync: [")]
        assert len(progress) == 8 and progress[-1].startswith("roomsync: [8/8] #"), result.err
        assert "waiting" in result.err and "the homeserver's rate limit" in result.err
        again = roomsync(config, "plan", "--detailed-exitcode", url=server.url, token=token)
        assert again.code == 0, again.out
        assert all(resolve(server, f"#{prefix}-l{i}-alt:{SERVER}") for i in range(8))
    finally:
        server.stop()


def test_every_read_strategy_gives_the_same_snapshot(synapse, provisioner, make_user, prefix, tmp_path):
    """One pass or two, with sliding sync or without it: the planner gets the same snapshot."""
    bot, member, stranger = make_user("bot"), make_user("member"), make_user("stranger")
    rooms = [
        {"alias": f"{prefix}-hub", "type": "space", "name": "Hub", "directory": "public"},
        {
            "alias": f"{prefix}-a",
            "topic": "a",
            "alt_aliases": [f"{prefix}-a-alt"],
            "spaces": [f"{prefix}-hub"],
            "join_rule": "public",
            "state": [{"type": "m.room.pinned_events", "content": {"pinned": []}}],
        },
        {"alias": f"{prefix}-b", "topic": "b", "members": [member.user_id], "members_exclusive": True},
        {"alias": f"{prefix}-c", "name": "C", "power_levels": {"ban": 50}, "directory": "private"},
        {"alias": f"{prefix}-new", "topic": "not created yet"},
    ]
    config = write_config(tmp_path, SERVER, rooms[:4])
    bots = [{"name": "bot", "user": bot.user_id, "rooms": ["*"], "token_env": "BOT_TOKEN"}]
    (config / "bots.yaml").write_text(yaml.safe_dump({"bots": bots}))
    synced = roomsync(config, "sync", url=synapse.url, token=provisioner.token, env={"BOT_TOKEN": bot.token})
    assert synced.code == 0, synced.out + synced.err
    # A room the config no longer names (its marker stays), one it never named, members it does not
    # name (one in the exclusive room, others elsewhere), and a room still to create.
    write_config(tmp_path, SERVER, [rooms[0], rooms[1], rooms[2], rooms[4]])
    (config / "bots.yaml").write_text(yaml.safe_dump({"bots": bots}))
    assert synapse.request("POST", f"{CLIENT}/createRoom", provisioner.token, body={"name": "other"})[0] == 200
    a_id, b_id = resolve(synapse, f"#{prefix}-a:{SERVER}"), resolve(synapse, f"#{prefix}-b:{SERVER}")
    assert synapse.request("POST", f"{CLIENT}/join/{q(a_id)}", stranger.token, body={})[0] == 200
    invite = {"user_id": stranger.user_id}
    assert synapse.request("POST", f"{CLIENT}/rooms/{q(b_id)}/invite", provisioner.token, body=invite)[0] == 200

    async def snapshot(sliding: bool | None, one_pass: bool) -> Snapshot:
        async with Homeserver(synapse.url, provisioner.token) as hs:
            hs.sliding, hs.one_pass = sliding, one_pass
            found = await read_snapshot(hs, load_config(config))
            assert hs.sliding is (sliding is not False)
            return found

    snapshots = {
        (sliding, one_pass): asyncio.run(snapshot(sliding, one_pass))
        for sliding in (None, False)
        for one_pass in (True, False)
    }
    first = snapshots[(None, True)]
    assert all(found == first for found in snapshots.values()), [k for k, v in snapshots.items() if v != first]
    # ... and it is a snapshot worth comparing: the rooms with their state and members, the link of
    # the space, the room left behind, the room to create.
    hub, a, b_room = (first.rooms[f"{prefix}-{x}"] for x in ("hub", "a", "b"))
    assert isinstance(hub, LiveRoom) and isinstance(a, LiveRoom) and isinstance(b_room, LiveRoom)
    assert a.room_id in hub.children() and a.alt_aliases == (f"#{prefix}-a-alt:{SERVER}",)
    assert a.content("m.room.pinned_events") == {"pinned": []} and a.membership(bot.user_id) == "join"
    assert b_room.members("invite") == {member.user_id: "invite", stranger.user_id: "invite"}
    assert stranger.user_id not in a.members("join", "invite"), "only the members asked about are read"
    assert hub.published is True
    assert f"{prefix}-new" not in first.rooms and f"#{prefix}-new:{SERVER}" not in first.alias_owner
    c_id = resolve(synapse, f"#{prefix}-c:{SERVER}")
    assert {a_id, b_id, c_id, hub.room_id} <= {room_id for _, room_id in first.managed_rooms}


def test_a_client_without_a_token_reads_what_anyone_may_and_names_the_variable_for_the_rest(
    synapse, provisioner, prefix
):
    """How a plan reads a mirror whose token is not set: no Authorization header at all."""
    status, answer = synapse.request(
        "POST", f"{CLIENT}/createRoom", provisioner.token, body={"room_alias_name": f"{prefix}-anyone"}
    )
    assert status == 200, answer

    async def go() -> tuple[str | None, bool, str]:
        async with ReadOnlyHomeserver(synapse.url, None, token_source="ROOMSYNC_MIRROR_CN_TOKEN") as hs:
            owner = await hs.resolve_alias(f"#{prefix}-anyone:{SERVER}")
            listed = await hs.published(answer["room_id"])
            with pytest.raises(AuthError) as refused:
                await hs.whoami()
            return owner, listed, str(refused.value)

    owner, listed, refused = asyncio.run(go())
    assert (owner, listed) == (answer["room_id"], False)
    assert "only with a token" in refused and refused.endswith("set ROOMSYNC_MIRROR_CN_TOKEN"), refused
