"""Crash safety, concurrency and bounded retries, against a real Synapse of this module's own.

The module runs its own Synapse (never the session's shared one), because these tests
SIGKILL it and restart it on the same port and database. roomsync usually talks to it
through a loopback TCP proxy (tests/integration/tcp_proxy.py), which records the
requests that pass, so that a test can act at a precise point of a run ("right after
the 3rd createRoom was sent, before its answer came back"), and which can cut every
connection, refuse new ones, or answer 503 for a while.

After every fault the same convergence check runs (`assert_converged`), with a plain
HTTP client that shares no code with roomsync:
  - every declared alias resolves;
  - for each declared room exactly one room carries the `dev.roomsync.managed` marker
    naming its alias among the rooms the provisioning account is in (no duplicates),
    and it is the room the alias resolves to;
  - each room's local aliases (GET /rooms/{id}/aliases) are exactly its declared alias and
    alt aliases, and m.room.canonical_alias lists exactly those (no stray aliases);
    undeclared alias names of the test's scheme do not resolve;
  - name, topic, join rule, power-level users, space links and bot invites are as declared.

Every subprocess has a timeout and every wait is bounded.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.integration.helpers import Result, resolve, roomsync, write_config
from tests.integration.tcp_proxy import TcpProxy, quiet_port
from tests.synapse import SynapseServer, q

SERVER = "opendev.org"
CLIENT = "/_matrix/client/v3"
MARKER = "dev.roomsync.managed"
ALICE, BOB = f"@alice:{SERVER}", f"@bob:{SERVER}"
BOT = f"@helper:{SERVER}"

# Request lines (as the proxy records them) that mark points of a sync.
CREATE = r"^POST /_matrix/client/v3/createRoom"
RESOLVE = r"^GET /_matrix/client/v3/directory/room/"
PUT_ALIAS = r"^PUT /_matrix/client/v3/directory/room/"
DELETE_ALIAS = r"^DELETE /_matrix/client/v3/directory/room/"
CANONICAL = r"^PUT /_matrix/client/v3/rooms/[^/]+/state/m\.room\.canonical_alias/"
SPACE_LINK = r"^PUT /_matrix/client/v3/rooms/[^/]+/state/m\.space\.(child|parent)/"
WHOAMI = r"^GET /_matrix/client/v3/account/whoami"

SUMMARY = re.compile(
    r"^Sync: (?P<created>\d+) created,(?: (?P<adopted>\d+) adopted \(created meanwhile by another run\),)?"
    r" (?P<changed>\d+) changed(?:, \d+ (?:upgraded|retired))*, (?P<failed>\d+) failed"
    r"(?:, (?P<skipped>\d+) not attempted)?\."
    r"(?: \d+ bot changes?\.)?$",
    re.M,
)

RUN_TIMEOUT = 120  # any single roomsync run; the real ones take a few seconds
EVENT_TIMEOUT = 60  # waiting for a kill point to be reached


# --- this module's own Synapse ---------------------------------------------------------------


@dataclass
class Homeserver:
    server: SynapseServer
    token: str  # @roomsync:opendev.org, a server admin


@pytest.fixture(scope="module")
def own_synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    # Restarted on the same port after a kill: one the kernel never gives to another connection meanwhile.
    server = SynapseServer(tmp_path_factory.mktemp("faults-synapse"), server_name=SERVER, port=quiet_port() or None)
    server.start()
    try:
        token = server.register("roomsync", admin=True)
        server.register("helper")  # the bot, which has no token in these configs: it is only invited
        yield Homeserver(server, token)
    finally:
        server.stop()


@pytest.fixture
def hs(own_synapse: Homeserver) -> Iterator[Homeserver]:
    """The module's Synapse, running (a test that killed it and failed half-way left it down)."""
    if not own_synapse.server.running:
        own_synapse.server.start()
    yield own_synapse
    if not own_synapse.server.running:
        own_synapse.server.start()


@pytest.fixture
def proxy(hs: Homeserver) -> Iterator[TcpProxy]:
    with TcpProxy(hs.server.port) as p:
        yield p


# --- the declared rooms ---------------------------------------------------------------------


def fleet(p: str, version: int = 1, n: int = 14) -> list[dict]:
    """Two nested spaces and `n` rooms: names, topics, alt aliases, power-level users, space links,
    one restricted room.

    Version 2 changes every room: new topics, alt aliases renamed (the old ones must go),
    other power levels, and rooms moved from one space to the other.
    """
    hub, team = f"{p}-hub", f"{p}-team"
    rooms: list[dict] = [
        {
            "alias": hub,
            "type": "space",
            "name": "Hub",
            "topic": f"All of {p} v{version}",
            "join_rule": "public",
            "history_visibility": "world_readable",
            "directory": "public",
        },
        {
            "alias": team,
            "type": "space",
            "name": "Team",
            "join_rule": "public",
            "alt_aliases": [f"{team}-alt{version}"],
            "spaces": [{"space": hub, "order": "01"}],
        },
    ]
    for i in range(n):
        local = f"{p}-r{i:02d}"
        room: dict = {"alias": local, "name": f"Room {i}", "topic": f"Topic {i} v{version}"}
        if i % 3 == 0:
            room["alt_aliases"] = [f"{local}-alt{version}"]
        elif i % 4 == 1:
            room["alt_aliases"] = [f"{local}-alt{version}", f"{local}-alt{version}b"]
        if i % 2 == 0:
            room["power_levels"] = {"users": {ALICE: 50 if version == 1 else 60, BOB: 10 * version}}
        if i % 5 in (2, 3):
            in_hub = (i % 5 == 2) == (version == 1)
            room["spaces"] = [{"space": hub if in_hub else team, "order": f"{i:02d}", "suggested": i % 2 == 0}]
        if i == 4:
            room.update(join_rule="restricted", spaces=[team])
        elif i % 4 == 0:
            room["join_rule"] = "public"
        rooms.append(room)
    return rooms


def bot_rooms(rooms: list[dict]) -> list[str]:
    """The rooms the (tokenless) bot serves: every fifth room."""
    return [r["alias"] for r in rooms if re.search(r"-r\d[05]$", r["alias"])]


def make_config(directory: Path, rooms: list[dict], with_bot: bool = True) -> Path:
    write_config(directory, SERVER, rooms, max_removals=200)
    bots = [{"name": "helper", "user": BOT, "rooms": bot_rooms(rooms), "power_level": 10}] if with_bot else []
    (directory / "bots.yaml").write_text(yaml.safe_dump({"bots": bots}, sort_keys=False), encoding="utf-8")
    return directory


def every_alias_name(p: str, rooms: list[dict]) -> set[str]:
    """Every alias the test's naming scheme could have produced, in any version: the stray candidates."""
    names = set()
    for room in rooms:
        for version in (1, 2):
            names |= {f"#{room['alias']}-alt{version}:{SERVER}", f"#{room['alias']}-alt{version}b:{SERVER}"}
    return names


# --- running roomsync -----------------------------------------------------------------------


def env_for(url: str, token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROOMSYNC_")}
    env.update(ROOMSYNC_HOMESERVER=url, ROOMSYNC_ACCESS_TOKEN=token)
    return env


class DrainedPopen(subprocess.Popen):
    """A roomsync run whose output is read as it comes: a run that prints more than a pipe holds
    must not block on its output while a test waits for it to reach a kill point."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
        self._chunks: dict[str, list[str]] = {"out": [], "err": []}
        self._readers = [
            threading.Thread(target=self._drain, args=(stream, key), daemon=True)
            for stream, key in ((self.stdout, "out"), (self.stderr, "err"))
        ]
        for reader in self._readers:
            reader.start()

    def _drain(self, stream, key: str) -> None:
        for line in stream:
            self._chunks[key].append(line)

    def communicate(self, input=None, timeout=None):
        self.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        return "".join(self._chunks["out"]), "".join(self._chunks["err"])


def start_sync(config: Path, url: str, token: str, *args: str) -> subprocess.Popen[str]:
    return DrainedPopen([sys.executable, "-m", "roomsync", "-C", str(config), "sync", *args], env=env_for(url, token))


def finish(proc: subprocess.Popen[str], timeout: float = RUN_TIMEOUT) -> Result:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        pytest.fail(f"roomsync did not end within {timeout} s\n--- stdout\n{out}\n--- stderr\n{err}")
    return Result(proc.returncode, out, err)


def sigkill(proc: subprocess.Popen[str]) -> Result:
    """SIGKILL roomsync now; it must still have been running (else the kill point was never inside the run)."""
    assert proc.poll() is None, f"roomsync ended (exit {proc.returncode}) before the kill point:\n" + "\n".join(
        proc.communicate(timeout=10)
    )
    proc.send_signal(signal.SIGKILL)
    result = finish(proc, timeout=20)
    assert result.code == -signal.SIGKILL
    return result


def settle(hs: Homeserver, p: str, rooms: list[dict], timeout: float = 30) -> None:
    """Wait (bounded) until the server has finished what a killed run left in flight.

    A SIGKILLed client's requests keep running on the server, and Synapse's createRoom
    creates the alias before the room's first events: for a moment the alias points at a
    room its creator is not yet joined in, or that does not carry roomsync's marker (part of
    the initial state) yet. The run "after the crash" starts once that is over.
    """
    deadline = time.monotonic() + timeout
    while True:
        status, answer = get(hs, "/joined_rooms")
        assert status == 200, answer
        joined = set(answer["joined_rooms"])  # type: ignore[index]
        aliases = [f"#{r['alias']}:{SERVER}" for r in rooms]
        resolved = {a: rid for a in aliases if (rid := resolve(hs.server, a))}
        pending = [
            a
            for a, rid in resolved.items()
            if rid not in joined or get(hs, f"/rooms/{q(rid)}/state/{q(MARKER)}/")[0] != 200
        ]
        if not pending:
            return
        assert time.monotonic() < deadline, f"aliases still point at rooms the account is not in or unmarked: {pending}"
        time.sleep(0.1)


def no_traceback(result: Result) -> None:
    assert "Traceback" not in result.out + result.err, result.out + result.err
    assert "internal error" not in result.err, result.err


def converge(hs: Homeserver, config: Path, url: str | None = None) -> Result:
    """The run after a fault: sync succeeds, then the plan has nothing left to do."""
    url = url or hs.server.url
    synced = roomsync(config, "sync", url=url, token=hs.token, timeout=RUN_TIMEOUT)
    no_traceback(synced)
    assert synced.code == 0, synced.out + synced.err
    planned = roomsync(config, "plan", "--detailed-exitcode", url=url, token=hs.token, timeout=RUN_TIMEOUT)
    assert planned.code == 0, planned.out + planned.err
    return synced


def assert_failed_run(result: Result) -> re.Match[str]:
    """A run that lost the homeserver: exit 1, the per-room summary, no traceback."""
    no_traceback(result)
    assert result.code == 1, result.out + result.err
    summary = SUMMARY.search(result.out)
    assert summary, f"no 'Sync: ... failed.' summary:\n{result.out}\n{result.err}"
    assert int(summary["failed"]) >= 1, result.out
    assert re.search(r"^FAILED  #\S+", result.out, re.M), result.out
    return summary


# --- reading the server back with the plain client ---------------------------------------------


def get(hs: Homeserver, path: str) -> tuple[int, object]:
    return hs.server.request("GET", CLIENT + path, hs.token)


def room_state(hs: Homeserver, room_id: str) -> dict[tuple[str, str], dict]:
    status, events = get(hs, f"/rooms/{q(room_id)}/state")
    assert status == 200, events
    return {(e["type"], e["state_key"]): e["content"] for e in events}  # type: ignore[union-attr]


def markers(hs: Homeserver, p: str) -> Counter[tuple[str, str]]:
    """(marker alias, room id) for every room the provisioner is in whose marker names an alias of `p`,
    but rooms left behind by an upgrade (tombstoned: they keep the marker they had)."""
    status, answer = get(hs, "/joined_rooms")
    assert status == 200, answer
    found: Counter[tuple[str, str]] = Counter()
    for room_id in answer["joined_rooms"]:  # type: ignore[index]
        status, content = get(hs, f"/rooms/{q(room_id)}/state/{q(MARKER)}/")
        if status == 200 and get(hs, f"/rooms/{q(room_id)}/state/m.room.tombstone/")[0] == 200:
            continue
        if status == 200 and str(content.get("alias", "")).startswith(f"#{p}-"):  # type: ignore[union-attr]
            found[(content["alias"], room_id)] += 1  # type: ignore[index]
    return found


def assert_converged(hs: Homeserver, p: str, rooms: list[dict]) -> dict[str, str]:
    """The server holds exactly the declared rooms, once each, with exactly their aliases. Returns alias -> id."""
    declared = {f"#{r['alias']}:{SERVER}": r for r in rooms}
    ids: dict[str, str] = {}
    for alias in declared:
        room_id = resolve(hs.server, alias)
        assert room_id, f"{alias} does not resolve"
        ids[alias] = room_id

    # Exactly one managed room per declared alias, and it is the one the alias points at.
    per_alias = Counter(alias for alias, _ in markers(hs, p))
    duplicates = {alias: n for alias, n in per_alias.items() if n != 1}
    assert not duplicates, f"rooms carrying the marker more than once: {duplicates}"
    assert set(per_alias) == set(declared), sorted(set(per_alias) ^ set(declared))
    assert {alias: rid for alias, rid in markers(hs, p)} == ids

    wanted_aliases: set[str] = set()
    for alias, room in declared.items():
        room_id = ids[alias]
        alts = [f"#{a}:{SERVER}" for a in room.get("alt_aliases", [])]
        wanted_aliases |= {alias, *alts}
        for alt in alts:
            assert resolve(hs.server, alt) == room_id, f"{alt} does not point at {alias}"
        status, answer = get(hs, f"/rooms/{q(room_id)}/aliases")
        assert status == 200, answer
        local = set(answer["aliases"])  # type: ignore[index]
        assert local == {alias, *alts}, (
            f"aliases of {alias}: stray {sorted(local - {alias, *alts})}, missing {sorted({alias, *alts} - local)}"
        )
        live = room_state(hs, room_id)
        canonical = live[("m.room.canonical_alias", "")]
        assert canonical.get("alias") == alias and sorted(canonical.get("alt_aliases", [])) == sorted(alts), canonical
        assert live[("m.room.name", "")]["name"] == room["name"]
        if "topic" in room:
            assert live[("m.room.topic", "")]["topic"] == room["topic"]
        rule = live[("m.room.join_rules", "")]
        assert rule["join_rule"] == room.get("join_rule", rule["join_rule"])
        if room.get("join_rule") == "restricted":
            allowed = {a["room_id"] for a in rule.get("allow", [])}
            assert allowed == {ids[f"#{s}:{SERVER}"] for s in room["spaces"]}
        users = live[("m.room.power_levels", "")]["users"]
        for user, level in room.get("power_levels", {}).get("users", {}).items():
            assert users.get(user) == level, (alias, user, users)
        if room.get("type") == "space":
            children = {k for (t, k), c in live.items() if t == "m.space.child" and c}
            expected = {
                rid
                for a, rid in ids.items()
                if any(
                    (s if isinstance(s, str) else s["space"]) == room["alias"] for s in declared[a].get("spaces", [])
                )
            }
            assert children == expected, f"children of {alias}"
        parents = {k for (t, k), c in live.items() if t == "m.space.parent" and c}
        assert parents == {
            ids[f"#{s if isinstance(s, str) else s['space']}:{SERVER}"] for s in room.get("spaces", [])
        }, f"parents of {alias}"
        if room["alias"] in bot_rooms(rooms):
            assert live.get(("m.room.member", BOT), {}).get("membership") == "invite", alias
            assert users.get(BOT) == 10, (alias, users)

    strays = {name: rid for name in every_alias_name(p, rooms) - wanted_aliases if (rid := resolve(hs.server, name))}
    assert not strays, f"undeclared aliases still resolve: {strays}"
    return ids


# --- SIGKILL roomsync -----------------------------------------------------------------------

# (pattern, n): roomsync is killed once the n-th such request was sent, before any answer to it
# (or to anything else) came back. The server has done the work; roomsync never learns it.
KILL_POINTS = {
    "while-reading": (RESOLVE, 3),
    "first-create": (CREATE, 1),
    "ninth-create": (CREATE, 9),
    "alt-alias": (PUT_ALIAS, 4),
    "space-links": (SPACE_LINK, 3),
}


def kill_at(hs: Homeserver, proxy: TcpProxy, config: Path, pattern: str, n: int) -> Result:
    proc = start_sync(config, proxy.url, hs.token)
    try:
        reached = proxy.freeze_after(pattern, n).wait(EVENT_TIMEOUT)
        if not reached:
            proc.kill()
            out, err = proc.communicate(timeout=20)
            seen = "\n".join(f"{r.at:.2f} {r.line}" for r in proxy.requests[-15:])
            pytest.fail(f"kill point {pattern} #{n} never reached\n{out}\n{err}\nlast requests:\n{seen}")
        return sigkill(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=20)
        proxy.resume()


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sync_sigkilled_at_a_point_is_finished_by_the_next_run(hs, proxy, prefix, tmp_path, point):
    p = prefix
    rooms = fleet(p)
    config = make_config(tmp_path, rooms)
    kill_at(hs, proxy, config, *KILL_POINTS[point])
    settle(hs, p, rooms)
    made = sum(1 for r in rooms if resolve(hs.server, f"#{r['alias']}:{SERVER}"))
    assert (made == 0) == (point == "while-reading"), f"{made} rooms made before the kill"
    assert made < len(rooms) or point == "space-links", "the kill came after every room was made"

    converge(hs, config)
    assert_converged(hs, p, rooms)


def test_sync_sigkilled_again_and_again_makes_progress_and_converges(hs, proxy, prefix, tmp_path):
    """Each run is killed right after its 2nd createRoom; runs follow until one has (almost) nothing to create.

    From its 2nd createRoom on, no answer reaches the run (the proxy freezes), so however fast the
    machine, a run gets no further than the rooms it had begun (8 at most) before the kill."""
    p = prefix
    rooms = fleet(p)
    config = make_config(tmp_path, rooms)
    killed = 0
    for _ in range(12):  # 16 rooms, at least 2 new ones per killed run: bounded well below 12
        created_before = len(proxy.seen(CREATE))
        proc = start_sync(config, proxy.url, hs.token)
        try:
            second = proxy.freeze_after(CREATE, created_before + 2)
            deadline = time.monotonic() + EVENT_TIMEOUT
            while proc.poll() is None and not second.wait(0.005) and time.monotonic() < deadline:
                pass
            if proc.poll() is not None:
                break  # this run had fewer than 2 rooms left to create and finished
            assert second.is_set(), "no createRoom within the time limit"
            proc.send_signal(signal.SIGKILL)
            finish(proc, timeout=20)
            killed += 1
            settle(hs, p, rooms)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=20)
            proxy.resume()
    else:
        pytest.fail("roomsync never got through the sync")
    assert killed >= 2, "the kills never interrupted a run"
    last = finish(proc)
    no_traceback(last)
    assert last.code == 0, last.out + last.err
    converge(hs, config)
    assert_converged(hs, p, rooms)
    assert len(markers(hs, p)) == len(rooms)


# Kill points of a sync that changes existing rooms (version 1 -> 2: alt aliases renamed, topics,
# power levels changed, rooms moved from one space to the other).
CHANGE_KILL_POINTS = {
    "canonical-alias": (CANONICAL, 1),
    "delete-old-alias": (DELETE_ALIAS, 1),
    "space-move": (SPACE_LINK, 2),
}


@pytest.mark.parametrize("point", list(CHANGE_KILL_POINTS))
def test_changing_sync_sigkilled_leaves_no_stray_alias(hs, proxy, prefix, tmp_path, point):
    p = prefix
    config = make_config(tmp_path, fleet(p, 1))
    converge(hs, config)
    before = assert_converged(hs, p, fleet(p, 1))

    make_config(tmp_path, fleet(p, 2))
    kill_at(hs, proxy, config, *CHANGE_KILL_POINTS[point])
    settle(hs, p, fleet(p, 2))

    converge(hs, config)
    after = assert_converged(hs, p, fleet(p, 2))
    assert after == before, "a changed room must keep its room id"


# --- losing the homeserver ----------------------------------------------------------------------

# One request gives up after 4 retries with backoff 0.5, 1, 2, 4 s (+-25 %); "then sync stops": the
# rooms not begun are not attempted. Bounded by what roomsync sends, never by how long it took: a
# run that ends by itself ends within finish()'s timeout, which only stops a hung one.
TRANSIENT_TRIES = 4
IN_FLIGHT = 16  # requests roomsync has on the wire at once


def retried_requests(stderr: str) -> Counter[str]:
    """How many times each request was retried, from the progress lines before its waits
    ("waiting 1.1 s before retrying: create #x-r03: <reason>"; waits under 1 s are not shown)."""
    return Counter(
        line.split(" before retrying: ", 1)[1].split(": ", 1)[0]
        for line in stderr.splitlines()
        if line.startswith("roomsync: waiting ") and " before retrying: " in line
    )


def assert_bounded_retries(result: Result) -> None:
    """Each request was retried at most TRANSIENT_TRIES times, and only those on the wire when the
    homeserver was lost were retried: no room begun after the first gave up was tried at all."""
    retried = retried_requests(result.err)
    assert retried, f"no retry was announced\n{result.err}"
    assert max(retried.values()) <= TRANSIENT_TRIES, retried
    assert len(retried) <= IN_FLIGHT, retried


SYNAPSE_KILL_POINTS = {"creating": (CREATE, 5), "linking": (SPACE_LINK, 2)}


@pytest.mark.parametrize("point", list(SYNAPSE_KILL_POINTS))
def test_synapse_killed_mid_sync_then_restarted_converges(hs, proxy, prefix, tmp_path, point):
    p = prefix
    rooms = fleet(p, n=6)  # 8 rooms
    config = make_config(tmp_path, rooms)
    pattern, n = SYNAPSE_KILL_POINTS[point]
    proc = start_sync(config, proxy.url, hs.token)
    try:
        # Synapse dies between two requests, never inside one, however fast it is: killed inside a
        # createRoom, it can leave an alias on a room its creator never joined, where the next sync
        # stops. So from the kill point on nothing reaches it, and it has answered all it was sent.
        reached = proxy.freeze_after(pattern, n, hold=True).wait(EVENT_TIMEOUT)
        assert reached, f"kill point {pattern} #{n} never reached"
        assert proc.poll() is None, "roomsync finished before Synapse was killed"
        assert proxy.wait_answered(EVENT_TIMEOUT), "Synapse did not answer what it was sent"
        hs.server.kill()
        proxy.sever()  # the answers held back die with the server
        proxy.resume()  # roomsync's retries now reach a dead server
        failed = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=20)
        if not hs.server.running:
            hs.server.start()

    assert_failed_run(failed)
    assert "not attempted:" in failed.out, failed.out
    if point == "linking":
        assert "        done: " in failed.out, failed.out  # rooms made in phase 1 whose links failed
    assert_bounded_retries(failed)

    converge(hs, config, url=proxy.url)  # the same port and database, through the same proxy
    assert_converged(hs, p, rooms)


@pytest.mark.parametrize("fault", ["sever", "503"])
def test_homeserver_lost_mid_sync_stops_after_bounded_retries_with_summary(hs, proxy, prefix, tmp_path, fault):
    """The connection is cut (or every answer is a 503) for good, in the middle of a 20-room sync:
    bounded retries, then sync stops, exit 1, with a summary that accounts for every room."""
    p = prefix
    rooms = fleet(p, n=18)  # 20 rooms: more than roomsync works on at once
    config = make_config(tmp_path, rooms)
    proc = start_sync(config, proxy.url, hs.token)
    try:
        assert proxy.wait_for(CREATE, 4, EVENT_TIMEOUT), "no createRoom seen"
        assert proc.poll() is None, "roomsync finished before the fault"
        proxy.sever() if fault == "sever" else proxy.fail_with(503)
        failed = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=20)
        proxy.resume()

    assert_failed_run(failed)
    assert "not attempted:" in failed.out, failed.out
    assert ("503" if fault == "503" else "cannot reach") in failed.out, failed.out
    results = failed.out[failed.out.index("\nPlan: ") :]
    unaccounted = [r["alias"] for r in rooms if f"#{r['alias']}:{SERVER}" not in results]
    assert not unaccounted, f"the summary does not say what became of {unaccounted}\n{failed.out}"
    assert_bounded_retries(failed)

    converge(hs, config, url=proxy.url)
    assert_converged(hs, p, rooms)


@pytest.mark.parametrize("fault", ["sever", "503"])
def test_brief_outage_is_ridden_out_by_retries(hs, proxy, prefix, tmp_path, fault):
    """Connections cut (or 503 answers) for 0.6 s in the middle of a sync: the retries carry it, exit 0."""
    p = prefix
    rooms = fleet(p)
    config = make_config(tmp_path, rooms)
    proc = start_sync(config, proxy.url, hs.token)
    try:
        assert proxy.wait_for(CREATE, 3, EVENT_TIMEOUT), "no createRoom seen"
        assert proc.poll() is None, "roomsync finished before the fault"
        proxy.sever() if fault == "sever" else proxy.fail_with(503)
        time.sleep(0.6)
        seen_during = len(proxy.requests)
        proxy.resume()
        result = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=20)
        proxy.resume()

    no_traceback(result)
    assert result.code == 0, result.out + result.err
    assert len(proxy.requests) > seen_during, "nothing was sent after the outage: it did not hit the run"
    summary = SUMMARY.search(result.out)
    assert summary and summary["failed"] == "0", result.out
    assert int(summary["created"]) + int(summary["adopted"] or 0) == len(rooms), result.out
    # A sync that says it did everything leaves nothing for the next plan.
    plan = roomsync(config, "plan", "--detailed-exitcode", url=hs.server.url, token=hs.token, timeout=RUN_TIMEOUT)
    said = result.out[result.out.index("\nPlan: ") :]
    assert plan.code == 0, f"{plan.out}{plan.err}\n--- the sync before it (exit 0) said:{said}"
    assert_converged(hs, p, rooms)


# --- bounded retries against a server that never answers ---------------------------------------


@pytest.mark.parametrize("fault", ["refused", "503"])
def test_dead_homeserver_bounded_retries_one_error_line(hs, proxy, prefix, tmp_path, fault):
    p = prefix
    rooms = fleet(p, n=2)
    config = make_config(tmp_path, rooms)
    proxy.sever() if fault == "refused" else proxy.fail_with(503)
    result = roomsync(config, "sync", url=proxy.url, token=hs.token, timeout=60)

    no_traceback(result)
    assert result.code == 1, result.out + result.err
    assert result.out == "", result.out  # nothing was planned, so nothing is claimed
    # One error line; before it, off a terminal, one progress line per wait between retries.
    *waits, error = result.err.strip().splitlines()
    assert error.startswith("roomsync: error: "), result.err
    assert all(line.startswith("roomsync: waiting ") for line in waits), result.err
    lines = [error]
    assert "503" in lines[0] if fault == "503" else f"cannot reach {proxy.url}" in lines[0], lines
    assert hs.token not in result.err
    if fault == "refused":
        # The first request of a run is not retried when nothing listens: a wrong URL is said at once.
        assert "connection refused" in lines[0], lines
        assert waits == [], result.err
    else:
        # Retried 4 times, with backoff 0.5, 1, 2, 4 s (-25 % at most): a slower machine only
        # makes the gaps between the tries longer, never shorter.
        tries = proxy.seen(WHOAMI)
        assert len(tries) == 1 + TRANSIENT_TRIES, f"{len(tries)} tries"
        gaps = [b.at - a.at for a, b in itertools.pairwise(tries)]
        assert all(gap >= 0.75 * 0.5 * 2**i for i, gap in enumerate(gaps)), gaps
    # Nothing reached the server.
    assert not markers(hs, p)
    assert all(resolve(hs.server, f"#{r['alias']}:{SERVER}") is None for r in rooms)


# --- two syncs at once -----------------------------------------------------------------------


@pytest.mark.parametrize("round_", [1, 2])
def test_two_syncs_at_once_end_with_one_room_each(hs, prefix, tmp_path, round_):
    p = prefix
    rooms = fleet(p)
    config = make_config(tmp_path, rooms)
    procs = [start_sync(config, hs.server.url, hs.token) for _ in range(2)]
    try:
        results = [finish(proc) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=20)
    # What each run said it did (its output after the plan), for the failure messages.
    both = "\n".join(
        f"=== run {i} (exit {r.code}) said:\n{r.out[r.out.find(chr(10) + 'Plan: ') :]}{r.err}"
        for i, r in enumerate(results, 1)
    )

    # Whatever the two runs said, the server ends with each room once, as declared.
    plan = roomsync(config, "plan", "--detailed-exitcode", url=hs.server.url, token=hs.token, timeout=RUN_TIMEOUT)
    assert plan.code == 0, f"after both runs ended, the plan still has changes:\n{plan.out}{plan.err}\n{both}"
    assert_converged(hs, p, rooms)

    for result in results:
        no_traceback(result)
        assert SUMMARY.search(result.out), both
    assert min(r.code for r in results) == 0, both
    for result in results:
        if result.code != 0:
            # A loser may only fail because of the race itself, and must say so.
            failures = re.findall(r"^FAILED  .*$", result.out, re.M)
            assert failures and all(
                re.search(r"M_ROOM_IN_USE|another (roomsync )?run|already (exists|taken)", f) for f in failures
            ), both


# --- lifecycle: an upgrade killed half-way ------------------------------------------------------

UPGRADE = r"^POST /_matrix/client/v3/rooms/[^/]+/upgrade"


def upgraded_fleet(p: str, version: str) -> list[dict]:
    """A space (at `version`) holding a room, a nested space and a restricted room."""
    hub = f"{p}-hub"
    return [
        {
            "alias": hub,
            "type": "space",
            "name": "Hub",
            "room_version": version,
            "join_rule": "public",
            "alt_aliases": [f"{hub}-alt"],
        },
        {
            "alias": f"{p}-inner",
            "type": "space",
            "name": "Inner",
            "join_rule": "public",
            "spaces": [{"space": hub, "order": "10"}],
        },
        {"alias": f"{p}-room", "name": "Room", "spaces": [hub, f"{p}-inner"]},
        {"alias": f"{p}-members", "name": "Members", "join_rule": "restricted", "spaces": [hub]},
    ]


@pytest.mark.parametrize("point", ["right-after-upgrade", "mid-relinking"])
def test_an_upgrade_killed_half_way_is_finished_by_the_next_sync(hs, proxy, prefix, tmp_path, point):
    p = prefix
    config = make_config(tmp_path, upgraded_fleet(p, "10"), with_bot=False)
    converge(hs, config)
    old = resolve(hs.server, f"#{p}-hub:{SERVER}")

    rooms = upgraded_fleet(p, "12")
    make_config(tmp_path, rooms, with_bot=False)
    # Right after the server upgraded (its answer never arrives), or after two of the links that
    # must name the new space have been rewritten.
    kill_at(hs, proxy, config, *((UPGRADE, 1) if point == "right-after-upgrade" else (SPACE_LINK, 2)))
    assert proxy.seen(UPGRADE), "the upgrade was sent"
    assert len(proxy.seen(UPGRADE)) == 1

    converge(hs, config)
    ids = assert_converged(hs, p, rooms)
    new = ids[f"#{p}-hub:{SERVER}"]
    assert new != old
    # Exactly one successor: the old space's tombstone names the new one, which has none itself.
    assert room_state(hs, old)[("m.room.tombstone", "")]["replacement_room"] == new
    assert ("m.room.tombstone", "") not in room_state(hs, new)
    assert room_state(hs, new)[("m.room.create", "")]["room_version"] == "12"
