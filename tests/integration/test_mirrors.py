"""Mirror homeservers against two real Synapses federating over loopback: the community's home
server, and a mirror with an account of its own in every room. The module starts its own pair,
since one test stops the home server (the failure drill of the guide's "Mirror homeservers")."""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from roomsync.localsynapse import free_port
from tests.conftest import PROVISIONER_LOCALPART, Account, Federation
from tests.federation import federating_pair
from tests.integration.helpers import CLIENT, Result, published, resolve, roomsync, state, write_config
from tests.synapse import SynapseServer, q

MIRROR_ENV = "ROOMSYNC_MIRROR_TOKEN"


@dataclasses.dataclass(frozen=True)
class Pair(Federation):
    """The community's home server and a mirror: its people (person()) are the mirror's users."""

    keeper: Account  # the mirror's account

    @property
    def mirror(self) -> SynapseServer:
        return self.people


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with federating_pair(tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("mirror")) as (home, mirror):
        admin = Account(home.user_id(PROVISIONER_LOCALPART), home.register(PROVISIONER_LOCALPART, admin=True))
        keeper = Account(mirror.user_id("keeper"), mirror.register("keeper"))
        yield Pair(home, mirror, admin, keeper)


def mirror_entry(pair: Pair, **extra: Any) -> dict[str, Any]:
    return {
        "server_name": pair.mirror.server_name,
        "homeserver": pair.mirror.url,
        "account": pair.keeper.user_id,
        "token_env": MIRROR_ENV,
        "power_level": 100,
        **extra,
    }


def community(pair: Pair, directory: Path, prefix: str, **mirror: Any) -> Path:
    rooms = [
        {"alias": f"{prefix}-space", "type": "space", "name": "Community", "join_rule": "public"},
        {
            "alias": f"{prefix}-zuul",
            "name": "Zuul",
            "topic": "Zuul, the CI system",
            "join_rule": "public",
            "directory": "public",
            "alt_aliases": [f"{prefix}-zuul-ci"],
            "spaces": [f"{prefix}-space"],
        },
        {"alias": f"{prefix}-team", "join_rule": "restricted", "spaces": [f"{prefix}-space"]},
        {"alias": f"{prefix}-infra", "join_rule": "invite"},
    ]
    return write_config(
        directory,
        pair.home.server_name,
        rooms,
        account=pair.admin.user_id,
        defaults={"history_visibility": "shared", "power_levels": {"kick": 50, "ban": 50}},
        mirrors=[mirror_entry(pair, **mirror)],
    )


def run(pair: Pair, config: Path, *args: str, mirror_token: str | None = "keeper") -> Result:
    env = {MIRROR_ENV: pair.keeper.token} if mirror_token == "keeper" else {}
    return roomsync(config, *args, url=pair.home.url, token=pair.admin.token, env=env)


def ok(result: Result) -> Result:
    assert result.code == 0, result.out + result.err
    return result


def on_mirror(pair: Pair, alias: str) -> str | None:
    return resolve(pair.mirror, alias)


def drop_on_mirror(pair: Pair, alias: str) -> None:
    """An alias deleted by hand on the mirror."""
    status, answer = pair.mirror.request("DELETE", f"{CLIENT}/directory/room/{q(alias)}", pair.keeper.token)
    assert status == 200, answer


def join_on_mirror(pair: Pair, person: Account, alias: str) -> str:
    status, answer = pair.mirror.request("POST", f"{CLIENT}/join/{q(alias)}", person.token, body={})
    assert status == 200, answer
    return str(answer["room_id"])


def test_the_mirror_is_in_every_room_with_power_addresses_and_directory(pair: Pair, tmp_path: Path):
    prefix, home, mirror = "m1", pair.home.server_name, pair.mirror.server_name
    config = community(pair, tmp_path / "c", prefix)
    planned = run(pair, config, "plan")
    assert planned.code == 0, planned.err
    assert f'[{mirror}] member.{pair.keeper.user_id}: "join"' in planned.out
    assert f'[{mirror}] alias: "#{prefix}-zuul:{mirror}"' in planned.out
    ok(run(pair, config, "sync"))

    ids = {name: resolve(pair.home, f"#{prefix}-{name}:{home}") for name in ("space", "zuul", "team", "infra")}
    for name, room_id in ids.items():
        assert room_id is not None
        seen = state(pair.home, pair.admin.token, room_id)
        assert seen[("m.room.member", pair.keeper.user_id)]["membership"] == "join", name
        assert seen[("m.room.power_levels", "")]["users"][pair.keeper.user_id] == 100, name
        assert on_mirror(pair, f"#{prefix}-{name}:{mirror}") == room_id, name
    assert on_mirror(pair, f"#{prefix}-zuul-ci:{mirror}") == ids["zuul"]
    assert published(pair.mirror, ids["zuul"]) and published(pair.home, ids["zuul"])
    assert not published(pair.mirror, ids["infra"])

    space = state(pair.home, pair.admin.token, ids["space"])
    assert space[("m.space.child", ids["zuul"])]["via"] == [home, mirror]
    team = state(pair.home, pair.admin.token, ids["team"])
    assert team[("m.room.join_rules", "")]["allow"] == [
        {"type": "m.room_membership", "room_id": ids["space"], "via": [home, mirror]}
    ]
    assert team[("m.space.parent", ids["space"])]["via"] == [home, mirror]

    again = ok(run(pair, config, "plan", "--detailed-exitcode"))
    assert "No changes" in again.out, again.out

    # Taken away by hand on the mirror: the next plan shows it as the mirror's, and sync puts it back.
    drop_on_mirror(pair, f"#{prefix}-zuul-ci:{mirror}")
    drift = run(pair, config, "plan", "--detailed-exitcode")
    assert drift.code == 2 and f'[{mirror}] alias: (none) -> "#{prefix}-zuul-ci:{mirror}"' in drift.out, drift.out
    tokenless = run(pair, config, "plan", "--detailed-exitcode", mirror_token=None)
    assert tokenless.code == 2 and tokenless.out.count(f"[{mirror}]") == drift.out.count(f"[{mirror}]") + 1
    assert f'[{mirror}] alias: (none) -> "#{prefix}-zuul-ci:{mirror}"' in tokenless.out, tokenless.out
    # A time budget spent before the mirror's part starts: that part is left for the next sync.
    cut = run(pair, config, "sync", "--time-budget", "0.001s")
    assert cut.code == 1, cut.out + cut.err
    assert f"not started (time budget): [{mirror}] #{prefix}-zuul:{home}" in cut.out, cut.out
    assert on_mirror(pair, f"#{prefix}-zuul-ci:{mirror}") is None
    ok(run(pair, config, "sync"))
    assert on_mirror(pair, f"#{prefix}-zuul-ci:{mirror}") == ids["zuul"]


def test_a_mirror_that_cannot_be_read_is_its_error_and_the_home_part_goes_through(pair: Pair, tmp_path: Path):
    prefix, mirror = "m2", pair.mirror.server_name
    dead = community(pair, tmp_path / "dead", prefix, homeserver=f"http://127.0.0.1:{free_port()}")
    unanswered = run(pair, dead, "plan")
    assert unanswered.code == 1 and "Traceback" not in unanswered.err
    assert f"! [{mirror}] cannot be planned: cannot reach" in unanswered.out, unanswered.out
    assert f"+ #{prefix}-zuul:{pair.home.server_name} will be created" in unanswered.out  # the home part is planned

    # plan without the mirror's token (a check pipeline's): the mirror's part is read as anyone
    # may read it, and shown; sync needs the token.
    config = community(pair, tmp_path / "c", prefix)
    missing = run(pair, config, "plan", mirror_token=None)
    assert missing.code == 0, missing.out + missing.err
    assert f'[{mirror}] alias: "#{prefix}-infra:{mirror}"' in missing.out, missing.out
    assert f"[{mirror}] {MIRROR_ENV} is not set: its aliases and directory were read without a token" in missing.out

    synced = run(pair, config, "sync", mirror_token=None)
    assert f"NOT SYNCED [{mirror}]: {MIRROR_ENV} is not set" in synced.out
    assert synced.code == 1, synced.out + synced.err
    zuul = resolve(pair.home, f"#{prefix}-zuul:{pair.home.server_name}")
    assert zuul is not None  # the home server's part went through
    seen = state(pair.home, pair.admin.token, zuul)
    assert seen[("m.room.power_levels", "")]["users"][pair.keeper.user_id] == 100
    infra = resolve(pair.home, f"#{prefix}-infra:{pair.home.server_name}")
    assert state(pair.home, pair.admin.token, infra)[("m.room.member", pair.keeper.user_id)]["membership"] == "invite"

    # With its token back, the mirror catches up in one sync.
    ok(run(pair, config, "sync"))
    assert on_mirror(pair, f"#{prefix}-infra:{mirror}") == infra
    assert "No changes" in ok(run(pair, config, "plan", "--detailed-exitcode")).out
    # ... and a plan without the token sees the same: the mirror's membership from the home
    # server's copy of the rooms, its aliases and directory from the mirror.
    assert "No changes" in ok(run(pair, config, "plan", "--detailed-exitcode", mirror_token=None)).out


def wait_for(what: str, check: Any, timeout: float = 120) -> None:
    """Poll until check() is true; federation catching up after a restart is not instant."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.5)


def test_the_rooms_outlive_the_home_server(pair: Pair, tmp_path: Path):
    prefix, home, mirror = "m3", pair.home.server_name, pair.mirror.server_name
    config = community(pair, tmp_path / "c", prefix)
    ok(run(pair, config, "sync"))
    zuul = resolve(pair.home, f"#{prefix}-zuul:{home}")
    spammer = pair.person("spam")
    join_on_mirror(pair, spammer, f"#{prefix}-zuul:{mirror}")

    pair.home.stop()
    try:
        # The home server is gone: its aliases do not resolve, the mirror's do.
        person = pair.person("contributor")
        assert join_on_mirror(pair, person, f"#{prefix}-zuul:{mirror}") == zuul
        message = {"msgtype": "m.text", "body": "is anyone here?"}
        path = f"{CLIENT}/rooms/{q(zuul)}/send/m.room.message/{secrets.token_hex(4)}"
        status, answer = pair.mirror.request("PUT", path, person.token, body=message)
        assert status == 200, answer
        topic = {"topic": "The home server is down; we are on the mirror"}
        status, answer = pair.mirror.request(
            "PUT", f"{CLIENT}/rooms/{q(zuul)}/state/m.room.topic/", pair.keeper.token, body=topic
        )
        assert status == 200, answer
        status, answer = pair.mirror.request(
            "POST", f"{CLIENT}/rooms/{q(zuul)}/kick", pair.keeper.token, body={"user_id": spammer.user_id}
        )
        assert status == 200, answer

        # plan and sync do what the mirror can alone, and say that the home server's part was not planned.
        down = run(pair, config, "plan")
        assert down.code == 1, down.out + down.err
        assert f"! [{home}] cannot be planned:" in down.out, down.out
        assert "Traceback" not in down.err
        drop_on_mirror(pair, f"#{prefix}-zuul-ci:{mirror}")
        alone = run(pair, config, "sync")
        assert f"NOT SYNCED [{home}]: cannot reach" in alone.out
        assert alone.code == 1, alone.out + alone.err
        assert on_mirror(pair, f"#{prefix}-zuul-ci:{mirror}") == zuul, alone.out + alone.err
    finally:
        pair.home.start()

    # Back: once federation has caught up (the home server asks the mirror something, which
    # wakes the mirror's queue for it), one sync brings the rooms back to the config.
    pair.home.request("GET", f"{CLIENT}/profile/{q(pair.keeper.user_id)}", pair.admin.token)

    def caught_up() -> bool:
        seen = state(pair.home, pair.admin.token, zuul)
        return (
            seen.get(("m.room.topic", ""), {}).get("topic") == topic["topic"]
            and seen.get(("m.room.member", spammer.user_id), {}).get("membership") == "leave"
            and seen.get(("m.room.member", person.user_id), {}).get("membership") == "join"
        )

    wait_for("the home server learns what happened on the mirror (the topic, the kick, the new member)", caught_up)
    ok(run(pair, config, "sync"))
    clean = ok(run(pair, config, "plan", "--detailed-exitcode"))
    assert "No changes" in clean.out, clean.out
    assert state(pair.home, pair.admin.token, zuul)[("m.room.topic", "")]["topic"] == "Zuul, the CI system"
