"""Reading live state: cost in requests, concurrency, and rate limits, against real Synapses."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml

from roomsync.client import Homeserver
from roomsync.config import load_config
from roomsync.observe import read_snapshot
from roomsync.plan import make_plan
from tests.integration.helpers import joined_rooms, resolve, roomsync, write_config
from tests.synapse import SynapseServer, q

CLIENT = "/_matrix/client/v3"

SERVER = "opendev.org"


def plan_in_process(url: str, token: str, config_dir: Path, sliding: bool | None = None):
    """A plan in this process, returning the client to count its requests. sliding=False reads
    as against a server without sliding sync (a filtered /sync, then each room's whole state)."""

    async def go():
        async with Homeserver(url, token) as hs:
            if sliding is not None:
                hs.sliding = sliding
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

    def cost(sliding: bool | None = None) -> int:
        plan, hs = plan_in_process(synapse.url, account.token, config, sliding)
        assert not plan.has_errors and not plan.has_changes, plan
        if sliding is False:
            assert hs.peak_in_flight >= 10, "state reads must overlap"
        return hs.requests

    # whoami, the joined rooms, which are declared (sliding sync), their state (sliding sync), the
    # admin room list (refused: not a server admin, so no other admin request is sent: not the
    # bots' accounts, not whether the account is exempt from rate limits), /publicRooms, and one
    # profile per bot.
    baseline = cost()
    assert baseline == 1 + 1 + 1 + 1 + 1 + 1 + 2
    # Without sliding sync: one filtered /sync, then one state read per declared room.
    fallback = cost(sliding=False)
    assert fallback == 1 + 1 + 1 + 30 + 1 + 1 + 2 <= len(rooms) + len(bots) + 10

    # Rooms the account joined that the config does not name, and members by the hundred: the
    # same number of requests.
    for i in range(40):
        status, answer = synapse.request(
            "POST", f"{CLIENT}/createRoom", account.token, body={"preset": "private_chat", "name": f"other {i}"}
        )
        assert status == 200, answer
    crowded = resolve(synapse, f"#{prefix}-r1:{SERVER}")
    for _ in range(60):
        member = make_user("member")
        assert synapse.request("POST", f"{CLIENT}/join/{q(crowded)}", member.token, body={})[0] == 200
    assert (cost(), cost(sliding=False)) == (baseline, fallback)

    # A server admin answers directory visibility in one request, however many rooms it joined.
    own = write_config(
        tmp_path / "admin", SERVER, [{"alias": f"{prefix}-a{i}", "directory": "public"} for i in range(5)]
    )
    assert roomsync(own, "sync", url=synapse.url, token=provisioner.token).code == 0
    for _ in range(10):
        assert synapse.request("POST", f"{CLIENT}/createRoom", provisioner.token, body={})[0] == 200
    assert len(joined_rooms(synapse, provisioner.token)) >= 15
    plan, hs = plan_in_process(synapse.url, provisioner.token, own)
    assert not plan.has_changes and not plan.has_errors
    assert hs.requests == 1 + 2 + 1 + 1 + 1  # whoami, joined rooms (2), their state, admin room list, exemption


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
