"""Benchmark roomsync against a throwaway Synapse, side by side with the raw floor of each job.

    .venv/bin/python scripts/bench.py plan --rooms 120 --undeclared 150 --big-rooms 3 --members 1000 --bots 4
    .venv/bin/python scripts/bench.py scale --rooms 1000
    .venv/bin/python scripts/bench.py link --rooms 1000 --link-rooms 150 --rtt 50
    .venv/bin/python scripts/bench.py sync --rooms 100
    .venv/bin/python scripts/bench.py limited --rooms 24
    .venv/bin/python scripts/bench.py validate --rooms 20000
    .venv/bin/python scripts/bench.py all          # every scenario with its default size

plan:     an in-sync plan of N declared rooms and B bots, read as a server admin and as a plain
          account, while the account is also joined to U undeclared rooms and some rooms have
          many members. Floors, measured in the same run: the declared rooms' state read room
          by room (16 in flight), and one filtered /sync of the same facts (a fresh filter
          each time, as a plan must use: Synapse caches an initial /sync for minutes).
scale:    in-sync plans of N/10 and N declared rooms on loopback, each world an account (a server
          admin) with its U undeclared rooms, B bots in every room and some rooms of many
          members. Each plan is measured with the plan of no room of the same account (its
          fixed cost) and the floors of the same run: the declared rooms' state, the ids known,
          room by room (16 in flight), in one sliding sync, in 4 in parallel, and one filtered
          /sync. A room's marginal cost is (plan - plan of no room) / N for roomsync, (floor -
          whoami) / N for a floor. Then the plan's time over the cheapest floor, the ids known, and
          over the cheapest of the two raw reads that do not know them (see link).
link:     the same plans, at 150 and N rooms, through a loopback proxy that adds RTT ms to each
          round trip (and one to each new connection, as a TCP handshake would), against the
          same floors plus the two raw reads of the same facts that do not know the ids: one
          sliding-sync list of every joined room, or the list's index and then the rooms.
sync:     a sync that creates N rooms, against raw createRoom calls with the same bodies at
          the same concurrency.
limited:  a sync of N rooms against Synapse's default rate limits with rc_room_creation
          {per_second: 0.5, burst_count: 2}: every room created, refusals counted.
validate: a small config, and N rooms in one file and in 20 files, against the time of
          `python -c "import yaml, jsonschema, click"` and of libyaml loading the same files.

Each measurement is taken --repeat times, in turns, and its median shown (the machine may be
busy now and then); each line ends with the ratio to its floor. scale and link share their
worlds (the 1,000-room one takes minutes to make); --data keeps them for the next run.
Timings belong here, never in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from roomsync.client import Homeserver  # noqa: E402
from roomsync.config import load_config  # noqa: E402
from roomsync.observe import INDEX, MANAGED_TYPES, read_snapshot, required_state  # noqa: E402
from roomsync.plan import make_plan  # noqa: E402
from tests.synapse import SynapseServer  # noqa: E402

SERVER = "bench.example"
CLIENT = "/_matrix/client/v3"
IN_FLIGHT = 16
INDEX_STATE = [list(r) for r in INDEX]


def q(value: str) -> str:
    return quote(value, safe="")


def best(samples: list[float]) -> float:
    """The median: the machine may be busy with other work now and then."""
    return statistics.median(samples)


def line(label: str, seconds: float, floor: float | None = None, extra: str = "") -> None:
    ratio = f"  ratio {seconds / floor:.2f}" if floor else ""
    print(f"{label:<58} {seconds * 1000:8.0f} ms{ratio}{extra}", flush=True)


def run_roomsync(
    config_dir: Path, url: str, token: str, *args: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    environ = {**os.environ, "ROOMSYNC_HOMESERVER": url, "ROOMSYNC_ACCESS_TOKEN": token, **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "roomsync", "-C", str(config_dir), *args], env=environ, capture_output=True, text=True
    )
    if done.returncode not in (0, 2):
        sys.exit(f"roomsync {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def write_config(config_dir: Path, rooms: list[dict], bots: list[dict] | None = None, **settings: Any) -> Path:
    (config_dir / "rooms").mkdir(parents=True, exist_ok=True)
    (config_dir / "roomsync.yaml").write_text(yaml.safe_dump({"server_name": SERVER, **settings}))
    (config_dir / "rooms" / "bench.yaml").write_text(yaml.safe_dump({"rooms": rooms}))
    if bots:
        (config_dir / "bots.yaml").write_text(yaml.safe_dump({"bots": bots}))
    return config_dir


def declared_rooms(prefix: str, count: int) -> list[dict]:
    return [
        {
            "alias": f"{prefix}{i}",
            "name": f"Room {i}",
            "topic": f"Topic {i}",
            "directory": "private",
            "history_visibility": "shared",
            "power_levels": {"ban": 50},
        }
        for i in range(count)
    ]


# --- raw floors ------------------------------------------------------------------------------------


async def raw_state_reads(url: str, token: str, room_ids: list[str]) -> float:
    """whoami, then GET /rooms/{id}/state of every declared room, IN_FLIGHT at a time."""
    headers = {"Authorization": f"Bearer {token}"}
    slots = asyncio.Semaphore(IN_FLIGHT)
    async with aiohttp.ClientSession(headers=headers) as session:
        started = time.perf_counter()

        async def get(path: str) -> Any:
            async with slots, session.get(url + path) as response:
                return await response.json()

        await get(f"{CLIENT}/account/whoami")
        await asyncio.gather(*(get(f"{CLIENT}/rooms/{q(r)}/state") for r in room_ids))
        return time.perf_counter() - started


async def raw_filtered_sync(url: str, token: str, room_ids: list[str], senders: list[str]) -> float:
    """The same facts through /sync: the managed state types, and the bots' and the account's own
    membership events (a `senders` filter), restricted to the declared rooms, fresh filters
    (uploaded first: a thousand room ids do not fit in a URL)."""
    headers = {"Authorization": f"Bearer {token}"}
    nonce = secrets.token_hex(4)

    def sync_filter(state: dict) -> dict:
        return {
            "room": {
                "rooms": room_ids,
                "state": state,
                "timeline": {"limit": 0},
                "ephemeral": {"types": []},
                "account_data": {"types": []},
                "not_rooms": [f"!bench-{nonce}:invalid"],
            },
            "presence": {"types": []},
            "account_data": {"types": []},
        }

    async with aiohttp.ClientSession(headers=headers) as session:
        started = time.perf_counter()
        async with session.get(f"{url}{CLIENT}/account/whoami") as response:
            user = (await response.json())["user_id"]

        async def sync(state: dict) -> None:
            async with session.post(f"{url}{CLIENT}/user/{q(user)}/filter", json=sync_filter(state)) as response:
                filter_id = (await response.json())["filter_id"]
            async with session.get(f"{url}{CLIENT}/sync", params={"filter": filter_id}) as response:
                await response.json()

        await asyncio.gather(
            sync({"types": MANAGED_TYPES, "lazy_load_members": True}),
            sync({"types": ["m.room.member"], "senders": senders}),
        )
        return time.perf_counter() - started


SLIDING_SYNC = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"


async def raw_sliding_sync(url: str, token: str, room_ids: list[str], senders: list[str], slices: int = 1) -> float:
    """The same facts through sliding sync, the room ids being known already: one request, or
    `slices` requests in parallel for slices of the rooms."""
    headers = {"Authorization": f"Bearer {token}"}
    required = [list(r) for r in required_state(senders)]
    size = -(-len(room_ids) // slices)
    async with aiohttp.ClientSession(headers=headers) as session:
        started = time.perf_counter()
        async with session.get(f"{url}{CLIENT}/account/whoami") as response:
            await response.json()

        async def one(chunk: list[str]) -> None:
            rooms = {r: {"required_state": required, "timeline_limit": 0} for r in chunk}
            body = {"conn_id": secrets.token_hex(6), "room_subscriptions": rooms}
            async with session.post(url + SLIDING_SYNC, json=body) as response:
                await response.json()

        await asyncio.gather(*(one(room_ids[i : i + size]) for i in range(0, len(room_ids), size)))
        return time.perf_counter() - started


async def raw_from_scratch(url: str, token: str, room_ids: list[str], senders: list[str], passes: int) -> float:
    """The same facts without knowing the ids: which joined rooms are declared, and their state.
    One pass: one sliding-sync list of every joined room with the state a plan reads. Two passes:
    the list with the canonical alias and marker only, then the declared rooms' state."""
    headers = {"Authorization": f"Bearer {token}"}
    required = [list(r) for r in required_state(senders)]

    def joined(state: list) -> dict:
        lists = {"joined": {"ranges": [[0, 9999]], "required_state": state, "timeline_limit": 0}}
        return {"conn_id": secrets.token_hex(6), "lists": lists}

    async with aiohttp.ClientSession(headers=headers) as session:
        started = time.perf_counter()
        async with session.get(f"{url}{CLIENT}/account/whoami") as response:
            await response.json()
        async with session.post(url + SLIDING_SYNC, json=joined(required if passes == 1 else INDEX_STATE)) as response:
            await response.json()
        if passes == 2:
            rooms = {r: {"required_state": required, "timeline_limit": 0} for r in room_ids}
            body = {"conn_id": secrets.token_hex(6), "room_subscriptions": rooms}
            async with session.post(url + SLIDING_SYNC, json=body) as response:
                await response.json()
        return time.perf_counter() - started


async def raw_whoami(url: str, token: str) -> float:
    """What every read starts with: a session, a connection, whoami."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        started = time.perf_counter()
        async with session.get(f"{url}{CLIENT}/account/whoami") as response:
            await response.json()
        return time.perf_counter() - started


async def timed_plan(url: str, token: str, config_dir: Path) -> tuple[float, int, bool]:
    planned = await timed_plan_passes(url, token, config_dir)
    return planned.seconds, planned.requests, planned.changes


@dataclasses.dataclass(frozen=True)
class Planned:
    seconds: float  # reading and planning
    planning: float  # of which planning (make_plan)
    requests: int
    changes: bool
    passes: int  # how the rooms' state was read (client/strategy.py)


async def timed_plan_passes(url: str, token: str, config_dir: Path) -> Planned:
    """An in-sync plan in this process (read and plan, the config loaded beforehand)."""
    config = load_config(config_dir)
    started = time.perf_counter()
    async with Homeserver(url, token) as hs:
        snapshot = await read_snapshot(hs, config)
        read = time.perf_counter()
        plan = make_plan(config, snapshot)
    done = time.perf_counter()
    return Planned(done - started, done - read, hs.requests, plan.has_changes, hs.read_passes or 0)


def process_start() -> float:
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "roomsync", "--version"], capture_output=True, check=True)
        samples.append(time.perf_counter() - started)
    return best(samples)


# --- plan -------------------------------------------------------------------------------------------


def populate_members(synapse: SynapseServer, room_ids: list[str], members: int, prefix: str) -> None:
    """`members` users, each joined to every one of room_ids (public rooms)."""

    def one(i: int) -> None:
        token = synapse.register(f"{prefix}-member{i}")
        for room_id in room_ids:
            status, answer = synapse.request("POST", f"{CLIENT}/join/{q(room_id)}", token, body={})
            assert status == 200, answer

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(members)))


def bench_plan(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="roomsync-bench-") as work:
        work_dir = Path(work)
        with SynapseServer(work_dir / "synapse", server_name=SERVER) as synapse:
            start = process_start()
            line("process start (roomsync --version)", start)
            for label, admin in (("admin", True), ("plain", False)):
                token = synapse.register(label, admin=admin)
                account = f"@{label}:{SERVER}"
                bots = [
                    {
                        "name": f"bot{i}-{label}",
                        "user": f"@bot{i}-{label}:{SERVER}",
                        "rooms": ["*"],
                        "power_level": 10,
                        "token_env": f"BOT{i}_{label.upper()}",
                    }
                    for i in range(args.bots)
                ]
                bot_env = {b["token_env"]: synapse.register(b["user"][1:].split(":")[0]) for b in bots}
                rooms = declared_rooms(f"{label}-", args.rooms)
                for room in rooms[: args.big_rooms]:
                    room.update(join_rule="public")
                config_dir = write_config(work_dir / label, rooms, bots)
                began = time.perf_counter()
                run_roomsync(config_dir, synapse.url, token, "sync", env=bot_env)
                print(
                    f"[setup: synced {args.rooms} rooms with {args.bots} bots as {label} in "
                    f"{time.perf_counter() - began:.1f}s]",
                    flush=True,
                )
                ids = undeclared_and_ids(synapse, token, rooms, args.undeclared)
                if args.members and args.big_rooms:
                    began = time.perf_counter()
                    populate_members(synapse, ids[: args.big_rooms], args.members, label)
                    print(
                        f"[setup: {args.members} members in {args.big_rooms} rooms in "
                        f"{time.perf_counter() - began:.1f}s]",
                        flush=True,
                    )
                senders = [account] + [b["user"] for b in bots]
                floors: dict[str, list[float]] = {"state": [], "sync": [], "sliding": []}
                ours: list[tuple[float, int, bool]] = []
                for _ in range(args.repeat):
                    floors["state"].append(asyncio.run(raw_state_reads(synapse.url, token, ids)))
                    floors["sync"].append(asyncio.run(raw_filtered_sync(synapse.url, token, ids, senders)))
                    floors["sliding"].append(asyncio.run(raw_sliding_sync(synapse.url, token, ids, senders)))
                    ours.append(asyncio.run(timed_plan(synapse.url, token, config_dir)))
                floor = min(best(floors["state"]), best(floors["sync"]))
                what = (
                    f"{args.rooms} rooms, {args.bots} bots, {args.undeclared} undeclared, "
                    f"{args.big_rooms}x{args.members} members"
                )
                print(f"in-sync plan as {label} ({what}):")
                line("  floor: state room by room", best(floors["state"]))
                line("  floor: filtered /sync", best(floors["sync"]))
                line("  (raw sliding sync of the declared rooms, ids known)", best(floors["sliding"]))
                seconds, requests, changes = min(ours)
                budget = args.rooms + args.bots + 10
                line(
                    "  roomsync plan (read + plan)",
                    seconds,
                    floor,
                    f"  requests {requests} (budget {budget}){'  CHANGES?' if changes else ''}",
                )
                line("  roomsync plan + process start vs floor + process start", seconds + start, floor + start)


# --- scale: 1,000 rooms, and a slow link ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class World:
    """An account with `size` rooms made by sync, bots in each, and rooms of its own it does not declare."""

    size: int
    token: str
    config: Path  # declares the world's rooms
    empty: Path  # declares none: what a plan costs before the first room
    ids: list[str]  # the declared rooms' ids
    senders: list[str]  # the account and the bots: whose member events a plan reads


def build_worlds(synapse: SynapseServer, work_dir: Path, sizes: list[int], args: argparse.Namespace) -> list[World]:
    """One account (a server admin) per size, with the same bots in every room. Recorded in
    work_dir/worlds.json, so that a later run with the same --data reuses them."""
    record = work_dir / "worlds.json"
    known = json.loads(record.read_text()) if record.exists() else {}
    bots = [
        {"name": f"bot{i}", "user": f"@bot{i}:{SERVER}", "rooms": ["*"], "power_level": 10, "token_env": f"BOT{i}"}
        for i in range(args.bots)
    ]
    if "bots" not in known:
        known["bots"] = {b["token_env"]: synapse.register(b["user"][1:].split(":")[0]) for b in bots}
    worlds = []
    for size in sizes:
        label = f"w{size}"
        rooms = declared_rooms(f"{label}-", size)
        for room in rooms[: args.big_rooms]:
            room.update(join_rule="public")
        config = write_config(work_dir / label, rooms, bots)
        empty = write_config(work_dir / f"{label}-none", [], bots)
        if label not in known:
            known[label] = build_world(synapse, label, config, rooms, known["bots"], args)
            record.write_text(json.dumps(known))
        token, ids = known[label]["token"], known[label]["ids"]
        worlds.append(World(size, token, config, empty, ids, [f"@{label}:{SERVER}"] + [b["user"] for b in bots]))
    return worlds


def undeclared_and_ids(synapse: SynapseServer, token: str, rooms: list[dict], undeclared: int) -> list[str]:
    """Make `undeclared` rooms the account is in but the config does not name; return the declared
    rooms' ids."""
    for i in range(undeclared):
        body = {"preset": "private_chat", "name": f"Other {i}"}
        status, answer = synapse.request("POST", f"{CLIENT}/createRoom", token, body=body)
        assert status == 200, answer
    ids = []
    for room in rooms:
        alias = f"#{room['alias']}:{SERVER}"
        status, answer = synapse.request("GET", f"{CLIENT}/directory/room/{q(alias)}")
        ids.append(answer["room_id"])
    return ids


def build_world(
    synapse: SynapseServer, label: str, config: Path, rooms: list[dict], bot_env: dict, args: argparse.Namespace
) -> dict:
    token = synapse.register(label, admin=True)
    began = time.perf_counter()
    run_roomsync(config, synapse.url, token, "sync", env=bot_env)
    ids = undeclared_and_ids(synapse, token, rooms, args.undeclared)
    big = ids[: args.big_rooms]
    if args.members and big:
        populate_members(synapse, big, args.members, label)
    print(
        f"[setup: {len(rooms)} rooms, {args.bots} bots in each, {args.undeclared} undeclared, "
        f"{len(big)}x{args.members} members, in {time.perf_counter() - began:.0f}s]",
        flush=True,
    )
    return {"token": token, "ids": ids}


FLOOR_ORDER = [
    "state room by room (16 in flight)",
    "one sliding sync",
    "4 sliding syncs in parallel",
    "filtered /sync",
    "from scratch: one list of every joined room",
    "from scratch: the list's index, then the rooms",
]


def floors_known_ids(url: str, world: World) -> dict[str, Callable[[], float]]:
    """Raw reads of the declared rooms' state, the ids known: the floor of a plan's reading."""
    token, ids, senders = world.token, world.ids, world.senders
    return {
        "state room by room (16 in flight)": lambda: asyncio.run(raw_state_reads(url, token, ids)),
        "one sliding sync": lambda: asyncio.run(raw_sliding_sync(url, token, ids, senders)),
        "4 sliding syncs in parallel": lambda: asyncio.run(raw_sliding_sync(url, token, ids, senders, slices=4)),
        "filtered /sync": lambda: asyncio.run(raw_filtered_sync(url, token, ids, senders)),
    }


def floors_from_scratch(url: str, world: World) -> dict[str, Callable[[], float]]:
    """Raw reads of the same facts as a plan, ids unknown: which joined rooms are the declared ones."""
    token, ids, senders = world.token, world.ids, world.senders
    return {
        "from scratch: one list of every joined room": lambda: asyncio.run(
            raw_from_scratch(url, token, ids, senders, passes=1)
        ),
        "from scratch: the list's index, then the rooms": lambda: asyncio.run(
            raw_from_scratch(url, token, ids, senders, passes=2)
        ),
    }


@dataclasses.dataclass
class Runs:
    """Samples of each measurement, taken in turns so that a busy moment of the machine spreads."""

    samples: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    plans: list[Planned] = dataclasses.field(default_factory=list)

    def take(self, label: str, measure: Callable[[], float]) -> None:
        self.samples.setdefault(label, []).append(measure())

    def median(self, label: str) -> float:
        return best(self.samples[label])


def measure_world(url: str, world: World, repeat: int, scratch: bool) -> Runs:
    """Each measurement `repeat` times, in a shuffled order each time: a read that follows a big
    one finds Synapse's caches emptied by it, whichever read that is."""
    runs = Runs()

    def plan() -> float:
        planned = asyncio.run(timed_plan_passes(url, world.token, world.config))
        runs.plans.append(planned)
        return planned.seconds

    measures = {
        "plan": plan,
        "plan of no room": lambda: asyncio.run(timed_plan_passes(url, world.token, world.empty)).seconds,
        "whoami": lambda: asyncio.run(raw_whoami(url, world.token)),
        **floors_known_ids(url, world),
        **(floors_from_scratch(url, world) if scratch else {}),
    }
    asyncio.run(timed_plan_passes(url, world.token, world.config))  # a first run warms Synapse's caches
    order = random.Random(world.size)
    for _ in range(repeat):
        for label in order.sample(list(measures), len(measures)):
            runs.take(label, measures[label])
    return runs


def report_world(runs: Runs, world: World, title: str) -> tuple[float, float]:
    """Print a world's lines; return roomsync's and the cheapest floor's marginal cost per room."""
    n = world.size
    print(f"{title}:")
    floors = [k for k in FLOOR_ORDER if k in runs.samples]
    for label in floors:
        per_room = (runs.median(label) - runs.median("whoami")) / n
        line(f"  floor: {label}", runs.median(label), extra=f"  {per_room * 1000:6.2f} ms a room")
    known = [k for k in floors if not k.startswith("from scratch")]
    floor = min(runs.median(k) for k in known)
    floor_marginal = (floor - runs.median("whoami")) / n
    fixed = runs.median("plan of no room")
    marginal = (runs.median("plan") - fixed) / n
    passes = sorted({p.passes for p in runs.plans})
    requests = sorted({p.requests for p in runs.plans})
    planning = best([p.planning for p in runs.plans])
    changes = "  CHANGES?" if any(p.changes for p in runs.plans) else ""
    line("  roomsync plan of no room (its fixed cost)", fixed)
    line(
        "  roomsync plan (read + plan)",
        runs.median("plan"),
        floor,
        f"  requests {'/'.join(map(str, requests))}, passes {'/'.join(map(str, passes))}, "
        f"planning {planning * 1000:.0f} ms{changes}",
    )
    print(
        f"  marginal cost a room: roomsync {marginal * 1000:.2f} ms, cheapest floor "
        f"{floor_marginal * 1000:.2f} ms: ratio {marginal / floor_marginal:.2f}",
        flush=True,
    )
    return marginal, floor_marginal


def report_over(runs: Runs, url: str, world: World, rtt: float | None = None) -> None:
    """How much longer the plan takes than the cheapest raw read, the ids known or not (from scratch:
    the facts a plan starts from), in ms and, over a slow link, in round trips."""
    for kind, floors in (("the ids known", floors_known_ids), ("from scratch", floors_from_scratch)):
        cheapest = min(runs.median(label) for label in floors(url, world))
        over = runs.median("plan") - cheapest
        trips = f", {over * 1000 / rtt:.1f} round trips" if rtt else ""
        print(f"  roomsync plan - cheapest floor ({kind}): {over * 1000:.0f} ms{trips}", flush=True)


def synapse_for_worlds(args: argparse.Namespace) -> SynapseServer:
    limits = {"caches": {"global_factor": args.cache_factor}} if args.cache_factor else {}
    return SynapseServer(args.work / "synapse", server_name=SERVER, limits=limits)


def shape(args: argparse.Namespace) -> str:
    return f"{args.undeclared} undeclared joined rooms, {args.bots} bots, {args.big_rooms}x{args.members} members"


def bench_scale(args: argparse.Namespace) -> None:
    small, large = args.rooms // 10, args.rooms
    with synapse_for_worlds(args) as synapse:
        worlds = build_worlds(synapse, args.work, [small, large], args)
        marginals = {}
        for world in worlds:
            runs = measure_world(synapse.url, world, args.repeat, scratch=True)
            title = f"in-sync plan, {world.size} rooms, {shape(args)}, server admin, loopback"
            marginals[world.size] = report_world(runs, world, title)
            report_over(runs, synapse.url, world)
    (ours_small, _), (ours_large, floor_large) = marginals[small], marginals[large]
    print(
        f"at {large} rooms a room costs roomsync {ours_large / floor_large:.2f}x what it costs the cheapest floor "
        f"(target 1.2) and {ours_large / ours_small:.2f}x what it costs roomsync at {small} rooms (target 1.3)",
        flush=True,
    )


def bench_link(args: argparse.Namespace) -> None:
    from delay_proxy import DelayProxy

    with synapse_for_worlds(args) as synapse:
        worlds = build_worlds(synapse, args.work, [args.link_rooms, args.rooms], args)
        with DelayProxy(synapse.port, args.rtt / 1000) as proxy:
            for world in worlds:
                runs = measure_world(proxy.url, world, args.repeat, scratch=True)
                title = f"in-sync plan, {world.size} rooms, {shape(args)}, {args.rtt:g} ms a round trip"
                report_world(runs, world, title)
                report_over(runs, proxy.url, world, args.rtt)


# --- sync from scratch --------------------------------------------------------------------------------


def bench_sync(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="roomsync-bench-") as work:
        work_dir = Path(work)
        with SynapseServer(work_dir / "synapse", server_name=SERVER) as synapse:
            token = synapse.register("admin", admin=True)
            config_dir = write_config(work_dir / "cfg", declared_rooms("s", args.rooms))
            config = load_config(config_dir)

            async def ours() -> tuple[float, int]:
                from roomsync.apply import ROOMS_IN_PARALLEL, apply_plan

                async with Homeserver(synapse.url, token) as hs:
                    planned = make_plan(config, await read_snapshot(hs, config))
                    before = hs.requests
                    started = time.perf_counter()
                    results = await apply_plan(hs, planned)
                    took = time.perf_counter() - started
                assert all(r.status == "created" for r in results), results
                assert ROOMS_IN_PARALLEL
                return took, hs.requests - before

            took, requests = asyncio.run(ours())
            # The same createRoom bodies, raw, at the same concurrency, into a second config's aliases.
            from roomsync.apply import ROOMS_IN_PARALLEL

            raw_dir = write_config(work_dir / "raw", declared_rooms("r", args.rooms))
            raw_config = load_config(raw_dir)

            async def raw() -> float:
                async with Homeserver(synapse.url, token) as hs:
                    planned = make_plan(raw_config, await read_snapshot(hs, raw_config))
                bodies = [dict(room.actions[0].body) for room in planned.rooms]
                slots = asyncio.Semaphore(ROOMS_IN_PARALLEL)
                headers = {"Authorization": f"Bearer {token}"}
                async with aiohttp.ClientSession(headers=headers) as session:
                    started = time.perf_counter()

                    async def create(body: dict) -> None:
                        async with slots, session.post(f"{synapse.url}{CLIENT}/createRoom", json=body) as response:
                            assert response.status == 200, await response.text()

                    await asyncio.gather(*(create(b) for b in bodies))
                    return time.perf_counter() - started

            floor = raw()
            floor = asyncio.run(floor)
            print(f"sync of {args.rooms} new rooms ({ROOMS_IN_PARALLEL} at a time):")
            line("  floor: raw createRoom, same bodies", floor / args.rooms, extra="  per room")
            line(
                "  roomsync sync (apply)",
                took / args.rooms,
                floor / args.rooms,
                f"  per room; {requests / args.rooms:.2f} requests per room",
            )


# --- a rate-limited server -------------------------------------------------------------------------


def bench_limited(args: argparse.Namespace) -> None:
    limits = {"rc_room_creation": {"per_second": 0.5, "burst_count": 2}}
    with tempfile.TemporaryDirectory(prefix="roomsync-bench-") as work:
        work_dir = Path(work)
        with SynapseServer(work_dir / "synapse", server_name=SERVER, rate_limited=True, limits=limits) as synapse:
            token = synapse.register("admin", admin=True)
            config_dir = write_config(work_dir / "cfg", declared_rooms("l", args.rooms))
            started = time.perf_counter()
            done = run_roomsync(config_dir, synapse.url, token, "-v", "sync")
            took = time.perf_counter() - started
            refused = sum("rate limited (" in row for row in done.stderr.splitlines())
            summary = done.stdout.strip().splitlines()[-1]
            print(f"sync of {args.rooms} rooms under Synapse's default limits, rc_room_creation 0.5/s burst 2:")
            line("  roomsync sync", took, extra=f"  {summary}  refused requests: {refused}")


# --- validate ----------------------------------------------------------------------------------


def time_command(argv: list[str], repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True)
        samples.append(time.perf_counter() - started)
        if done.returncode != 0:
            sys.exit(f"{argv} failed: {done.stderr[-2000:]}")
    return best(samples)


def bench_validate(args: argparse.Namespace) -> None:
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="roomsync-bench-") as work:
        work_dir = Path(work)
        floor = time_command([python, "-c", "import yaml, jsonschema, click"])
        line("floor: python -c 'import yaml, jsonschema, click'", floor)
        line(
            "roomsync validate, this repository",
            time_command([python, "-m", "roomsync", "-C", str(ROOT), "validate"]),
            floor,
        )
        rooms = [
            {
                "alias": f"room{i}",
                "name": f"Room {i}",
                "topic": f"Topic of room {i} | https://example.org",
                "join_rule": "public",
                "power_levels": {"users": {f"@user{i}:{SERVER}": 50}},
            }
            for i in range(args.rooms)
        ]
        for files in (1, 20):
            config_dir = work_dir / f"files{files}"
            (config_dir / "rooms").mkdir(parents=True)
            (config_dir / "roomsync.yaml").write_text(f"server_name: {SERVER}\n")
            per_file = len(rooms) // files
            for n in range(files):
                chunk = rooms[n * per_file : (n + 1) * per_file]
                (config_dir / "rooms" / f"r{n:02}.yaml").write_text(yaml.safe_dump({"rooms": chunk}))
            size = sum(p.stat().st_size for p in (config_dir / "rooms").iterdir())
            load = (
                "import yaml, glob\nfor p in sorted(glob.glob('rooms/*.yaml')):\n"
                "    yaml.load(open(p), yaml.CSafeLoader)"
            )
            libyaml = time_command([python, "-c", load.replace("rooms/", f"{config_dir}/rooms/")], repeat=3)
            line(f"floor: libyaml loads {args.rooms} rooms in {files} file(s), {size / 1e6:.1f} MB", libyaml)
            line(
                f"roomsync validate, {args.rooms} rooms in {files} file(s)",
                time_command([python, "-m", "roomsync", "-C", str(config_dir), "validate"], repeat=3),
                libyaml,
            )


SCENARIOS: dict[str, tuple[Callable[[argparse.Namespace], None], int]] = {
    "plan": (bench_plan, 120),
    "scale": (bench_scale, 1000),
    "link": (bench_link, 1000),
    "sync": (bench_sync, 100),
    "limited": (bench_limited, 24),
    "validate": (bench_validate, 20000),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=[*SCENARIOS, "all"])
    parser.add_argument("--rooms", type=int, help="declared rooms (default depends on the scenario)")
    parser.add_argument("--undeclared", type=int, default=150, help="plan, scale, link: rooms the account is also in")
    parser.add_argument("--big-rooms", type=int, default=3, help="plan, scale, link: rooms with many members")
    parser.add_argument("--members", type=int, default=1000, help="plan, scale, link: members of each big room")
    parser.add_argument("--bots", type=int, default=4, help="plan, scale, link: bots in every room")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each measurement (their median is shown)")
    parser.add_argument("--rtt", type=float, default=50, help="link: milliseconds the proxy adds to a round trip")
    parser.add_argument("--link-rooms", type=int, default=150, help="link: the smaller world's rooms")
    parser.add_argument("--cache-factor", type=float, help="scale, link: Synapse's caches.global_factor (0.5)")
    parser.add_argument("--data", type=Path, help="scale, link: keep Synapse and its worlds here for the next run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="roomsync-bench-") as work:
        # scale and link share their worlds (the 1,000-room one takes minutes to make)
        args.work = args.data or Path(work)
        args.work.mkdir(parents=True, exist_ok=True)
        for name, (run, default_rooms) in SCENARIOS.items():
            if args.scenario in (name, "all"):
                run(argparse.Namespace(**{**vars(args), "rooms": args.rooms or default_rooms}))


if __name__ == "__main__":
    main()
