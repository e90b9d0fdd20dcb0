"""Benchmark: how long and how many requests an in-sync plan of N rooms costs.

    .venv/bin/python scripts/bench.py --rooms 200 --repeat 3

Starts a throwaway Synapse (no rate limits), syncs N rooms into it, then times
`read_snapshot` + `make_plan` REPEAT times, once as a server admin and once as a
plain account (which reads directory visibility room by room). Prints one line per run.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from roomsync.client import Homeserver  # noqa: E402
from roomsync.config import load_config  # noqa: E402
from roomsync.observe import read_snapshot  # noqa: E402
from roomsync.plan import make_plan  # noqa: E402
from tests.synapse import SynapseServer  # noqa: E402

SERVER = "bench.example"


async def timed_plan(url: str, token: str, config_dir: Path) -> tuple[float, int, int, bool]:
    config = load_config(config_dir)
    started = time.perf_counter()
    async with Homeserver(url, token) as hs:
        plan = make_plan(config, await read_snapshot(hs, config))
    return time.perf_counter() - started, hs.requests, hs.peak_in_flight, plan.has_changes


def write_config(config_dir: Path, prefix: str, count: int) -> Path:
    (config_dir / "rooms").mkdir(parents=True)
    (config_dir / "roomsync.yaml").write_text(yaml.safe_dump({"server_name": SERVER}))
    rooms = [{"alias": f"{prefix}{i}", "name": f"Room {i}", "topic": f"Topic {i}", "directory": "private",
              "history_visibility": "shared", "power_levels": {"ban": 50}} for i in range(count)]
    (config_dir / "rooms" / "bench.yaml").write_text(yaml.safe_dump({"rooms": rooms}))
    return config_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="roomsync-bench-") as work:
        work_dir = Path(work)
        with SynapseServer(work_dir / "synapse", server_name=SERVER) as synapse:
            admin = synapse.register("admin", admin=True)
            plain = synapse.register("plain")
            for label, token in (("admin", admin), ("plain", plain)):
                config_dir = write_config(work_dir / label, label, args.rooms)
                started = time.perf_counter()
                env = {"ROOMSYNC_HOMESERVER": synapse.url, "ROOMSYNC_ACCESS_TOKEN": token, "PATH": ""}
                done = subprocess.run([sys.executable, "-m", "roomsync", "-C", str(config_dir), "sync"],
                                      env=env, capture_output=True, text=True)
                if done.returncode != 0:
                    sys.exit(done.stdout[-2000:] + done.stderr)
                print(f"sync of {args.rooms} rooms as {label}: {time.perf_counter() - started:.1f}s", flush=True)
                for run in range(args.repeat):
                    seconds, requests, peak, changes = asyncio.run(timed_plan(synapse.url, token, config_dir))
                    print(f"in-sync plan as {label} #{run + 1}: {seconds:.2f}s, {requests} requests, "
                          f"peak {peak} in flight, changes={changes}", flush=True)


if __name__ == "__main__":
    main()
