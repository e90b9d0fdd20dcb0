"""Benchmark roomsync against a throwaway Synapse, side by side with the raw floor of each job.

    .venv/bin/python scripts/bench.py plan --rooms 120 --undeclared 150 --big-rooms 3 --members 1000 --bots 4
    .venv/bin/python scripts/bench.py sync --rooms 100
    .venv/bin/python scripts/bench.py limited --rooms 24
    .venv/bin/python scripts/bench.py validate --rooms 20000
    .venv/bin/python scripts/bench.py all          # every scenario with its default size

plan:     an in-sync plan of N declared rooms and B bots, read as a server admin and as a plain
          account, while the account is also joined to U undeclared rooms and some rooms have
          many members. Floors, measured in the same run: the declared rooms' state read room
          by room (16 in flight), and one filtered /sync of the same facts (a fresh filter
          each time, as a plan must use: Synapse caches an initial /sync for minutes).
sync:     a sync that creates N rooms, against raw createRoom calls with the same bodies at
          the same concurrency.
limited:  a sync of N rooms against Synapse's default rate limits with rc_room_creation
          {per_second: 0.5, burst_count: 2}: every room created, refusals counted.
validate: a small config, and N rooms in one file and in 20 files, against the time of
          `python -c "import yaml, jsonschema, click"` and of libyaml loading the same files.

Each line ends with the ratio to its floor. Timings belong here, never in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
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
from roomsync.observe import MANAGED_TYPES, read_snapshot  # noqa: E402
from roomsync.plan import make_plan  # noqa: E402
from tests.synapse import SynapseServer  # noqa: E402

SERVER = "bench.example"
CLIENT = "/_matrix/client/v3"
IN_FLIGHT = 16


def q(value: str) -> str:
    return quote(value, safe="")


def best(samples: list[float]) -> float:
    return min(samples)


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
    membership events (a `senders` filter), restricted to the declared rooms, fresh filters."""
    headers = {"Authorization": f"Bearer {token}"}
    nonce = secrets.token_hex(4)

    def sync_filter(state: dict) -> str:
        return json.dumps(
            {
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
        )

    async with aiohttp.ClientSession(headers=headers) as session:
        started = time.perf_counter()

        async def get(path: str, params: dict | None = None) -> Any:
            async with session.get(url + path, params=params) as response:
                return await response.json()

        await get(f"{CLIENT}/account/whoami")
        await asyncio.gather(
            get(f"{CLIENT}/sync", {"filter": sync_filter({"types": MANAGED_TYPES, "lazy_load_members": True})}),
            get(f"{CLIENT}/sync", {"filter": sync_filter({"types": ["m.room.member"], "senders": senders})}),
        )
        return time.perf_counter() - started


async def raw_sliding_sync(url: str, token: str, room_ids: list[str], senders: list[str]) -> float:
    """The same facts through one sliding-sync request, the room ids being known already."""
    headers = {"Authorization": f"Bearer {token}"}
    required = [[t, "*" if t.startswith("m.space.") else ""] for t in MANAGED_TYPES]
    required += [["m.room.member", user] for user in senders]
    body = {
        "conn_id": secrets.token_hex(6),
        "room_subscriptions": {r: {"required_state": required, "timeline_limit": 0} for r in room_ids},
    }
    async with aiohttp.ClientSession(headers=headers) as session:
        started = time.perf_counter()
        async with session.get(f"{url}{CLIENT}/account/whoami") as response:
            await response.json()
        async with session.post(
            f"{url}/_matrix/client/unstable/org.matrix.simplified_msc3575/sync", json=body
        ) as response:
            await response.json()
        return time.perf_counter() - started


async def timed_plan(url: str, token: str, config_dir: Path) -> tuple[float, int, bool]:
    config = load_config(config_dir)
    started = time.perf_counter()
    async with Homeserver(url, token) as hs:
        plan = make_plan(config, await read_snapshot(hs, config))
    return time.perf_counter() - started, hs.requests, plan.has_changes


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
                for i in range(args.undeclared):  # rooms the account is in but the config does not name
                    status, answer = synapse.request(
                        "POST", f"{CLIENT}/createRoom", token, body={"preset": "private_chat", "name": f"Other {i}"}
                    )
                    assert status == 200, answer
                ids = []
                for room in rooms:
                    alias = f"#{room['alias']}:{SERVER}"
                    status, answer = synapse.request("GET", f"{CLIENT}/directory/room/{q(alias)}")
                    ids.append(answer["room_id"])
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
    "sync": (bench_sync, 100),
    "limited": (bench_limited, 24),
    "validate": (bench_validate, 20000),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=[*SCENARIOS, "all"])
    parser.add_argument("--rooms", type=int, help="declared rooms (default depends on the scenario)")
    parser.add_argument("--undeclared", type=int, default=150, help="plan: rooms the account is also in")
    parser.add_argument("--big-rooms", type=int, default=3, help="plan: rooms with many members")
    parser.add_argument("--members", type=int, default=1000, help="plan: members of each big room")
    parser.add_argument("--bots", type=int, default=4, help="plan: bots in every room")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for name, (run, default_rooms) in SCENARIOS.items():
        if args.scenario in (name, "all"):
            run(argparse.Namespace(**{**vars(args), "rooms": args.rooms or default_rooms}))


if __name__ == "__main__":
    main()
