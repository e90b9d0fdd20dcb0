"""A homeserver that enforces a tight limit on room creation, as hosted servers do: sync finishes
however tight the limit, requests of one kind queue instead of colliding, and --time-budget stops
a long sync cleanly for the next one to finish."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.helpers import resolve, roomsync, write_config
from tests.synapse import SynapseServer

SERVER = "opendev.org"
CREATION = {"per_second": 2, "burst_count": 2}  # Synapse's default is 0.016/s, burst 10


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory):
    """A Synapse whose only limit is on room creation, and its server-admin account."""
    server = SynapseServer(
        tmp_path_factory.mktemp("limited"), server_name=SERVER, limits={"rc_room_creation": CREATION}
    )
    server.start()
    try:
        yield server, server.register("roomsync", admin=True)
    finally:
        server.stop()


def refusals(stderr: str) -> int:
    return sum("rate limited (create" in line for line in stderr.splitlines())


def test_many_rooms_under_a_tight_creation_limit_all_get_created(limited, prefix, tmp_path: Path):
    server, token = limited
    rooms = [{"alias": f"{prefix}-c{i}", "topic": f"room {i}"} for i in range(24)]
    config = write_config(tmp_path, SERVER, rooms)
    synced = roomsync(config, "-v", "sync", url=server.url, token=token)
    assert synced.code == 0, synced.out + synced.err
    assert "Sync: 24 created, 0 changed, 0 failed." in synced.out
    # Refused requests wait in one queue: at most about one refusal per room created (colliding
    # retries used to cost several per room, and starved some rooms into failing).
    assert 1 <= refusals(synced.err) <= len(rooms), synced.err
    # Progress off a terminal says how long is left.
    assert re.search(r"^roomsync: \[\d+/24\] #\S+ created, about \d+ s left$", synced.err, re.M), synced.err
    assert roomsync(config, "plan", "--detailed-exitcode", url=server.url, token=token).code == 0


def test_a_time_budget_stops_cleanly_and_the_next_sync_finishes(limited, prefix, tmp_path: Path):
    server, token = limited
    rooms = [
        {"alias": f"{prefix}-b{i}", "name": f"Budget {i}", "alt_aliases": [f"{prefix}-b{i}-alt"]} for i in range(16)
    ]
    config = write_config(tmp_path, SERVER, rooms)
    # However fast the machine, the server lets at most 2 + 2 x 5 rooms be created in 5 s: some wait.
    # However slow, reading 16 rooms leaves time in 5 s to create one.
    cut = roomsync(config, "sync", "--time-budget", "5s", url=server.url, token=token)
    assert cut.code == 1, cut.out + cut.err
    summary = cut.out.strip().splitlines()[-1]
    found = re.fullmatch(
        r"Sync: (\d+) created, 0 changed, 0 failed, (\d+) not started \(time budget\); "
        r"run sync again to continue\.",
        summary,
    )
    assert found, cut.out
    created, waiting = int(found.group(1)), int(found.group(2))
    assert created >= 1 and waiting >= 1 and created + waiting == len(rooms), summary
    # What was started was finished: those rooms are complete, alt aliases included.
    started = [r for r in rooms if resolve(server, f"#{r['alias']}:{SERVER}")]
    assert len(started) == created
    assert all(resolve(server, f"#{r['alias']}-alt:{SERVER}") for r in started)
    assert "Traceback" not in cut.err

    rest = roomsync(config, "sync", url=server.url, token=token)
    assert rest.code == 0, rest.out + rest.err
    assert f"Sync: {waiting} created, 0 changed, 0 failed." in rest.out
    assert roomsync(config, "plan", "--detailed-exitcode", url=server.url, token=token).code == 0


def test_a_bad_time_budget_is_a_usage_error(limited, prefix, tmp_path: Path):
    server, token = limited
    config = write_config(tmp_path, SERVER, [{"alias": f"{prefix}-x"}])
    bad = roomsync(config, "sync", "--time-budget", "soon", url=server.url, token=token)
    assert bad.code == 1 and "is not a duration such as 50m" in bad.err
    assert resolve(server, f"#{prefix}-x:{SERVER}") is None
