"""Reading live state: cost in requests, concurrency, and rate limits, against real Synapses."""

from __future__ import annotations

import asyncio
from pathlib import Path

from roomsync.client import Homeserver
from roomsync.config import load_config
from roomsync.observe import read_snapshot
from roomsync.plan import make_plan
from tests.integration.helpers import joined_rooms, resolve, roomsync, write_config
from tests.synapse import SynapseServer

SERVER = "opendev.org"


def plan_in_process(url: str, token: str, config_dir: Path):
    async def go():
        async with Homeserver(url, token) as hs:
            snapshot = await read_snapshot(hs, load_config(config_dir))
            return make_plan(load_config(config_dir), snapshot), hs

    return asyncio.run(go())


def test_in_sync_plan_needs_about_one_request_per_room(synapse, provisioner, make_user, prefix, tmp_path):
    rooms = [{"alias": f"{prefix}-r{i}", "topic": f"room {i}", "directory": "public" if i % 2 else "private",
              "alt_aliases": [f"{prefix}-alt{i}"]} for i in range(30)]
    config = write_config(tmp_path, SERVER, rooms)
    # A fresh account sees only its own rooms, so the count is exact.
    account = make_user("prov")
    assert roomsync(config, "sync", url=synapse.url, token=account.token).code == 0

    plan, hs = plan_in_process(synapse.url, account.token, config)
    assert not plan.has_changes and not plan.has_errors
    # whoami + joined_rooms + one state read per room, then the admin room list is refused
    # (not a server admin) and directory visibility costs one read per room; one more asks
    # whether the account is exempt from rate limits (refused too).
    assert hs.requests == 2 + 30 + 1 + 30 + 1
    assert hs.peak_in_flight >= 10, "reads must overlap"

    # A server admin answers directory visibility for all rooms in one admin-list request.
    plan, hs = plan_in_process(synapse.url, provisioner.token, config)
    n_joined = len(joined_rooms(synapse, provisioner.token))
    assert plan.has_errors, "the provisioner is not in the fresh account's rooms"
    # Its own joined rooms, plus one resolve per declared alias (30 rooms + 30 alt aliases) it cannot see.
    assert hs.requests <= 2 + n_joined + 60 + 1


def test_sync_completes_under_default_rate_limits(tmp_path_factory, prefix):
    server = SynapseServer(tmp_path_factory.mktemp("limited"), server_name=SERVER, rate_limited=True)
    server.start()
    try:
        token = server.register("roomsync", admin=True)
        rooms = [{"alias": f"{prefix}-l{i}", "name": f"Limited {i}", "topic": "t",
                  "alt_aliases": [f"{prefix}-l{i}-alt"]} for i in range(8)]
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
